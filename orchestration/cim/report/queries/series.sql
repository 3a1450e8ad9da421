-- One indicator's published values in one area on its cadence, with the periods' dates.
SELECT v.*, p.start_date, p.end_date
FROM marts.fct_indicator_values AS v
INNER JOIN marts.dim_period AS p USING (period_id)
WHERE v.indicator_id = ? AND v.area_id = ? AND v.period_type = ?
ORDER BY p.start_date
