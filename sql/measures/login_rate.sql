-- login_rate: clamp(logins per seat per week in W(window_days) /
-- expected_logins_per_seat_week). raw_value: logins per seat per week.
SELECT
    account.account_id,
    coalesce(usage.logins, 0) / ({window_days} / 7) / account.licensed_seats AS raw_value,
    clamp01(raw_value / {expected_logins_per_seat_week}) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, sum(logins) AS logins
    FROM account_days
    WHERE day > $as_of - {window_days}
    GROUP BY account_id
) AS usage USING (account_id)
