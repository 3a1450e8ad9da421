-- Numerators and denominators summed up the area hierarchy: a district's numerator is
-- the sum of its neighbourhoods' numerators, never an average of their rates. Records
-- that could not be placed (no area code) count for the top level only; records placed
-- at a coarser level by a contract's placement rules (a pseudo-area such as "district
-- 01, not assignable") count for that area and above. placed_here_amount is the part
-- of an area's amount placed at the area itself, in none of its children.
--
-- Denominators are completed before they are summed, so that every level of a period
-- is built from the same values: each delivery of a denominator lists, for every area
-- an earlier delivery listed (and that still exists), either its own figure or
--   * a denominator from a feed of its own (residents on 1 January): the area's figure
--     of the latest delivery that listed it, carried forward (a rejected row, an area
--     left out); counted in carried_amount and areas_carried;
--   * a denominator delivered with the numerator (dwellings with the complaints, the
--     weights of a survey wave): nothing, as the delivery has neither figure for the
--     area; counted in areas_missing.
-- The as-of join downstream then picks one delivery for a period at every level.
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
),

carried_kinds as (
    select
        indicator_id,
        coalesce(
            denominator_feed is not null
            and not list_contains(numerator_feeds, denominator_feed),
            false
        ) as carries_forward
    from {{ ref('stg_meta__indicators') }}
),

delivered as (
    select
        leaf_terms.*,
        periods.start_date
    from leaf_terms
    inner join {{ ref('int_periods') }} as periods
        on leaf_terms.period_id = periods.period_id
    where leaf_terms.term = 'denominator'
),

deliveries as (
    select distinct
        indicator_id,
        period_id,
        start_date
    from delivered
),

listed_areas as (
    select distinct
        delivered.indicator_id,
        delivered.area_id,
        areas.valid_to
    from delivered
    left join {{ ref('stg_meta__areas') }} as areas
        on delivered.area_id = areas.area_id
),

latest_listing as (
    -- per delivery, each area listed at or before it, with its latest listing
    select
        deliveries.indicator_id,
        deliveries.period_id,
        deliveries.start_date,
        listed_areas.area_id,
        listed_areas.valid_to
    from deliveries
    inner join listed_areas on deliveries.indicator_id = listed_areas.indicator_id
),

completed_denominators as (
    select
        latest_listing.indicator_id,
        latest_listing.period_id,
        latest_listing.area_id,
        delivered.period_id = latest_listing.period_id as listed,
        coalesce(carried_kinds.carries_forward, false) as carries_forward,
        delivered.amount,
        delivered.records,
        delivered.sum_w2,
        delivered.sum_wy2
    from latest_listing
    asof inner join delivered
        on
            latest_listing.indicator_id = delivered.indicator_id
            and latest_listing.area_id = delivered.area_id
            and latest_listing.start_date >= delivered.start_date
    left join carried_kinds on latest_listing.indicator_id = carried_kinds.indicator_id
    -- an area that no longer exists is not carried into later deliveries
    where
        delivered.period_id = latest_listing.period_id
        or latest_listing.valid_to is null
        or latest_listing.valid_to >= latest_listing.start_date
),

completed_terms as (
    select
        indicator_id,
        term,
        area_id,
        period_id,
        amount,
        records,
        sum_w2,
        sum_wy2,
        0.0 as carried_amount,
        0 as areas_carried,
        0 as areas_missing
    from leaf_terms
    where term = 'numerator'

    union all

    select
        indicator_id,
        'denominator' as term,
        area_id,
        period_id,
        case when listed or carries_forward then amount end as amount,
        case when listed or carries_forward then records end as records,
        case when listed or carries_forward then sum_w2 end as sum_w2,
        case when listed or carries_forward then sum_wy2 end as sum_wy2,
        case when not listed and carries_forward then coalesce(amount, 0.0) else 0.0 end
            as carried_amount,
        case when not listed and carries_forward then 1 else 0 end as areas_carried,
        case when not listed and not carries_forward then 1 else 0 end as areas_missing
    from completed_denominators
)

select
    completed_terms.indicator_id,
    completed_terms.term,
    ancestors.ancestor_id as area_id,
    completed_terms.period_id,
    sum(completed_terms.amount) as amount,
    sum(completed_terms.records) as records,
    sum(completed_terms.sum_w2) as sum_w2,
    sum(completed_terms.sum_wy2) as sum_wy2,
    coalesce(sum(completed_terms.amount) filter (where ancestors.steps_up = 0), 0)
        as placed_here_amount,
    sum(completed_terms.carried_amount) as carried_amount,
    cast(sum(completed_terms.areas_carried) as integer) as areas_carried,
    cast(sum(completed_terms.areas_missing) as integer) as areas_missing
from completed_terms
inner join {{ ref('int_area_ancestors') }} as ancestors
    on completed_terms.area_id = ancestors.area_id
group by all
