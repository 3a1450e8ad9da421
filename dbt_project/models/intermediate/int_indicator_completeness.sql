-- Input completeness of each indicator and period: the share of the deliveries its
-- numerator feeds owe for that period that were received and loaded. A monthly feed
-- owes three deliveries for a quarter; a yearly feed one for any month of its year.
with numerator_feeds as (
    -- denominators are carried forward from their latest delivery, so the numerator
    -- feeds (or the survey) decide whether a period has data at all
    select
        indicators.indicator_id,
        indicators.cadence,
        feeds.feed_id,
        feeds.period_grain
    from {{ ref('stg_meta__indicators') }} as indicators,
        unnest(indicators.numerator_feeds) as numerator_feed (feed_id)
    inner join {{ ref('stg_meta__feeds') }} as feeds
        on numerator_feed.feed_id = feeds.feed_id
    where feeds.period_grain != 'snapshot'
),

loaded as (
    select distinct
        feed_id,
        delivery_period
    from {{ ref('stg_meta__delivered_periods') }}
    where file_status = 'loaded'
),

owed as (
    select
        numerator_feeds.indicator_id,
        indicator_periods.period_id,
        numerator_feeds.feed_id,
        feed_periods.period_id as feed_period_id
    from numerator_feeds
    inner join {{ ref('int_periods') }} as indicator_periods
        on numerator_feeds.cadence = indicator_periods.period_type
    inner join {{ ref('int_periods') }} as feed_periods
        on
            numerator_feeds.period_grain = feed_periods.period_type
            and indicator_periods.end_date >= feed_periods.start_date
            and indicator_periods.start_date <= feed_periods.end_date
)

select
    owed.indicator_id,
    owed.period_id,
    count(*) as deliveries_owed,
    count(loaded.feed_id) as deliveries_loaded,
    count(loaded.feed_id) / count(*) as input_completeness
from owed
left join loaded
    on
        owed.feed_id = loaded.feed_id
        and owed.feed_period_id = loaded.delivery_period
group by all
