-- mart.weekly_usage and mart.feature_adoption for the ISO week (Monday to Sunday) that
-- holds $as_of, counted up to $as_of, for the scored accounts (ops_accounts). A week is
-- written whole by a run whose as-of date is not older than the one that wrote it, and
-- left alone by an older one, so each week ends as its last date wrote it (its accounts
-- included), in whatever order dates run.
--  * users and their active days come from the daily rollups (core.product_user_days);
--  * distinct users per feature come from the raw events of the deliveries $files, those
--    that hold events of the week (one week of events, not the history).

CREATE OR REPLACE TEMP TABLE usage_week AS
SELECT CAST(date_trunc('week', $as_of) AS DATE) AS week_start;

CREATE OR REPLACE TEMP TABLE week_users AS
SELECT
    account_id,
    user_id,
    count(DISTINCT day) AS active_days,
    CAST(sum(events) AS BIGINT) AS events,
    CAST(sum(logins) AS BIGINT) AS logins
FROM core.product_user_days
WHERE day >= (SELECT week_start FROM usage_week)
  AND account_id IN (SELECT account_id FROM ops_accounts)
GROUP BY account_id, user_id;

-- The publish copies only the weeks marked here (assets/publish.py).
INSERT OR IGNORE INTO main.unpublished_dates
SELECT table_name, week_start
FROM usage_week, (VALUES ('mart.weekly_usage'), ('mart.feature_adoption')) AS marts(table_name);

DELETE FROM mart.weekly_usage
WHERE week_start = (SELECT week_start FROM usage_week) AND as_of_date <= $as_of;

INSERT INTO mart.weekly_usage
SELECT
    week.week_start,
    CAST($as_of AS DATE),
    account.account_id,
    coalesce(usage.active_users, 0),
    account.licensed_seats,
    coalesce(usage.active_users, 0) / account.licensed_seats,
    coalesce(usage.user_days, 0),
    coalesce(usage.events, 0),
    coalesce(usage.logins, 0),
    coalesce(usage.top_users, [])
FROM ops_accounts AS account
CROSS JOIN usage_week AS week
LEFT JOIN (
    SELECT
        account_id,
        count(*) AS active_users,
        CAST(sum(active_days) AS BIGINT) AS user_days,
        CAST(sum(events) AS BIGINT) AS events,
        CAST(sum(logins) AS BIGINT) AS logins,
        list(struct_pack(user_id, active_days, events)
             ORDER BY active_days DESC, events DESC, user_id)[1:$power_users] AS top_users
    FROM week_users
    GROUP BY account_id
) AS usage USING (account_id)
WHERE NOT EXISTS (SELECT 1 FROM mart.weekly_usage AS newer
                  WHERE newer.week_start = week.week_start AND newer.as_of_date > $as_of);

CREATE OR REPLACE TEMP TABLE week_feature_users AS
SELECT
    event.account_id,
    event.event_name AS feature,
    count(DISTINCT event.user_id) AS users,
    count(*) AS events
FROM read_parquet($files) AS event
WHERE event._delivery_date <= $as_of
  AND event.occurred_at >= CAST((SELECT week_start FROM usage_week) AS TIMESTAMP)
  AND event.occurred_at < CAST($as_of + 1 AS TIMESTAMP)
  AND event.account_id IN (SELECT account_id FROM ops_accounts)
  AND NOT EXISTS (SELECT 1 FROM rollup.resent_events AS resent
                  WHERE resent.event_id = event.event_id
                    AND resent.delivery_date = event._delivery_date)
GROUP BY ALL;

DELETE FROM mart.feature_adoption
WHERE week_start = (SELECT week_start FROM usage_week) AND as_of_date <= $as_of;

INSERT INTO mart.feature_adoption
SELECT
    week.week_start,
    CAST($as_of AS DATE),
    account.account_id,
    catalog.feature,
    catalog.is_core,
    catalog.plan_tier,
    coalesce(used.users, 0),
    usage.active_users,
    coalesce(used.users, 0) / nullif(usage.active_users, 0),
    coalesce(used.events, 0)
FROM ops_accounts AS account
CROSS JOIN usage_week AS week
CROSS JOIN core.feature_catalog AS catalog
-- The week's usage rows of this run: none when a newer date has written the week.
JOIN mart.weekly_usage AS usage
    ON usage.account_id = account.account_id AND usage.week_start = week.week_start
   AND usage.as_of_date = $as_of
LEFT JOIN week_feature_users AS used
    ON used.account_id = account.account_id AND used.feature = catalog.feature;

DROP TABLE week_users;
DROP TABLE week_feature_users;
DROP TABLE usage_week;
