-- Every indicator at every area of a publishable level and every period of its range,
-- before disclosure control: numerator, denominator, value, 95% bounds, n and input
-- completeness. Not published as such: fct_indicator_values applies suppression.
with levels as (
    select distinct
        area_level,
        area_depth
    from {{ ref('stg_meta__areas') }}
),

indicators as (
    select
        indicators.*,
        levels.area_depth as lowest_depth
    from {{ ref('stg_meta__indicators') }} as indicators
    inner join levels on indicators.lowest_level = levels.area_level
),

periods as (
    select * from {{ ref('int_periods') }}
),

numerators as (
    select * from {{ ref('int_indicator_rollup') }}
    where term = 'numerator'
),

denominators as (
    -- period ids are unique across period types, so a yearly denominator (population on
    -- 1 January) keeps its year and serves every later month through the as-of join.
    -- A denominator delivered with the numerator (a population column beside the counts,
    -- the weights of a survey wave) is not carried: it serves its own period only
    select
        rolled_up.*,
        periods.start_date as denominator_start,
        periods.end_date as denominator_end,
        coalesce(
            indicators.denominator_feed is not null
            and not list_contains(indicators.numerator_feeds, indicators.denominator_feed),
            false
        ) as carries_forward
    from {{ ref('int_indicator_rollup') }} as rolled_up
    inner join periods on rolled_up.period_id = periods.period_id
    inner join indicators on rolled_up.indicator_id = indicators.indicator_id
    where rolled_up.term = 'denominator'
),

numerator_range as (
    -- survey waves are years with data; other indicators cover every period from the
    -- first to the last one with data, so a quiet month shows as zero, not as a gap
    -- (from the first period the numerator feeds owe: incidents that happened before a
    -- feed's first delivery are not a month of data)
    select
        numerators.indicator_id,
        greatest(min(periods.start_date), max(feed_start.start_date)) as first_start,
        max(periods.start_date) as last_start
    from numerators
    inner join indicators on numerators.indicator_id = indicators.indicator_id
    inner join periods
        on numerators.period_id = periods.period_id and indicators.cadence = periods.period_type
    left join {{ ref('stg_meta__feeds') }} as feeds
        on list_contains(indicators.numerator_feeds, feeds.feed_id)
    left join periods as feed_start
        on feeds.start_period = feed_start.period_id
    group by all
),

grid as (
    select
        indicators.indicator_id,
        indicators.indicator_kind,
        indicators.multiplier,
        indicators.min_cell,
        indicators.min_respondents,
        areas.area_id,
        areas.area_level,
        areas.area_depth,
        areas.parent_area_id,
        periods.period_id,
        periods.period_type,
        periods.period_index,
        periods.start_date,
        periods.end_date
    from indicators
    inner join numerator_range on indicators.indicator_id = numerator_range.indicator_id
    inner join periods
        on
            indicators.cadence = periods.period_type
            and periods.start_date
            between numerator_range.first_start and numerator_range.last_start
    inner join {{ ref('stg_meta__areas') }} as areas
        on
            indicators.lowest_depth >= areas.area_depth
            and (areas.valid_from is null or periods.end_date >= areas.valid_from)
            and (areas.valid_to is null or periods.start_date <= areas.valid_to)
    where
        indicators.indicator_kind not like 'survey%'
        or exists (
            select 1 from numerators
            where
                numerators.indicator_id = indicators.indicator_id
                and numerators.period_id = periods.period_id
        )
),

cell_denominators as (
    -- a denominator of its own feed: the latest delivery as of the cell's period; one
    -- delivered with the numerator: the delivery of the cell's period (or of a longer
    -- period holding it), never an earlier one standing in for a period it lacks
    select
        grid.indicator_id,
        grid.area_id,
        grid.period_id,
        denominators.amount,
        denominators.sum_w2,
        denominators.carried_amount,
        denominators.areas_carried,
        denominators.areas_missing
    from grid
    asof inner join denominators
        on
            grid.indicator_id = denominators.indicator_id
            and grid.area_id = denominators.area_id
            and grid.start_date >= denominators.denominator_start
    where denominators.carries_forward or denominators.denominator_end >= grid.end_date
),

joined as (
    -- the as-of join picks the same denominator delivery for an area and its children
    -- (int_indicator_rollup completes every delivery); an area that delivery should have
    -- listed with its numerator but did not has no figure for the period, not a zero
    select
        grid.*,
        coalesce(completeness.input_completeness, 0) as input_completeness,
        coalesce(completeness.input_completeness > 0, false)
        and not (
            coalesce(denominators.areas_missing, 0) > 0
            and denominators.amount is null
            and numerators.amount is null
        ) as has_data,
        case when has_data then coalesce(numerators.amount, 0) end as numerator,
        case when has_data then coalesce(numerators.records, 0) end as records,
        -- above the lowest level: the part of the numerator placed in no child area
        case
            when has_data and grid.area_depth < indicators.lowest_depth
                then coalesce(numerators.placed_here_amount, 0)
        end as numerator_not_placed_below,
        numerators.sum_w2,
        numerators.sum_wy2,
        denominators.amount as denominator,
        denominators.sum_w2 as denominator_sum_w2,
        coalesce(denominators.carried_amount, 0) as denominator_carried_forward,
        coalesce(denominators.areas_carried, 0) as areas_carried_forward,
        coalesce(denominators.areas_missing, 0) as areas_missing
    from grid
    inner join indicators on grid.indicator_id = indicators.indicator_id
    left join {{ ref('int_indicator_completeness') }} as completeness
        on grid.indicator_id = completeness.indicator_id and grid.period_id = completeness.period_id
    left join numerators
        on
            grid.indicator_id = numerators.indicator_id
            and grid.area_id = numerators.area_id
            and grid.period_id = numerators.period_id
    left join cell_denominators as denominators
        on
            grid.indicator_id = denominators.indicator_id
            and grid.area_id = denominators.area_id
            and grid.period_id = denominators.period_id
),

measured as (
    select
        *,
        case when denominator > 0 then numerator / denominator end as ratio,
        -- Kish effective sample size of a weighted survey estimate
        case when indicator_kind like 'survey%' and sum_w2 > 0 then denominator ^ 2 / sum_w2 end
            as n_effective
    from joined
)

select
    indicator_id,
    area_id,
    period_id,
    area_level,
    area_depth,
    parent_area_id,
    period_type,
    period_index,
    numerator,
    numerator_not_placed_below,
    denominator,
    -- a count is its numerator: the total, summed up the hierarchy like a rate's
    case when indicator_kind = 'count' then numerator else ratio end * multiplier as value,
    case indicator_kind
        when 'count' then {{ poisson_lower('numerator') }} * multiplier
        when 'rate' then {{ poisson_lower('numerator') }} / denominator * multiplier
        when 'share' then {{ wilson_lower('ratio', 'denominator') }} * multiplier
        when 'survey_share' then {{ wilson_lower('ratio', 'n_effective') }} * multiplier
        when 'survey_mean' then
            (ratio - 1.959964 * sqrt(greatest(sum_wy2 / denominator - ratio ^ 2, 0) / n_effective))
            * multiplier
    end as lower_95,
    case indicator_kind
        when 'count' then {{ poisson_upper('numerator') }} * multiplier
        when 'rate' then {{ poisson_upper('numerator') }} / denominator * multiplier
        when 'share' then {{ wilson_upper('ratio', 'denominator') }} * multiplier
        when 'survey_share' then {{ wilson_upper('ratio', 'n_effective') }} * multiplier
        when 'survey_mean' then
            (ratio + 1.959964 * sqrt(greatest(sum_wy2 / denominator - ratio ^ 2, 0) / n_effective))
            * multiplier
    end as upper_95,
    case when indicator_kind = 'share' then denominator else records end as n,
    n_effective,
    input_completeness,
    denominator_carried_forward,
    areas_carried_forward,
    areas_missing,
    -- null: no cell to protect (no delivery for the period, or nothing to count and
    -- no denominator, e.g. a neighbourhood without association dwellings); a count
    -- without a denominator is still withheld, or it could be recovered from the parent
    case
        when numerator is null then null
        -- a count has no denominator: a small count is withheld as a rate's numerator is
        when indicator_kind = 'count' then numerator < min_cell
        when denominator is null or denominator = 0 then case when numerator > 0 then true end
        when indicator_kind like 'survey%' then records < min_respondents
        when indicator_kind = 'share' then numerator < min_cell or denominator < min_respondents
        else numerator < min_cell
    end as primary_suppressed,
    case
        when indicator_kind like 'survey%' then 'fewer than ' || min_respondents || ' respondents'
        when indicator_kind = 'share'
            then
                'count below ' || min_cell || ' or fewer than ' || min_respondents || ' persons'
        else 'count below ' || min_cell
    end as primary_rule
from measured
