-- The quality checks of the latest checked run, failed first.
SELECT *
FROM meta.dq_results
WHERE run_id = (SELECT run_id FROM meta.dq_results ORDER BY checked_at DESC LIMIT 1)
ORDER BY success, asset, expectation
