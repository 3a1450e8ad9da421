select
    indicator_id,
    area_code as area_id,
    baseline_period,
    baseline_value,
    target_value,
    target_date
from {{ source('meta', 'targets') }}
