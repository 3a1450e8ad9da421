-- Numerators and denominators summed up the area hierarchy: a district's numerator is
-- the sum of its neighbourhoods' numerators, never an average of their rates. Records
-- that could not be placed (no area code) count for the top level only.
with top_area as (
    select area_id from {{ ref('stg_meta__areas') }}
    where area_depth = 0
),

leaf_terms as (
    select
        terms.indicator_id,
        terms.term,
        coalesce(terms.area_code, (select min(top_area.area_id) from top_area)) as area_id,
        terms.period_id,
        sum(terms.amount) as amount,
        sum(terms.records) as records,
        sum(terms.sum_w2) as sum_w2,
        sum(terms.sum_wy2) as sum_wy2
    from {{ ref('int_indicator_terms') }} as terms
    group by all
)

select
    leaf_terms.indicator_id,
    leaf_terms.term,
    ancestors.ancestor_id as area_id,
    leaf_terms.period_id,
    sum(leaf_terms.amount) as amount,
    sum(leaf_terms.records) as records,
    sum(leaf_terms.sum_w2) as sum_w2,
    sum(leaf_terms.sum_wy2) as sum_wy2
from leaf_terms
inner join {{ ref('int_area_ancestors') }} as ancestors
    on leaf_terms.area_id = ancestors.area_id
group by all
