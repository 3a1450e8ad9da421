-- The quarters a report can end on: those with published values in them.
SELECT q.*
FROM marts.dim_period AS q
WHERE
    q.period_type = 'quarter'
    AND q.start_date >= (
        SELECT min(p.start_date)
        FROM marts.fct_indicator_values AS v INNER JOIN marts.dim_period AS p USING (period_id)
    )
    AND q.end_date <= (
        SELECT max(p.end_date)
        FROM marts.fct_indicator_values AS v INNER JOIN marts.dim_period AS p USING (period_id)
    )
ORDER BY q.start_date
