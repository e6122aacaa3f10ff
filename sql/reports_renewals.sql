-- reports_renewals: renewals due in the next $days days (mart.renewal_pipeline, overdue
-- ones left out), soonest first.
SELECT renewal.account_id, renewal.account_name, renewal.csm_owner, renewal.arr,
       renewal.renewal_date, renewal.days_to_renewal, renewal.stage, renewal.health_score,
       renewal.renewal_confidence, renewal.renewal_zone, renewal.arr_at_risk
FROM mart.renewal_pipeline AS renewal
WHERE renewal.days_to_renewal BETWEEN 0 AND $days
ORDER BY renewal.renewal_date, renewal.arr DESC, renewal.account_id
