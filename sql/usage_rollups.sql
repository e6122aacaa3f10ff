-- The product-usage inputs of the measures of sql/measures/, over the longest usage
-- window of the scorecards in use ({usage_days} days ending on $as_of), as the WITH
-- clause of the one statement that computes every measure (assets/health.py:
-- measure_values_sql). They read the daily rollups (sql/core_product_events.sql), not
-- the raw events, and cover every account with events; each measure keeps the scored
-- accounts.
--  * user_days: one row per account, product user, UTC day and delivery with events;
--    count the rows marked first_delivery to count user-days once;
--  * feature_days: the last day each account used each catalog feature;
--  * active_users: one row per account and active user with the last UTC day of
--    activity, so that the users active in W(n) are those with last_day > $as_of - n.
WITH user_days AS (
    SELECT account_id, user_id, day, events, logins, first_delivery
    FROM core.product_user_days
    WHERE day > $as_of - {usage_days}
),
feature_days AS (
    SELECT
        usage.account_id,
        usage.event_name AS feature,
        catalog.is_core,
        max(usage.day) AS last_day
    FROM core.product_feature_days AS usage
    JOIN core.feature_catalog AS catalog ON catalog.feature = usage.event_name
    WHERE usage.day > $as_of - {usage_days}
    GROUP BY ALL
),
active_users AS (
    SELECT account_id, user_id, max(day) AS last_day
    FROM user_days
    GROUP BY account_id, user_id
)
