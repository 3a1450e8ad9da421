select
    indicator_id,
    name as indicator_name,
    definition,
    goal_id,
    owner_partner_id,
    kind as indicator_kind,
    unit,
    multiplier,
    direction as desired_direction,
    reported_events,
    cadence,
    lowest_level,
    min_cell,
    min_respondents,
    numerator_feeds,
    denominator_feed,
    formula
from {{ source('meta', 'indicators') }}
