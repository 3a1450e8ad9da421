select
    load_id,
    sha256 as file_sha256,
    partner as partner_id,
    feed as feed_id,
    original_name as file_name,
    size_bytes,
    received_at,
    loaded_at,
    run_id,
    period as delivery_period,
    rows_read,
    rows_accepted,
    rows_rejected,
    status as file_status,
    reason,
    warnings
from {{ source('meta', 'file_ledger') }}
