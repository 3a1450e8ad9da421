-- The headline police indicators straight from the delivered files, by hand, in one
-- DuckDB script: what the pipeline (ingest -> dbt -> checks -> publish) is measured
-- against. Same rules as the contracts and the agenda: rows with an unknown area, a
-- missing key or an unreadable date are left out; incidents count in the month they
-- happened; rates are summed numerators over summed denominators x 1,000, with the
-- population on 1 January of the latest year at or before the month.
-- Inputs (SET VARIABLE): police_files, population_files, areas_file.

create or replace temp table areas as
select area_code, level, parent_code
from read_csv(getvariable('areas_file'), header = true, all_varchar = true);

create or replace temp table ancestors as
select area_code, area_code as ancestor from areas
union all
select a.area_code, a.parent_code from areas as a where a.parent_code is not null
union all
select a.area_code, p.parent_code
from areas as a inner join areas as p on a.parent_code = p.area_code
where p.parent_code is not null;

create or replace temp table police_rows as
select
    "Registratienummer" as incident_id,
    try_strptime("Datum feit", '%d/%m/%Y')::date as occurred_on,
    try_strptime("Datum registratie", '%d/%m/%Y')::date as registered_on,
    "Feitcategorie" as category,
    nullif(trim("Statistische sector"), '') as area_code
from read_csv(
    getvariable('police_files'), delim = ';', header = true, encoding = 'latin-1',
    all_varchar = true, union_by_name = true
);

create or replace temp table valid as
select i.*
from police_rows as i
where
    i.incident_id is not null and i.occurred_on is not null and i.registered_on is not null
    and (i.area_code is null or i.area_code in (select area_code from areas))
qualify row_number() over (partition by incident_id order by registered_on desc) = 1;

create or replace temp table population as
select
    lpad(sector, 9, '0') as area_code,
    make_date(cast(regexp_extract(filename, 'bevolking_(\d{4})', 1) as integer), 1, 1) as year_start,
    sum(cast(replace(inwoners, '.', '') as bigint)) as residents
from read_csv(
    getvariable('population_files'), delim = ';', header = true, encoding = 'latin-1',
    all_varchar = true, filename = true
)
group by all;

create or replace temp table indicator_terms as
select 'property_crime_rate' as indicator_id, unnest(
    ['woninginbraak', 'fietsdiefstal', 'diefstal_uit_voertuig', 'winkeldiefstal']
) as category
union all
select 'violent_crime_rate', 'geweld_openbare_ruimte';

create or replace temp table months as
select cast(m as date) as month_start
from range(
    date '2021-01-01',
    (select date_trunc('month', max(occurred_on)) + interval 1 month from valid),
    interval 1 month
) as t (m);

create or replace temp table counts as
select t.indicator_id, coalesce(anc.ancestor, city.area_code) as area_id,
    date_trunc('month', v.occurred_on)::date as month_start, count(*) as numerator
from valid as v
inner join indicator_terms as t on v.category = t.category
left join ancestors as anc on v.area_code = anc.area_code
left join (select area_code from areas where parent_code is null) as city
    on v.area_code is null
where v.occurred_on >= date '2021-01-01'
group by all;

create or replace temp table denominators as
select anc.ancestor as area_id, p.year_start, sum(p.residents) as denominator
from population as p inner join ancestors as anc on p.area_code = anc.area_code
group by all;

create or replace table headline as
select
    t.indicator_id,
    a.area_code as area_id,
    strftime(m.month_start, '%Y-%m') as period_id,
    coalesce(c.numerator, 0) as numerator,
    d.denominator,
    coalesce(c.numerator, 0) / d.denominator * 1000 as value
from (select distinct indicator_id from indicator_terms) as t
cross join areas as a
cross join months as m
left join counts as c
    on t.indicator_id = c.indicator_id and a.area_code = c.area_id
    and m.month_start = c.month_start
asof left join denominators as d
    on a.area_code = d.area_id and m.month_start >= d.year_start;
