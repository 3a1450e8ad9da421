-- Each area with itself and every area above it: the path a figure takes when it is
-- summed up the hierarchy (neighbourhood -> district -> city).
with recursive ancestry as (
    select
        area_id,
        area_id as ancestor_id,
        0 as steps_up
    from {{ ref('stg_meta__areas') }}

    union all

    select
        ancestry.area_id,
        areas.parent_area_id as ancestor_id,
        ancestry.steps_up + 1 as steps_up
    from ancestry
    inner join {{ ref('stg_meta__areas') }} as areas
        on ancestry.ancestor_id = areas.area_id
    where areas.parent_area_id is not null
)

select
    ancestry.area_id,
    ancestry.ancestor_id,
    ancestors.area_level as ancestor_level,
    ancestors.area_depth as ancestor_depth,
    ancestry.steps_up
from ancestry
inner join {{ ref('stg_meta__areas') }} as ancestors
    on ancestry.ancestor_id = ancestors.area_id
