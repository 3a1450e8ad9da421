-- The latest period with published progress among the report's indicators in its area.
SELECT g.latest_period_id
FROM marts.fct_progress AS g
INNER JOIN marts.dim_period AS p ON g.latest_period_id = p.period_id
WHERE list_contains(?, g.indicator_id) AND g.area_id = ?
ORDER BY p.end_date DESC, p.start_date DESC
LIMIT 1
