-- qbr_participation: 1 when a qbr activity falls in W(window_days), else 0.
-- raw_value: the number of QBRs.
SELECT
    account.account_id,
    coalesce(qbrs.held, 0) AS raw_value,
    CASE WHEN raw_value > 0 THEN 1.0 ELSE 0.0 END AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, count(*) AS held
    FROM core.crm_activities
    WHERE activity_type = 'qbr'
      AND CAST(occurred_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS qbrs USING (account_id)
