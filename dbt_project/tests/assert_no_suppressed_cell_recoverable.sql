-- No hidden cell can be recomputed from published ones: a published parent never has
-- exactly one hidden child, and a hidden parent never has all its children published.
-- Cells without data (no delivery, or nothing to count) are neither hidden nor shown.
with cells as (
    select
        published.indicator_id,
        published.period_id,
        published.area_id,
        areas.parent_area_id,
        published.suppressed as hidden
    from {{ ref('fct_indicator_values') }} as published
    inner join {{ ref('dim_area') }} as areas on published.area_id = areas.area_id
    where published.suppressed or published.numerator is not null
),

families as (
    select
        children.indicator_id,
        children.period_id,
        children.parent_area_id,
        count(*) filter (where children.hidden) as hidden_children,
        count(*) as children
    from cells as children
    group by all
)

select
    families.*,
    parents.hidden as parent_hidden
from families
inner join cells as parents
    on
        families.indicator_id = parents.indicator_id
        and families.period_id = parents.period_id
        and families.parent_area_id = parents.area_id
where
    (not parents.hidden and families.hidden_children = 1)
    or (parents.hidden and families.hidden_children = 0 and families.children > 0)
