{#- The date feed health is judged against: today at build time, or the dbt var
    `as_of` (YYYY-MM-DD), which the pipeline passes for CIM_AS_OF or a demo home's own
    date (cim.settings.judgement_day). -#}
{% macro as_of_date() -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of -%} cast('{{ as_of }}' as date) {%- else -%} current_date {%- endif -%}
{%- endmacro %}
