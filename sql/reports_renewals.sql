-- reports_renewals: the renewals of mart.renewal_pipeline due in the next $days days and
-- the overdue ones it holds (not renewed, date passed), most overdue first, then soonest.
SELECT renewal.account_id, renewal.account_name, renewal.csm_owner, renewal.arr,
       renewal.renewal_date, renewal.days_to_renewal, renewal.stage, renewal.health_score,
       renewal.renewal_confidence, renewal.renewal_zone, renewal.arr_at_risk
FROM mart.renewal_pipeline AS renewal
WHERE renewal.days_to_renewal <= $days
ORDER BY renewal.renewal_date, renewal.arr DESC, renewal.account_id
