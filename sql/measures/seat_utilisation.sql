-- seat_utilisation: clamp(active users in W(window_days) / licensed_seats); an active
-- user is a user_id with any product event. raw_value: the unclamped ratio.
SELECT
    account.account_id,
    coalesce(usage.active_users, 0) / account.licensed_seats AS raw_value,
    clamp01(raw_value) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, count(*) AS active_users
    FROM active_users
    WHERE last_day > $as_of - {window_days}
    GROUP BY account_id
) AS usage USING (account_id)
