-- The product-usage inputs of the measures of sql/measures/, over the longest usage
-- window of the scorecards in use ({usage_days} days ending on $as_of), as the WITH
-- clause of the one statement that computes every measure (assets/health.py:
-- measure_values_sql). They read the rollups (sql/core_product_events.sql,
-- sql/usage_last_days.sql), not the raw events, and cover every account with events:
-- each measure keeps the scored accounts, all of them known (core.known_accounts), so
-- the events of unknown accounts never reach a score.
--  * account_days: one row per account, UTC day and delivery with events: events,
--    logins and user_days (each user-day counted once, in its first delivery);
--  * feature_days: the last day each account used each catalog feature;
--  * active_users: one row per account and active user with the last UTC day of
--    activity, so that the users active in W(n) are those with last_day > $as_of - n.
WITH account_days AS (
    SELECT account_id, day, events, logins, user_days
    FROM rollup.account_days
    WHERE delivery_date <= $as_of AND day <= $as_of AND day > $as_of - {usage_days}
),
feature_days AS (
    SELECT
        used.account_id,
        used.event_name AS feature,
        catalog.is_core,
        used.last_day
    FROM rollup.feature_last_days AS used
    JOIN core.feature_catalog AS catalog ON catalog.feature = used.event_name
    WHERE used.as_of_date = $as_of AND used.last_day > $as_of - {usage_days}
),
active_users AS (
    SELECT account_id, user_id, last_day
    FROM rollup.user_last_days
    WHERE as_of_date = $as_of AND last_day > $as_of - {usage_days}
)
