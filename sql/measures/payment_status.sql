-- payment_status, over open invoices with due_date before D: none 1; the oldest overdue
-- by at most grace_days within_grace_value; older 0; any uncollectible invoice 0.
-- raw_value: days the oldest open invoice is overdue (null when none).
SELECT
    account.account_id,
    invoices.oldest_overdue_days AS raw_value,
    CASE WHEN coalesce(invoices.uncollectible, false) THEN 0.0
         WHEN raw_value IS NULL THEN 1.0
         WHEN raw_value <= {grace_days} THEN {within_grace_value}
         ELSE 0.0 END AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           max($as_of - due_date) FILTER (WHERE status = 'open' AND due_date < $as_of)
               AS oldest_overdue_days,
           bool_or(status = 'uncollectible') AS uncollectible
    FROM core.billing_invoices
    GROUP BY account_id
) AS invoices USING (account_id)
