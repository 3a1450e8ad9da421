select
    goal_id,
    name as goal_name,
    description as goal_description
from {{ source('meta', 'goals') }}
