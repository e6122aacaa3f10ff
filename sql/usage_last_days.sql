-- The last UTC day each product user, and each event name, was active in an account as
-- of $as_of: over the rollup rows (sql/usage_rollup.sql) of deliveries dated <= $as_of
-- and days <= $as_of. Kept per as-of date, so that the measures (sql/usage_rollups.sql)
-- count active users and used features in a window from one row per user instead of
-- grouping the window's user-days (9.3M rows for 30 days at 20,000 accounts: 0.6 s).
-- $previous, when not NULL, is an earlier as-of date whose rows are kept: those of
-- $as_of are its rows with the rows it lacks, of the deliveries after it and of the
-- days after it in the deliveries up to it (assets/core.py: update_last_days).
-- Accounts are not filtered here: the readers keep the known ones.

DELETE FROM rollup.user_last_days WHERE as_of_date = $as_of;

INSERT INTO rollup.user_last_days
SELECT $as_of, account_id, user_id, max(day)
FROM (
    SELECT account_id, user_id, last_day AS day
    FROM rollup.user_last_days
    WHERE as_of_date = $previous
    UNION ALL
    SELECT account_id, user_id, day
    FROM rollup.user_days
    WHERE delivery_date > coalesce($previous, DATE '0001-01-01')
      AND delivery_date <= $as_of AND day <= $as_of
    UNION ALL
    SELECT account_id, user_id, day
    FROM rollup.user_days
    WHERE delivery_date <= $previous AND day > $previous AND day <= $as_of
)
GROUP BY account_id, user_id;

DELETE FROM rollup.feature_last_days WHERE as_of_date = $as_of;

INSERT INTO rollup.feature_last_days
SELECT $as_of, account_id, event_name, max(day)
FROM (
    SELECT account_id, event_name, last_day AS day
    FROM rollup.feature_last_days
    WHERE as_of_date = $previous
    UNION ALL
    SELECT account_id, event_name, day
    FROM rollup.feature_days
    WHERE delivery_date > coalesce($previous, DATE '0001-01-01')
      AND delivery_date <= $as_of AND day <= $as_of
    UNION ALL
    SELECT account_id, event_name, day
    FROM rollup.feature_days
    WHERE delivery_date <= $previous AND day > $previous AND day <= $as_of
)
GROUP BY account_id, event_name;

INSERT OR IGNORE INTO rollup.last_day_dates VALUES ($as_of);

-- Only $as_of, the latest date before it (a rerun of $as_of starts from it) and later
-- dates are kept.
DELETE FROM rollup.user_last_days
WHERE as_of_date < coalesce($previous, $as_of);

DELETE FROM rollup.feature_last_days
WHERE as_of_date < coalesce($previous, $as_of);

DELETE FROM rollup.last_day_dates
WHERE as_of_date < coalesce($previous, $as_of);
