-- Disclosure control. Primary: a cell breaking its indicator's rule (count below the
-- minimum cell size, too few respondents). Secondary, walking the hierarchy top-down:
--   * a published parent with exactly one hidden child: hide the smallest other child,
--     or the hidden one is the parent minus its published siblings;
--   * a hidden parent whose children are all published: hide its two smallest children,
--     or the parent is the sum of its children.
-- An only child that is hidden hides its parent (the parent would equal it). Cells with
-- nothing to protect (no data, or a structural zero without a denominator) take no part:
-- they neither protect a neighbour nor need protection.
with cells as (
    select
        indicator_values.indicator_id,
        indicator_values.period_id,
        indicator_values.area_id,
        indicator_values.parent_area_id,
        indicator_values.area_depth,
        indicator_values.numerator as rank_amount,
        indicator_values.primary_suppressed
    from {{ ref('int_indicator_values') }} as indicator_values
    where indicator_values.primary_suppressed is not null
),

only_children as (
    select
        indicator_id,
        period_id,
        parent_area_id
    from cells
    group by all
    having count(*) = 1 and bool_and(primary_suppressed)
),

step_0 as (
    select
        cells.*,
        cells.primary_suppressed or only_children.parent_area_id is not null as suppressed
    from cells
    left join only_children
        on
            cells.indicator_id = only_children.indicator_id
            and cells.period_id = only_children.period_id
            and cells.area_id = only_children.parent_area_id
),
{% for depth in range(1, var('max_area_depth', 5) | int) %}
    ranked_{{ depth }} as (
        select
            *,
            count(*) filter (where suppressed)
                over (partition by indicator_id, period_id, parent_area_id) as hidden_siblings,
            row_number() over (
                partition by indicator_id, period_id, parent_area_id
                order by suppressed desc, rank_amount asc, area_id asc
            ) - count(*) filter (where suppressed)
                over (partition by indicator_id, period_id, parent_area_id) as open_rank
        from step_{{ depth - 1 }}
    ),

    step_{{ depth }} as (
        select
            child.indicator_id,
            child.period_id,
            child.area_id,
            child.parent_area_id,
            child.area_depth,
            child.rank_amount,
            child.primary_suppressed,
            child.suppressed or (
                child.area_depth = {{ depth }}
                and parent.area_id is not null
                and (
                    (not parent.suppressed and child.hidden_siblings = 1 and child.open_rank = 1)
                    or (parent.suppressed and child.hidden_siblings = 0 and child.open_rank <= 2)
                )
            ) as suppressed
        from ranked_{{ depth }} as child
        left join step_{{ depth - 1 }} as parent
            on
                child.indicator_id = parent.indicator_id
                and child.period_id = parent.period_id
                and child.parent_area_id = parent.area_id
    ){% if not loop.last %},{% endif %}
{% endfor %}

select
    indicator_id,
    period_id,
    area_id,
    primary_suppressed,
    suppressed,
    suppressed and not primary_suppressed as secondary_suppressed
from step_{{ (var('max_area_depth', 5) | int) - 1 }}
