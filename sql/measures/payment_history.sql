-- payment_history: invoices due in W(window_days) that were paid after their due_date or
-- are still open past it. raw_value: that count. Banded by the scorecard.
SELECT
    account.account_id,
    coalesce(invoices.late, 0) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, count(*) AS late
    FROM core.billing_invoices
    WHERE due_date BETWEEN $as_of - {window_days} + 1 AND $as_of
      AND (paid_date > due_date OR (status = 'open' AND due_date < $as_of))
    GROUP BY account_id
) AS invoices USING (account_id)
