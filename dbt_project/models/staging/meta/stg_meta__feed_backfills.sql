-- Periods a feed delivers late on purpose (history sent at once), one row per range of
-- the contract's backfill key; both ends are periods of the feed's grain, inclusive.
select
    feed_id,
    first_period,
    last_period
from {{ source('meta', 'feed_backfills') }}
