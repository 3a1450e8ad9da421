-- One definition per indicator, with its goal and owner, as agreed in the common agenda.
select
    indicators.indicator_id,
    indicators.indicator_name,
    indicators.definition,
    indicators.formula,
    indicators.indicator_kind,
    indicators.unit,
    indicators.multiplier,
    indicators.desired_direction,
    indicators.reported_events,
    indicators.cadence,
    indicators.lowest_level,
    indicators.min_cell,
    indicators.min_respondents,
    indicators.numerator_feeds,
    indicators.denominator_feed,
    indicators.goal_id,
    goals.goal_name,
    goals.goal_description,
    indicators.owner_partner_id,
    partners.partner_name as owner_partner_name
from {{ ref('stg_meta__indicators') }} as indicators
inner join {{ ref('stg_meta__goals') }} as goals
    on indicators.goal_id = goals.goal_id
left join {{ ref('stg_meta__partners') }} as partners
    on indicators.owner_partner_id = partners.partner_id
