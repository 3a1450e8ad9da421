-- Periods an indicator owes, with records, but without a value in any area because data
-- is not delivered yet (no delivery of the period, no denominator): published empty for
-- now, and said so here, per indicator and period with the cause, so the backbone can
-- chase the delivery. Configuration causes block publication instead
-- (assert_no_indicator_published_empty).
{{ config(severity='warn') }}

select *
from ({{ indicator_periods_without_values() }}) as empty_periods
where not configuration_cause
