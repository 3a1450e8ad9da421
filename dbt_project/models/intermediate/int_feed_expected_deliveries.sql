-- The calendar of deliveries each feed owes, from its start period to today, or to its
-- end period when the feed stopped: one row per feed and period, with the due date and
-- the end of the grace period from the contract's SLA. Feeds delivered "on change" (a
-- registry) owe nothing on a calendar. A period inside one of the contract's backfill
-- ranges is owed like any other but marked backfill: the partner sends that history late
-- on purpose, so health never calls it late or missing and rates leave it out.
with backfills as (
    select
        backfills.feed_id,
        range_start.start_date as first_start,
        range_end.start_date as last_start
    from {{ ref('stg_meta__feed_backfills') }} as backfills
    inner join {{ ref('int_periods') }} as range_start
        on backfills.first_period = range_start.period_id
    inner join {{ ref('int_periods') }} as range_end
        on backfills.last_period = range_end.period_id
),

feeds as (
    select
        feeds.*,
        feed_start.start_date as first_start,
        feed_start.start_year as first_year,
        feed_end.start_date as last_start
    from {{ ref('stg_meta__feeds') }} as feeds
    inner join {{ ref('int_periods') }} as feed_start
        on feeds.start_period = feed_start.period_id
    left join {{ ref('int_periods') }} as feed_end
        on feeds.end_period = feed_end.period_id
    where feeds.cadence != 'on_change'
),

owed as (
    select
        feeds.feed_id,
        feeds.partner_id,
        periods.period_id,
        periods.start_date,
        periods.end_date,
        cast(
            case
                when feeds.due_from = 'period_start' then periods.start_date else periods.end_date
            end
            + to_days(feeds.due_days) as date
        ) as due_date,
        feeds.grace_days,
        exists(
            select 1
            from backfills
            where
                backfills.feed_id = feeds.feed_id
                and periods.start_date between backfills.first_start and backfills.last_start
        ) as backfill
    from feeds
    inner join {{ ref('int_periods') }} as periods
        on
            feeds.period_grain = periods.period_type
            and feeds.first_start <= periods.start_date
            and periods.start_date <= {{ as_of_date() }}
            -- a feed that stopped owes nothing after its end period
            and (feeds.last_start is null or feeds.last_start >= periods.start_date)
    -- a biennial feed owes every other period from its first one
    where feeds.cadence != 'biennial' or (periods.start_year - feeds.first_year) % 2 = 0
)

select
    feed_id,
    partner_id,
    period_id,
    start_date,
    end_date,
    due_date,
    cast(due_date + to_days(grace_days) as date) as grace_until,
    backfill
from owed
