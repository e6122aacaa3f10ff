-- dau_mau: mean daily distinct users over W(window_days) / distinct users in
-- W(window_days); missing with no users. Banded by the scorecard.
SELECT
    account.account_id,
    usage.user_days / {window_days} / nullif(usage.users, 0) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, count(*) AS user_days, count(DISTINCT user_id) AS users
    FROM user_days
    WHERE day > $as_of - {window_days}
    GROUP BY account_id
) AS usage USING (account_id)
