{#- Names and values that come from a city's configuration enter SQL only through these.

    cim_quote: a table or column name, double-quoted. The contracts already restrict names
    to a-z, 0-9 and _, so quoting only keeps keywords (e.g. `value`) usable; anything else
    is refused here too, in case a model is written by hand.
    cim_literal: a text value (a filter value, a label) as an escaped SQL string. -#}
{% macro cim_quote(name) -%}
    {%- set text = name | string -%}
    {%- if not text.replace('_', '').isalnum() or not text.isascii() -%}
        {{ exceptions.raise_compiler_error("refusing unsafe SQL identifier " ~ text) }}
    {%- endif -%}
    "{{ text }}"
{%- endmacro %}

{% macro cim_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- An empty relation with typed columns: what a model built from configuration returns
    when the city configures nothing for it, so the models downstream still build.
    columns: [(name, sql type), ...] in order. -#}
{% macro cim_empty_relation(columns) -%}
    select
    {%- for name, sql_type in columns %}
        cast(null as {{ sql_type }}) as {{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
    where false
{%- endmacro %}
