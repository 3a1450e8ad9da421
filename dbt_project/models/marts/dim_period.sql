-- The period calendar (months, quarters, years, school years September-August).
select
    period_id,
    period_type,
    start_date,
    end_date,
    start_year,
    period_index,
    periods_per_year,
    same_period_last_year_id
from {{ ref('int_periods') }}
