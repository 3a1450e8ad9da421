-- Every aggregate is built from sums: a parent's numerator equals the sum of its
-- children's plus the records placed at the parent itself (no area code, or a pseudo-area
-- a placement rule puts there), its denominator the sum of its children's. The top level
-- may also hold records of areas that no longer exist (so it may only be larger).
with cells as (
    select
        values_before.indicator_id,
        values_before.period_id,
        values_before.area_id,
        values_before.parent_area_id,
        values_before.area_depth,
        values_before.numerator,
        coalesce(values_before.numerator_not_placed_below, 0) as placed_here,
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
    parents.placed_here,
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
    (
        parents.area_depth > 0
        and abs(parents.numerator - parents.placed_here - sums.children_numerator) > 1e-6
    )
    or (
        parents.area_depth = 0
        and parents.numerator - parents.placed_here < sums.children_numerator - 1e-6
    )
    or abs(coalesce(parents.denominator, 0) - coalesce(sums.children_denominator, 0)) > 1e-6
