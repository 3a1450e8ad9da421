{#- The period a date falls in, as the period_id used in dim_period:
    month 2024-03, quarter 2024-Q1, year 2024, school_year 2023/24 (September to August). -#}
{% macro period_of(column, cadence) -%}
    {%- if cadence == 'month' -%}
        strftime(cast({{ column }} as date), '%Y-%m')
    {%- elif cadence == 'quarter' -%}
        (strftime(cast({{ column }} as date), '%Y') || '-Q' || quarter(cast({{ column }} as date)))
    {%- elif cadence == 'year' -%}
        strftime(cast({{ column }} as date), '%Y')
    {%- elif cadence == 'school_year' -%}
        (
            cast(year(cast({{ column }} as date) - interval 8 month) as varchar) || '/'
            || lpad(cast((year(cast({{ column }} as date) - interval 8 month) + 1) % 100 as varchar), 2, '0')
        )
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown cadence " ~ cadence) }}
    {%- endif -%}
{%- endmacro %}
