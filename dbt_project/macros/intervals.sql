{#- 95% confidence bounds. Counts and rates: exact (Garwood) Poisson bounds from the
    cim_poisson_* functions the dbt-duckdb plugin registers. Shares: Wilson score interval,
    with the Kish effective sample size for weighted survey shares. Means: normal interval
    on the weighted variance and the Kish effective sample size. -#}

{% macro poisson_lower(count) -%}
    cim_poisson_lower(cast({{ count }} as double))
{%- endmacro %}

{% macro poisson_upper(count) -%}
    cim_poisson_upper(cast({{ count }} as double))
{%- endmacro %}

{% macro wilson_lower(share, n, z=1.959964) -%}
    case when {{ n }} > 0 then
        ({{ share }} + {{ z }}^2 / (2 * {{ n }})
            - {{ z }} * sqrt({{ share }} * (1 - {{ share }}) / {{ n }} + {{ z }}^2 / (4 * {{ n }}^2)))
        / (1 + {{ z }}^2 / {{ n }})
    end
{%- endmacro %}

{% macro wilson_upper(share, n, z=1.959964) -%}
    case when {{ n }} > 0 then
        ({{ share }} + {{ z }}^2 / (2 * {{ n }})
            + {{ z }} * sqrt({{ share }} * (1 - {{ share }}) / {{ n }} + {{ z }}^2 / (4 * {{ n }}^2)))
        / (1 + {{ z }}^2 / {{ n }})
    end
{%- endmacro %}
