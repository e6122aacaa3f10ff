-- support_csat: mean csat_score / 5 of tickets resolved in W(window_days); missing when
-- none has a score. raw_value: the mean score (1..5).
SELECT
    account.account_id,
    tickets.mean_csat AS raw_value,
    raw_value / 5 AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, avg(csat_score) AS mean_csat
    FROM core.support_tickets
    WHERE CAST(resolved_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
      AND csat_score IS NOT NULL
    GROUP BY account_id
) AS tickets USING (account_id)
