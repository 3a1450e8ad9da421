-- Partners with the feeds they send and the indicators they own.
select
    partners.partner_id,
    partners.partner_name,
    partners.partner_kind,
    partners.contact_name,
    partners.contact_email,
    coalesce((
        select list(feeds.feed_id order by feeds.feed_id)
        from {{ ref('stg_meta__feeds') }} as feeds
        where feeds.partner_id = partners.partner_id
    ), []) as feed_ids,
    coalesce((
        select list(indicators.indicator_id order by indicators.indicator_id)
        from {{ ref('stg_meta__indicators') }} as indicators
        where indicators.owner_partner_id = partners.partner_id
    ), []) as owned_indicator_ids
from {{ ref('stg_meta__partners') }} as partners
