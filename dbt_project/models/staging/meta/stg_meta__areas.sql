select
    area_code as area_id,
    name as area_name,
    level as area_level,
    depth as area_depth,
    parent_code as parent_area_id,
    valid_from,
    valid_to,
    grid_row,
    grid_col
from {{ source('meta', 'areas') }}
