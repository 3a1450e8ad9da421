-- Never silently empty: an indicator whose inputs hold records for a period it owes must
-- publish that period, a value or a suppressed cell (which says why) in at least one area.
-- Where the configuration is the cause (a period the indicator can never publish, such as a
-- snapshot feed behind a monthly indicator), publication is blocked; each row names the
-- indicator, the period and the cause. Where data not delivered yet is the cause, the
-- warning assert_owed_periods_with_records_have_values names it.
select *
from ({{ indicator_periods_without_values() }}) as empty_periods
where configuration_cause
