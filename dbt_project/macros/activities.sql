-- The SQL below is linted where it renders: in the models that call these macros
-- (sqlfluff lints dbt_project/models, generated models included). Standalone, the
-- linter sees Jinja loops, not SQL, so its indentation rule cannot judge them.
-- noqa: disable=LT02
{#- The activity registry in the standard shape: the body of int_activity_registry.

    registry: the registry feed (agenda/activities.yaml `registry`), or none when the
      city keeps no registry (an empty relation of the same shape).
    present: the optional columns (comparison_areas, end_date, description) that the
      registry's contract carries; a missing one is null. -#}
{% macro activity_registry(registry, present=[]) %}
    {%- if registry %}
        select
            action_id,
            partner_id,
            action_name,
            goal_id,
            target_areas as target_area_ids,
            {{ cim_optional('comparison_areas', 'varchar[]', present) }} as comparison_area_ids,
            start_date,
            {{ cim_optional('end_date', 'date', present) }} as end_date,
            {{ cim_optional('description', 'varchar', present) }} as action_description
        from {{ ref('stg_' ~ registry) }}
    {%- else %}
        {{ cim_empty_relation([
            ('action_id', 'varchar'), ('partner_id', 'varchar'), ('action_name', 'varchar'),
            ('goal_id', 'varchar'), ('target_area_ids', 'varchar[]'),
            ('comparison_area_ids', 'varchar[]'), ('start_date', 'date'),
            ('end_date', 'date'), ('action_description', 'varchar'),
        ]) }}
    {%- endif %}
{% endmacro %}


{% macro cim_optional(column, sql_type, present) -%}
    {%- if column in present -%}
        {{ cim_quote(column) }}
    {%- else -%}
        cast(null as {{ sql_type }})
    {%- endif -%}
{%- endmacro %}


{#- What each action did and whom it reached, per feed, area and period: the body of
    int_activity_reach.

    reach: one entry per reporting feed of agenda/activities.yaml: {feed, action, area,
      how_much: {sum, label}, reached: {sum, label}, suppressed: whether the feed's
      contract has suppression markers (then suppressed values are counted)}. -#}
{% macro activity_reach(reach) %}
    {%- for spec in reach %}
        {% if not loop.first %}union all{% endif %}
        select
            {{ cim_literal(spec.feed) }} as feed_id,
            {{ cim_quote(spec.action) }} as action_id,
            {{ cim_quote(spec.area) }} as area_id,
            delivery_period as period_id,
            {{ cim_literal(spec.how_much.label) }} as how_much_label,
            cast(sum({{ cim_quote(spec.how_much.sum) }}) as double) as how_much,
            {{ cim_literal(spec.reached.label) }} as reached_label,
            cast(sum({{ cim_quote(spec.reached.sum) }}) as double) as reached,
            {% if spec.suppressed -%}
                count(*) filter (where {{ cim_quote(spec.reached.sum ~ '_suppressed') }})
            {%- else -%}
                0
            {%- endif %} as reached_suppressed_values
        from {{ ref('stg_' ~ spec.feed) }}
        group by all
    {%- else %}
        {{ cim_empty_relation([
            ('feed_id', 'varchar'), ('action_id', 'varchar'), ('area_id', 'varchar'),
            ('period_id', 'varchar'), ('how_much_label', 'varchar'), ('how_much', 'double'),
            ('reached_label', 'varchar'), ('reached', 'double'),
            ('reached_suppressed_values', 'bigint'),
        ]) }}
    {%- endfor %}
{% endmacro %}
