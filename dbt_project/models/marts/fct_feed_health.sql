-- Feed health for the backbone: per feed and period it owes, whether the delivery came,
-- when, how late, whether it was rejected or corrected, judged on the build date.
--   on time      a valid delivery arrived by the end of the grace period
--   late         a valid delivery arrived after it (days_late counts from the due date)
--   rejected     only rejected files arrived, and the period is due
--   missing      nothing valid arrived and the grace period is over
--   in grace     past the due date, within the grace period
--   not yet due  the due date has not come
--   backfill     a period of the contract's backfill ranges: history the partner sends
--                late on purpose, owed but never late, missing or reminded (received
--                says whether it came; rates leave it out)
with owed as (
    select * from {{ ref('int_feed_expected_deliveries') }}
),

deliveries as (
    select
        feed_id,
        delivery_period,
        min(received_at) filter (where file_status in ('loaded', 'superseded')) as delivered_at,
        min(received_at) as first_received_at,
        count(*) filter (where file_status in ('loaded', 'superseded')) as versions,
        count(*) filter (where file_status = 'rejected') as rejected_files,
        bool_or(file_status = 'loaded') as loaded,
        sum(rows_rejected) filter (where file_status = 'loaded') as rows_rejected,
        max(received_at) filter (where file_status = 'rejected') as last_rejected_at
    from {{ ref('stg_meta__delivered_periods') }}
    where feed_id is not null
    group by all
),

judged as (
    select
        owed.*,
        deliveries.delivered_at,
        deliveries.first_received_at,
        coalesce(deliveries.versions, 0) as versions,
        coalesce(deliveries.rejected_files, 0) as rejected_files,
        coalesce(deliveries.loaded, false) as loaded,
        cast(coalesce(deliveries.rows_rejected, 0) as bigint) as rows_rejected,
        {{ as_of_date() }} as health_as_of
    from owed
    left join deliveries
        on owed.feed_id = deliveries.feed_id and owed.period_id = deliveries.delivery_period
)

select
    feed_id,
    partner_id,
    period_id,
    due_date,
    grace_until,
    health_as_of,
    health_as_of >= due_date as expected,
    backfill,
    delivered_at is not null as received,
    -- a backfill has no deadline to meet: neither on time nor late
    case when not backfill then cast(delivered_at as date) <= grace_until end as on_time,
    case
        when backfill then 0
        when
            delivered_at is not null
            then greatest(datediff('day', due_date, cast(delivered_at as date)), 0)
        when health_as_of > due_date then datediff('day', due_date, health_as_of)
        else 0
    end as days_late,
    not backfill and delivered_at is null and health_as_of > grace_until as missing,
    rejected_files > 0 as rejected,
    versions > 1 as corrected,
    versions,
    rejected_files,
    rows_rejected,
    delivered_at,
    case
        when backfill then 'backfill'
        when delivered_at is not null and cast(delivered_at as date) <= grace_until then 'on time'
        when delivered_at is not null then 'late'
        when rejected_files > 0 and health_as_of > due_date then 'rejected'
        when health_as_of > grace_until then 'missing'
        when health_as_of > due_date then 'in grace'
        else 'not yet due'
    end as delivery_status
from judged
