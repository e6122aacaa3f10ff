-- qbr_participation: 1 when a qbr activity falls in W(window_days), else 0.
-- raw_value: the number of QBRs.
SELECT
    account.account_id,
    coalesce(activities.qbrs, 0) AS raw_value,
    CASE WHEN raw_value > 0 THEN 1.0 ELSE 0.0 END AS value
FROM scored_accounts AS account
LEFT JOIN activity_counts($as_of, {window_days}) AS activities USING (account_id)
