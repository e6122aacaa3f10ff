-- reports_account_alerts: the account's alert episodes raised on or before $as_of that
-- were open on $since or later: still open on $as_of (`is_open`), or cleared inside the
-- period.
SELECT
    alert_id, as_of_date AS raised_on, alert_type, severity, message, actions, drivers,
    CASE WHEN cleared_on <= $as_of THEN cleared_on END AS cleared_on,
    alert_open_on(as_of_date, cleared_on, $as_of) AS is_open
FROM mart.health_alerts
WHERE account_id = $account_id AND as_of_date <= $as_of
  AND (cleared_on IS NULL OR cleared_on >= $since)
ORDER BY is_open DESC,
         CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
         raised_on
