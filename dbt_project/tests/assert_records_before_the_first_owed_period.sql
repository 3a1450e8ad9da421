-- Never silently dropped: records dated before the first period their feeds owe (e.g. an
-- incident that happened in December and was registered in the feed's first month,
-- January) are not published as a month of data, which would show a partial month as
-- a fall. This warning says how many there are, per indicator, so the backbone knows.
{{ config(severity='warn') }}

with inputs as (
    select
        terms.indicator_id,
        terms.period_id,
        terms.records
    from {{ ref('int_indicator_terms') }} as terms
    where terms.term = 'numerator' and terms.records > 0
),

owed_from as (
    {{ indicator_first_owed_start() }}
)

select
    inputs.indicator_id,
    sum(inputs.records) as records_not_published,
    min(inputs.period_id) as first_period,
    max(inputs.period_id) as last_period,
    'records dated before ' || strftime(min(owed_from.first_start), '%Y-%m-%d')
    || ', the first period the feeds owe, are not published' as cause
from inputs
inner join owed_from on inputs.indicator_id = owed_from.indicator_id
inner join {{ ref('int_periods') }} as periods on inputs.period_id = periods.period_id
where periods.start_date < owed_from.first_start
group by inputs.indicator_id
