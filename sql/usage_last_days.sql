-- The last UTC day each {key} was active in an account as of $as_of, in rollup.{table}:
-- over the rows of rollup.{rollup} (sql/usage_rollup.sql) of deliveries dated <= $as_of
-- and days <= $as_of. Run for each table of assets/core.py: LAST_DAYS. Kept per as-of
-- date, so that the measures (sql/usage_rollups.sql) count active users and used
-- features in a window from one row per user or event name instead of grouping the
-- window's user-days (9.3M rows for 30 days at 20,000 accounts: 0.6 s).
-- $previous, when not NULL, is an earlier as-of date whose rows are kept: those of
-- $as_of are its rows with the rows it lacks, of the deliveries after it and of the
-- days after it in the deliveries up to it. Accounts are not filtered here: the
-- measures keep the scored ones.

DELETE FROM rollup.{table} WHERE as_of_date = $as_of;

INSERT INTO rollup.{table}
SELECT $as_of, account_id, {key}, max(day)
FROM (
    SELECT account_id, {key}, last_day AS day
    FROM rollup.{table}
    WHERE as_of_date = $previous
    UNION ALL
    SELECT account_id, {key}, day
    FROM rollup.{rollup}
    WHERE delivery_date > coalesce($previous, DATE '0001-01-01')
      AND delivery_date <= $as_of AND day <= $as_of
    UNION ALL
    SELECT account_id, {key}, day
    FROM rollup.{rollup}
    WHERE delivery_date <= $previous AND day > $previous AND day <= $as_of
)
GROUP BY account_id, {key};

-- Only $as_of, the latest date before it (a rerun of $as_of starts from it) and later
-- dates are kept.
DELETE FROM rollup.{table} WHERE as_of_date < coalesce($previous, $as_of);
