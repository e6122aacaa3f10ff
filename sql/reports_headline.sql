-- reports_headline: the book on $as_of in one row: scored accounts, their ARR and mean
-- score, and the alert episodes open that day (all, and the critical ones). ARR and the
-- mean score are added exactly: the same figures in every run.
SELECT
    count(*) AS accounts,
    exact_sum(arr) AS arr,
    avg(CAST(health_score AS DECIMAL(18, 1))) AS avg_health_score,
    (SELECT count(*) FROM mart.health_alerts
     WHERE alert_open_on(as_of_date, cleared_on, $as_of)) AS open_alerts,
    (SELECT count(*) FROM mart.health_alerts
     WHERE alert_open_on(as_of_date, cleared_on, $as_of) AND severity = 'critical')
        AS open_critical_alerts
FROM mart.account_health
WHERE as_of_date = $as_of
