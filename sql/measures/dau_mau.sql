-- dau_mau: mean daily distinct users over W(window_days) / distinct users in
-- W(window_days); missing with no users. Banded by the scorecard.
SELECT
    account.account_id,
    usage.user_days / {window_days} / nullif(users.users, 0) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, sum(user_days) AS user_days
    FROM account_days
    WHERE day > $as_of - {window_days}
    GROUP BY account_id
) AS usage USING (account_id)
LEFT JOIN (
    SELECT account_id, count(*) AS users
    FROM active_users
    WHERE last_day > $as_of - {window_days}
    GROUP BY account_id
) AS users USING (account_id)
