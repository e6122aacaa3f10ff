-- reports_account_weekly_usage: the account's ISO weeks of mart.weekly_usage that start
-- on or after $weeks_since and were counted up to $as_of at most (a later run may have
-- counted the week further: that row says more than the as-of date knew), oldest first.
-- `complete`: counted to its Sunday.
SELECT
    week_start, as_of_date, as_of_date = week_start + 6 AS complete,
    active_users, licensed_seats, active_user_share, user_days, events, logins, top_users
FROM mart.weekly_usage
WHERE account_id = $account_id AND week_start >= $weeks_since AND as_of_date <= $as_of
ORDER BY week_start
