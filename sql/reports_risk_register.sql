-- reports_risk_register: the first $limit rows of mart.risk_register, with the first
-- recommended action.
SELECT rank, account_id, account_name, csm_owner, segment, arr, health_score, tier,
       review_cadence, days_to_renewal, renewal_zone, open_alerts,
       recommended_actions[1] AS next_action
FROM mart.risk_register
ORDER BY rank
LIMIT $limit
