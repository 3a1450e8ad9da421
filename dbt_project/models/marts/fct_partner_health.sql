-- Reporting and timeliness, DHIS2-style: one row per partner (feed_id null) and one per
-- feed. Backfill periods (history sent late on purpose) are left out: they must not lower
-- the rates.
--   reporting rate = received / counted, on-time rate = received on time / counted
-- Which deliveries are counted:
--   * a delivery is counted once it is settled: it arrived (whenever), or its grace
--     period is over without a valid file (missing, rejected). A period not yet due, or
--     due but still in its grace period and not yet sent, is left out: a partner is not
--     marked down for a delivery it can still make on time.
--   * the window is the last 12 settled deliveries, plus every older one still missing
--     (nothing valid ever arrived): a gap counts against the partner until it is filled,
--     and never ages out of the rate.
{% set rates %}
    count(*) as deliveries_expected,
    count(*) filter (where received) as deliveries_received,
    count(*) filter (where on_time) as deliveries_on_time,
    count(*) filter (where received) / count(*) as reporting_rate,
    count(*) filter (where on_time) / count(*) as on_time_rate,
    count(*) filter (where missing) as deliveries_missing,
    count(*) filter (where delivery_status = 'rejected') as deliveries_rejected,
    max(days_late) as worst_days_late,
    any_value(health_as_of) as health_as_of
{% endset %}

with settled as (
    select *
    from {{ ref('fct_feed_health') }}
    where
        expected
        and not backfill
        and (received or health_as_of > grace_until)
),

ranked as (
    select
        *,
        row_number() over (partition by feed_id order by due_date desc) as feed_recency,
        row_number()
            over (partition by partner_id order by due_date desc, feed_id asc)
            as partner_recency
    from settled
),

rates as (
    select
        partner_id,
        cast(null as varchar) as feed_id,
        {{ rates }}
    from ranked
    where partner_recency <= 12 or not received
    group by partner_id

    union all

    select
        partner_id,
        feed_id,
        {{ rates }}
    from ranked
    where feed_recency <= 12 or not received
    group by partner_id, feed_id
)

select
    rates.partner_id,
    partners.partner_name,
    rates.feed_id,
    rates.deliveries_expected,
    rates.deliveries_received,
    rates.deliveries_on_time,
    rates.reporting_rate,
    rates.on_time_rate,
    rates.deliveries_missing,
    rates.deliveries_rejected,
    rates.worst_days_late,
    rates.health_as_of
from rates
inner join {{ ref('stg_meta__partners') }} as partners
    on rates.partner_id = partners.partner_id
