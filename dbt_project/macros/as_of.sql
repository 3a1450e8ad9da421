{#- The date feed health is judged against: today at build time, or the dbt var
    `as_of` (YYYY-MM-DD) to replay a given day (the demo city's tests use its as_of). -#}
{% macro as_of_date() -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of -%} cast('{{ as_of }}' as date) {%- else -%} current_date {%- endif -%}
{%- endmacro %}
