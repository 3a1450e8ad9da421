-- noqa: disable=LT02
{#- Every period an indicator owes whose inputs hold records but where no area has a value
    or a suppressed cell (which would say why): indicator_id, period_id, input_records,
    cause, and configuration_cause (true when the configuration, not late data, makes the
    period empty). Records before the first period the numerator feeds owe are left out:
    assert_records_before_the_first_owed_period counts them. -#}
{% macro indicator_periods_without_values() %}
with inputs as (
    select
        indicator_id,
        period_id,
        sum(records) as input_records
    from {{ ref('int_indicator_terms') }}
    where term = 'numerator'
    group by all
    having sum(records) > 0
),

indicators as (
    select
        indicator_id,
        indicator_kind,
        cadence
    from {{ ref('stg_meta__indicators') }}
),

owed_from as (
    {{ indicator_first_owed_start() }}
),

published as (
    select
        indicator_id,
        period_id,
        count(*) as cells,
        count(value) as valued_cells,
        count(*) filter (where suppressed) as suppressed_cells,
        count(denominator) as cells_with_denominator,
        max(input_completeness) as input_completeness
    from {{ ref('fct_indicator_values') }}
    group by all
),

judged as (
    select
        inputs.indicator_id,
        inputs.period_id,
        inputs.input_records,
        indicators.cadence,
        indicators.indicator_kind,
        periods.period_id is not null as in_calendar,
        coalesce(periods.start_date < owed_from.first_start, false) as before_first_owed,
        coalesce(published.cells, 0) as cells,
        coalesce(published.valued_cells, 0) as valued_cells,
        coalesce(published.suppressed_cells, 0) as suppressed_cells,
        coalesce(published.cells_with_denominator, 0) as cells_with_denominator,
        coalesce(published.input_completeness, 0) as input_completeness
    from inputs
    inner join indicators on inputs.indicator_id = indicators.indicator_id
    left join {{ ref('int_periods') }} as periods
        on inputs.period_id = periods.period_id and indicators.cadence = periods.period_type
    left join owed_from on inputs.indicator_id = owed_from.indicator_id
    left join published
        on inputs.indicator_id = published.indicator_id and inputs.period_id = published.period_id
)

select
    indicator_id,
    period_id,
    input_records,
    case
        when not in_calendar
            then
                'period ' || period_id || ' is not a ' || cadence
                || ' of the calendar: a snapshot feed, or a period column of another grain, '
                || 'cannot feed this indicator; give the feed a period per row or a date column'
        when cells = 0
            then 'no cell of the indicator for this period: its areas or range leave it out'
        when input_completeness = 0
            then
                'no delivery of this period was received: its records came with later '
                || 'deliveries (e.g. incidents registered late)'
        when
            indicator_kind not like 'survey%' and indicator_kind != 'count'
            and cells_with_denominator = 0
            then 'no denominator delivered for this period or before it, at any area'
        else 'every cell of the period is empty'
    end as cause,
    not in_calendar or cells = 0 as configuration_cause
from judged
where
    not before_first_owed
    and valued_cells = 0
    and suppressed_cells = 0
{% endmacro %}


{#- The first day each indicator owes: the start of the first period of its range in
    int_indicator_values (the later of its first data and its feeds' start_period). -#}
{% macro indicator_first_owed_start() %}
    select
        indicator_values.indicator_id,
        min(periods.start_date) as first_start
    from {{ ref('int_indicator_values') }} as indicator_values
    inner join {{ ref('int_periods') }} as periods
        on indicator_values.period_id = periods.period_id
    group by all
{% endmacro %}
