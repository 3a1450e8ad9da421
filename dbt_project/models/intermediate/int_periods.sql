-- The period calendar: months, quarters, years and school years (September to August)
-- from 2000 to 2040, each with its dates, its order and the same period a year before.
-- Period ids come from the period_of macro, the one SQL home of period labels.
with months as (
    select cast(range as date) as start_date
    from range(date '2000-01-01', date '2041-01-01', interval 1 month)
),

periods as (
    select
        'month' as period_type,
        {{ period_of('start_date', 'month') }} as period_id,
        start_date,
        cast(start_date + interval 1 month - interval 1 day as date) as end_date
    from months

    union all

    select
        'quarter' as period_type,
        {{ period_of('start_date', 'quarter') }} as period_id,
        start_date,
        cast(start_date + interval 3 month - interval 1 day as date) as end_date
    from months
    where month(start_date) in (1, 4, 7, 10)

    union all

    select
        'year' as period_type,
        {{ period_of('start_date', 'year') }} as period_id,
        start_date,
        cast(start_date + interval 1 year - interval 1 day as date) as end_date
    from months
    where month(start_date) = 1

    union all

    select
        'school_year' as period_type,
        {{ period_of('start_date', 'school_year') }} as period_id,
        start_date,
        cast(start_date + interval 1 year - interval 1 day as date) as end_date
    from months
    where month(start_date) = 9
),

indexed as (
    select
        period_id,
        period_type,
        start_date,
        end_date,
        year(start_date) as start_year,
        row_number() over (partition by period_type order by start_date) as period_index,
        case period_type when 'month' then 12 when 'quarter' then 4 else 1 end as periods_per_year
    from periods
)

select
    indexed.*,
    last_year.period_id as same_period_last_year_id
from indexed
left join indexed as last_year
    on
        indexed.period_type = last_year.period_type
        and indexed.period_index - indexed.periods_per_year = last_year.period_index
