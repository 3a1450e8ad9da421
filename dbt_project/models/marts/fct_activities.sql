-- The activity registry with its reach (Results-Based Accountability): how much was done,
-- whom it reached, and how well (reached per unit of activity). "Is anyone better off"
-- is read from the linked indicators in the target areas (impact analysis), not here.
with registry as (
    select * from {{ ref('int_activity_registry') }}
),

reach as (
    select
        action_id,
        any_value(how_much_label) as how_much_label,
        sum(how_much) as how_much,
        any_value(reached_label) as reached_label,
        sum(reached) as reached,
        sum(reached_suppressed_values) as reached_suppressed_values,
        count(distinct period_id) as periods_reported,
        min(period_id) as first_period_reported,
        max(period_id) as last_period_reported
    from {{ ref('int_activity_reach') }}
    group by all
),

linked as (
    select
        goal_id,
        list(indicator_id order by indicator_id) as linked_indicator_ids
    from {{ ref('stg_meta__indicators') }}
    group by all
)

select
    registry.action_id,
    registry.action_name,
    registry.action_description,
    registry.partner_id,
    partners.partner_name,
    registry.goal_id,
    goals.goal_name,
    coalesce(linked.linked_indicator_ids, []) as linked_indicator_ids,
    registry.target_area_ids,
    coalesce(registry.comparison_area_ids, []) as comparison_area_ids,
    registry.start_date,
    registry.end_date,
    case
        when registry.start_date > current_date then 'planned'
        when registry.end_date < current_date then 'ended'
        else 'active'
    end as activity_status,
    reach.how_much_label,
    reach.how_much,
    reach.reached_label,
    reach.reached,
    case when reach.how_much > 0 then reach.reached / reach.how_much end as reached_per_unit,
    cast(coalesce(reach.reached_suppressed_values, 0) as bigint) as reached_suppressed_values,
    coalesce(reach.periods_reported, 0) as periods_reported,
    reach.first_period_reported,
    reach.last_period_reported
from registry
left join reach on registry.action_id = reach.action_id
left join {{ ref('stg_meta__partners') }} as partners on registry.partner_id = partners.partner_id
left join {{ ref('stg_meta__goals') }} as goals on registry.goal_id = goals.goal_id
left join linked on registry.goal_id = linked.goal_id
