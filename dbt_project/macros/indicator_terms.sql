-- The SQL below is linted where it renders: in the models that call these macros
-- (sqlfluff lints dbt_project/models, generated models included). Standalone, the
-- linter sees Jinja loops, not SQL, so its indentation rule cannot judge them.
-- noqa: disable=LT02
{#- Every numerator and denominator of the agenda, aggregated per indicator, term, area
    code (as delivered) and period: the body of int_indicator_terms.

    terms: one entry per term of agenda/indicators.yaml, in agenda order, either
      - a feed term: {indicator, term ('numerator' | 'denominator'), feed, area,
        aggregate ('count' | 'sum' | 'max'), column (for sum and max), date (optional:
        the date column that places a record in a period; without it the delivery
        period), cadence, where ({column: [values]})}, or
      - a survey: {indicator, survey: true, feed, area, weight, items, where}, which
        gives both terms of a weighted share or mean, plus what its interval needs.
    No terms: an empty relation of the same shape, so the mart still builds. -#}
{% macro indicator_terms(terms) %}
with terms as (
    {%- for spec in terms %}
        {% if not loop.first %}union all{% endif %}
        {% if spec.survey -%}
            {{ survey_terms(spec) }}
        {%- else -%}
            {{ feed_term(spec) }}
        {%- endif %}
    {%- else %}
        {{ cim_empty_relation([
            ('indicator_id', 'varchar'), ('term', 'varchar'), ('area_code', 'varchar'),
            ('period_id', 'varchar'), ('amount', 'double'), ('records', 'bigint'),
            ('sum_w2', 'double'), ('sum_wy2', 'double'),
        ]) }}
    {%- endfor %}
)

select * from terms
{% endmacro %}


{#- `column in ('a', 'b') and ...` for a {column: [values]} filter. -#}
{% macro cim_filters(where) -%}
    {%- for column, values in where.items() -%}
        {% if not loop.first %} and {% endif -%}
        {{ cim_quote(column) }} in (
        {%- for value in values -%}
            {{ cim_literal(value) }}{% if not loop.last %}, {% endif %}
        {%- endfor -%}
        )
    {%- endfor -%}
{%- endmacro %}


{% macro feed_term(spec) -%}
    {%- set conditions = [] -%}
    {%- if spec.where %}{% do conditions.append(cim_filters(spec.where)) %}{% endif -%}
    {%- if spec.date %}{% do conditions.append(cim_quote(spec.date) ~ ' is not null') %}{% endif -%}
    {%- if spec.aggregate == 'count' -%}
        {%- set measure = 'count(*)' -%}
    {%- elif spec.aggregate in ('sum', 'max') -%}
        {%- set measure = spec.aggregate ~ '(' ~ cim_quote(spec.column) ~ ')' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown aggregate " ~ spec.aggregate) }}
    {%- endif -%}
    select
        {{ cim_literal(spec.indicator) }} as indicator_id,
        {{ cim_literal(spec.term) }} as term,
        {{ cim_quote(spec.area) }} as area_code,
        {% if spec.date -%}
            {{ period_of(cim_quote(spec.date), spec.cadence) }}
        {%- else -%}
            delivery_period
        {%- endif %} as period_id,
        cast({{ measure }} as double) as amount,
        count(*) as records,
        cast(null as double) as sum_w2,
        cast(null as double) as sum_wy2
    from {{ ref('stg_' ~ spec.feed) }}
    {% if conditions -%}
        where {{ conditions | join(' and ') }}
    {% endif -%}
    group by all
{%- endmacro %}


{#- A respondent's score is the mean of the items (a single 0/1 item: the share);
    weighted sums of scores, weights and squares give the share or mean and, with
    Kish's effective sample size, its interval. -#}
{% macro survey_terms(spec) -%}
    {%- set items = [] -%}
    {%- for item in spec['items'] %}{% do items.append(cim_quote(item)) %}{% endfor -%}
    {%- set conditions = [] -%}
    {%- if spec.where %}{% do conditions.append(cim_filters(spec.where)) %}{% endif -%}
    {%- for item in items %}{% do conditions.append(item ~ ' is not null') %}{% endfor -%}
    {%- do conditions.append(cim_quote(spec.weight) ~ ' > 0') -%}
    {%- set amounts = [('numerator', 'sum(weight * score)'), ('denominator', 'sum(weight)')] -%}
    {%- for term, amount in amounts %}
        {% if not loop.first %}union all{% endif %}
        select
            {{ cim_literal(spec.indicator) }} as indicator_id,
            {{ cim_literal(term) }} as term,
            area_code,
            period_id,
            {{ amount }} as amount,
            count(*) as records,
            sum(weight * weight) as sum_w2,
            sum(weight * score * score) as sum_wy2
        from (
            select
                {{ cim_quote(spec.area) }} as area_code,
                delivery_period as period_id,
                {{ cim_quote(spec.weight) }} as weight,
                {% if items | length > 1 -%}
                    ({{ items | join(' + ') }}) / {{ items | length }}.0
                {%- else -%}
                    cast({{ items[0] }} as double)
                {%- endif %} as score
            from {{ ref('stg_' ~ spec.feed) }}
            where {{ conditions | join(' and ') }}
        )
        group by all
    {%- endfor %}
{%- endmacro %}
