-- The product-usage rollups the measures of sql/measures/ read, over the longest usage
-- window of the scorecards in use ({usage_days} days ending on $as_of), as the WITH clause
-- of the one statement that computes every measure (assets/health.py:
-- measure_values_sql). As CTEs DuckDB streams each to the measures that read it instead
-- of writing and re-reading a temp table of ~one row per product event. They cover every
-- account with events; each measure keeps the scored accounts.
--  * user_days: one row per account, product user and UTC day with any product event;
--  * feature_days: the last day each account used each catalog feature;
--  * active_users: one row per account and active user with the last UTC day of
--    activity, so that the users active in W(n) are those with last_day > $as_of - n.
WITH user_days AS (
    SELECT
        event.account_id,
        event.user_id,
        CAST(event.occurred_at AS DATE) AS day,
        count(*) AS events,
        count(*) FILTER (WHERE event.event_name = 'login') AS logins
    FROM core.product_events AS event
    WHERE event.occurred_at >= CAST($as_of - {usage_days} + 1 AS TIMESTAMP)
      AND event.occurred_at < CAST($as_of + 1 AS TIMESTAMP)
    GROUP BY ALL
),
feature_days AS (
    SELECT
        event.account_id,
        event.event_name AS feature,
        catalog.is_core,
        max(CAST(event.occurred_at AS DATE)) AS last_day
    FROM core.product_events AS event
    JOIN core.feature_catalog AS catalog ON catalog.feature = event.event_name
    WHERE event.occurred_at >= CAST($as_of - {usage_days} + 1 AS TIMESTAMP)
      AND event.occurred_at < CAST($as_of + 1 AS TIMESTAMP)
    GROUP BY ALL
),
active_users AS (
    SELECT account_id, user_id, max(day) AS last_day
    FROM user_days
    GROUP BY account_id, user_id
)
