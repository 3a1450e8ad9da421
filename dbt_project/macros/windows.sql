{#- An aggregate over the last year of periods of the row's cadence: 12 months or 4
    quarters (the model defines the windows last_12 and last_4). -#}
{% macro over_last_year(aggregate) -%}
    case when cadence = 'month' then {{ aggregate }} over last_12 else {{ aggregate }} over last_4 end
{%- endmacro %}
