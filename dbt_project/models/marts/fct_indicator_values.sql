-- The published indicator values: one row per indicator, area and period, at every area
-- level the indicator allows, after disclosure control. A suppressed cell keeps its row
-- and its flag; its numerator, value, bounds and n are withheld (null).
with base as (
    -- every grid cell stays (windows count rows), also those without data
    select
        indicator_values.*,
        coalesce(suppression.suppressed, false) as suppressed,
        coalesce(suppression.secondary_suppressed, false) as secondary_suppressed,
        indicator_values.primary_suppressed is not null as has_cell,
        indicators.indicator_kind,
        indicators.multiplier,
        indicators.cadence,
        periods.periods_per_year,
        periods.same_period_last_year_id
    from {{ ref('int_indicator_values') }} as indicator_values
    left join {{ ref('int_indicator_suppression') }} as suppression
        on
            indicator_values.indicator_id = suppression.indicator_id
            and indicator_values.period_id = suppression.period_id
            and indicator_values.area_id = suppression.area_id
    inner join {{ ref('stg_meta__indicators') }} as indicators
        on indicator_values.indicator_id = indicators.indicator_id
    inner join {{ ref('int_periods') }} as periods
        on indicator_values.period_id = periods.period_id
),

hidden_children as (
    -- a parent's part not placed in any child would give a suppressed child away
    select
        indicator_id,
        period_id,
        parent_area_id as area_id,
        bool_or(suppressed) as any_child_suppressed
    from base
    where parent_area_id is not null
    group by all
),

windowed as (
    -- the last year of periods: 12 months or 4 quarters
    select
        *,
        {{ over_last_year('sum(numerator)') }} as window_numerator,
        {{ over_last_year('avg(denominator)') }} as window_mean_denominator,
        {{ over_last_year('sum(denominator)') }} as window_sum_denominator,
        {{ over_last_year('count(numerator)') }} as window_periods,
        {{ over_last_year('count(*) filter (where suppressed)') }} as window_hidden
    from base
    window
        last_12 as (
            partition by indicator_id, area_id
            order by period_index rows between 11 preceding and current row
        ),
        last_4 as (
            partition by indicator_id, area_id
            order by period_index rows between 3 preceding and current row
        )
),

rolling as (
    -- published only when every period of the window is published: a window holding a
    -- hidden period would give that period away by differencing
    select
        *,
        cadence in ('month', 'quarter')
        and window_periods = periods_per_year
        and window_hidden = 0
        and not suppressed as rolling_published,
        case
            when indicator_kind = 'rate' then window_mean_denominator
            else window_sum_denominator
        end as rolling_denominator
    from windowed
),

published as (
    select
        rolling.*,
        case when not rolling.suppressed then rolling.value end as published_value,
        rolling.rolling_published
        and (rolling.indicator_kind = 'count' or rolling.rolling_denominator > 0)
            as rolling_valued
    from rolling
)

select
    published.indicator_id,
    published.area_id,
    published.period_id,
    published.area_level,
    published.period_type,
    case when not published.suppressed and published.has_cell then published.numerator end
        as numerator,
    case
        when
            not published.suppressed
            and published.has_cell
            and not coalesce(hidden_children.any_child_suppressed, false)
            then published.numerator_not_placed_below
    end as numerator_not_placed_below,
    published.denominator,
    published.published_value as value,
    case when not published.suppressed then published.lower_95 end as lower_95,
    case when not published.suppressed then published.upper_95 end as upper_95,
    case when not published.suppressed then published.n end as n,
    case when not published.suppressed then published.n_effective end as n_effective,
    published.input_completeness,
    published.denominator_carried_forward,
    published.areas_carried_forward,
    published.areas_missing,
    coalesce(published.suppressed, false) as suppressed,
    case
        when published.suppressed and published.secondary_suppressed
            then 'secondary: hidden so that a suppressed neighbouring cell cannot be recomputed'
        when published.suppressed then 'primary: ' || published.primary_rule
    end as suppression_reason,
    case when published.rolling_published then published.window_numerator end
        as rolling_12m_numerator,
    case when published.rolling_published then published.rolling_denominator end
        as rolling_12m_denominator,
    -- a count's window is its total over the last year, not divided by anything
    case
        when published.rolling_valued and published.indicator_kind = 'count'
            then published.window_numerator * published.multiplier
        when published.rolling_valued
            then published.window_numerator / published.rolling_denominator * published.multiplier
    end as rolling_12m_value,
    -- exact Poisson bounds of the window's count, for rates and counts (counts of events)
    case
        when published.rolling_valued and published.indicator_kind = 'count'
            then {{ poisson_lower('published.window_numerator') }} * published.multiplier
        when published.rolling_valued and published.indicator_kind = 'rate'
            then
                {{ poisson_lower('published.window_numerator') }} / published.rolling_denominator
                * published.multiplier
    end as rolling_12m_lower_95,
    case
        when published.rolling_valued and published.indicator_kind = 'count'
            then {{ poisson_upper('published.window_numerator') }} * published.multiplier
        when published.rolling_valued and published.indicator_kind = 'rate'
            then
                {{ poisson_upper('published.window_numerator') }} / published.rolling_denominator
                * published.multiplier
    end as rolling_12m_upper_95,
    last_year.published_value as value_same_period_last_year,
    published.published_value - last_year.published_value as change_vs_last_year
from published
left join hidden_children
    on
        published.indicator_id = hidden_children.indicator_id
        and published.period_id = hidden_children.period_id
        and published.area_id = hidden_children.area_id
left join published as last_year
    on
        published.indicator_id = last_year.indicator_id
        and published.area_id = last_year.area_id
        and published.same_period_last_year_id = last_year.period_id
