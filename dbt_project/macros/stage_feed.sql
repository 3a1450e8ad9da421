-- The SQL below is linted where it renders: in the models that call these macros
-- (sqlfluff lints dbt_project/models, generated models included). Standalone, the
-- linter sees Jinja loops, not SQL, so its indentation rule cannot judge them.
-- noqa: disable=LT02
{#- One partner feed in the standard staging shape (the body of every stg_<feed> model).

    feed: the feed id, i.e. the raw table written by ingestion (source raw.<feed>).
    columns: the contract's stored columns under their canonical names, with a
      <column>_suppressed flag after each numeric column when the feed has suppression
      markers.
    keys: the contract's key columns; when given, one row per key and delivery period
      survives (the first in the file), as the contract promises.

    Every row keeps its lineage: the delivery period, the archived file and its row
    number, and the load. Incremental runs read only deliveries loaded since the last
    build (a new or a corrected period); delete+insert on delivery_period replaces a
    corrected period whole (configured for staging/feeds in dbt_project.yml). -#}
{% macro stage_feed(feed, columns, keys=[]) %}
with source as (
    select * from {{ source('raw', feed) }}
    {% if is_incremental() %}
        where _load_id not in (select distinct load_id from {{ this }})
    {% endif %}
),

renamed as (
    select
        {% for column in columns -%}
            {{ cim_quote(column) }},
        {% endfor -%}
        _period as delivery_period,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id
    from source
)

select * from renamed
{% if keys -%}
    qualify row_number() over (
        partition by delivery_period{% for key in keys %}, {{ cim_quote(key) }}{% endfor %}
        order by source_row_number
    ) = 1
{%- endif %}
{% endmacro %}
