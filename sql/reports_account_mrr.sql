-- reports_account_mrr: the account's MRR for the 13 months up to $as_of's month, with each
-- month's movement (mart.mrr_movements).
SELECT month, mrr, previous_mrr, mrr_change, movement
FROM mart.mrr_movements
WHERE account_id = $account_id
  AND month BETWEEN date_trunc('month', $as_of) - INTERVAL 12 MONTH AND $as_of
ORDER BY month
