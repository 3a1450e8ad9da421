-- Every aggregate is built from sums: a parent's numerator and denominator equal the
-- sums of its children's, except at the top level, which also holds records that could
-- not be placed in any area (so it may only be larger).
with cells as (
    select
        values_before.indicator_id,
        values_before.period_id,
        values_before.area_id,
        values_before.parent_area_id,
        values_before.area_depth,
        values_before.numerator,
        values_before.denominator
    from {{ ref('int_indicator_values') }} as values_before
    where values_before.numerator is not null
),

sums as (
    select
        indicator_id,
        period_id,
        parent_area_id,
        sum(numerator) as children_numerator,
        sum(denominator) as children_denominator
    from cells
    group by all
)

select
    parents.indicator_id,
    parents.period_id,
    parents.area_id,
    parents.numerator,
    sums.children_numerator,
    parents.denominator,
    sums.children_denominator
from cells as parents
inner join sums
    on
        parents.indicator_id = sums.indicator_id
        and parents.period_id = sums.period_id
        and parents.area_id = sums.parent_area_id
where
    (parents.area_depth > 0 and abs(parents.numerator - sums.children_numerator) > 1e-6)
    or (parents.area_depth = 0 and parents.numerator < sums.children_numerator - 1e-6)
    or abs(coalesce(parents.denominator, 0) - coalesce(sums.children_denominator, 0)) > 1e-6
