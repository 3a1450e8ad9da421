select
    partner_id,
    name as partner_name,
    kind as partner_kind,
    contact_name,
    contact_email
from {{ source('meta', 'partners') }}
