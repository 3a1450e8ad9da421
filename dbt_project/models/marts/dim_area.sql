-- Areas with their place in the hierarchy: parent and the ancestor at every level.
select
    areas.area_id,
    areas.area_name,
    areas.area_level,
    areas.area_depth,
    areas.parent_area_id,
    parents.area_name as parent_area_name,
    (
        select list(ancestors.ancestor_id order by ancestors.steps_up)
        from {{ ref('int_area_ancestors') }} as ancestors
        where ancestors.area_id = areas.area_id and ancestors.steps_up > 0
    ) as ancestor_ids,
    areas.valid_from,
    areas.valid_to,
    areas.grid_row,
    areas.grid_col
from {{ ref('stg_meta__areas') }} as areas
left join {{ ref('stg_meta__areas') }} as parents
    on areas.parent_area_id = parents.area_id
