-- Progress on the common agenda, per indicator and area: the latest published value
-- against the baseline and the target, the trend over recent periods and a forecast.
--
-- Status rule (docs/method.md):
--   series     monthly and quarterly indicators: the rolling 12-month value (free of
--              seasonality); other indicators: the value of each period
--   trend      least-squares slope of the series over its last N published points
--              (N = 24 for monthly and quarterly series, 3 otherwise), per year
--   forecast   latest value + trend x years from the latest period's end to the target date
--   on track   the forecast reaches the target in the desired direction
--   off track  it does not
--   insufficient data   fewer than 3 points, or no latest value or baseline
--   no target  no target agreed for this indicator and area
with indicators as (
    select * from {{ ref('stg_meta__indicators') }}
),

series as (
    select
        indicator_values.indicator_id,
        indicator_values.area_id,
        indicator_values.period_id,
        periods.end_date,
        periods.period_index,
        case
            when indicators.cadence in ('month', 'quarter') then indicator_values.rolling_12m_value
            else indicator_values.value
        end as series_value,
        case
            when
                indicators.cadence in ('month', 'quarter')
                then indicator_values.rolling_12m_lower_95
            else indicator_values.lower_95
        end as series_lower_95,
        case
            when
                indicators.cadence in ('month', 'quarter')
                then indicator_values.rolling_12m_upper_95
            else indicator_values.upper_95
        end as series_upper_95,
        case
            when indicators.cadence in ('month', 'quarter') then {{ var('trend_periods_month') }}
            else {{ var('trend_periods_other') }}
        end as trend_points
    from {{ ref('fct_indicator_values') }} as indicator_values
    inner join indicators on indicator_values.indicator_id = indicators.indicator_id
    inner join {{ ref('int_periods') }} as periods on indicator_values.period_id = periods.period_id
),

recent as (
    select
        *,
        row_number() over (partition by indicator_id, area_id order by period_index desc) as recency
    from series
    where series_value is not null
),

trend as (
    select
        indicator_id,
        area_id,
        count(*) as trend_points_used,
        -- slope per year: x is the period's end in years
        regr_slope(series_value, epoch(end_date) / (365.25 * 86400)) as trend_per_year
    from recent
    where recency <= trend_points
    group by all
),

latest as (
    select * from recent
    where recency = 1
),

top_area as (
    select area_id from {{ ref('stg_meta__areas') }}
    where area_depth = 0
),

targets as (
    select
        targets.*,
        coalesce(targets.area_id, (select min(top_area.area_id) from top_area)) as target_area_id,
        case
            when indicators.cadence = 'month' and len(targets.baseline_period) = 4
                then targets.baseline_period || '-12'
            when indicators.cadence = 'quarter' and len(targets.baseline_period) = 4
                then targets.baseline_period || '-Q4'
            else targets.baseline_period
        end as baseline_period_id
    from {{ ref('stg_meta__targets') }} as targets
    inner join indicators on targets.indicator_id = indicators.indicator_id
),

cells as (
    select distinct
        indicator_id,
        area_id
    from series
),

assembled as (
    select
        cells.indicator_id,
        cells.area_id,
        indicators.desired_direction,
        latest.period_id as latest_period_id,
        latest.series_value as latest_value,
        latest.series_lower_95 as latest_lower_95,
        latest.series_upper_95 as latest_upper_95,
        latest.end_date as latest_end_date,
        targets.baseline_period_id,
        coalesce(targets.baseline_value, baseline.series_value) as baseline_value,
        targets.target_value,
        targets.target_date,
        trend.trend_per_year,
        coalesce(trend.trend_points_used, 0) as trend_points,
        targets.indicator_id is not null as has_target
    from cells
    inner join indicators on cells.indicator_id = indicators.indicator_id
    left join latest on cells.indicator_id = latest.indicator_id and cells.area_id = latest.area_id
    left join trend on cells.indicator_id = trend.indicator_id and cells.area_id = trend.area_id
    left join
        targets
        on cells.indicator_id = targets.indicator_id and cells.area_id = targets.target_area_id
    left join series as baseline
        on
            cells.indicator_id = baseline.indicator_id
            and cells.area_id = baseline.area_id
            and targets.baseline_period_id = baseline.period_id
),

forecast as (
    select
        *,
        latest_value + trend_per_year * datediff('day', latest_end_date, target_date) / 365.25
            as forecast_at_target_date
    from assembled
)

select
    indicator_id,
    area_id,
    latest_period_id,
    latest_value,
    latest_lower_95,
    latest_upper_95,
    baseline_period_id,
    baseline_value,
    latest_value - baseline_value as change_since_baseline,
    target_value,
    target_date,
    trend_per_year,
    trend_points,
    forecast_at_target_date,
    case
        when not has_target then 'no target'
        when
            latest_value is null or baseline_value is null or trend_points < 3
            then 'insufficient data'
        when desired_direction = 'down' and forecast_at_target_date <= target_value then 'on track'
        when desired_direction = 'up' and forecast_at_target_date >= target_value then 'on track'
        else 'off track'
    end as status
from forecast
