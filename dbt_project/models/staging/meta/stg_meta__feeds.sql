select
    feed_id,
    partner_id,
    description as feed_description,
    file_pattern,
    format as file_format,
    grain as period_grain,
    cadence,
    due_from,
    due_days,
    grace_days,
    start_period,
    end_period,
    contact_name,
    contact_email
from {{ source('meta', 'feeds') }}
