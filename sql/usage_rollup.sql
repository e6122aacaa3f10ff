-- Rebuild the product-usage rollups of every product_events delivery dated >= $from
-- (the raw files $files), in layout $layout. Product events are append-only: an
-- event_id that an earlier delivery already brought is a resent copy, listed in
-- rollup.resent_events and counted once, from the first delivery.
--  * rollup.user_days: one row per delivery, account, product user and UTC day, with
--    event counts; first_delivery marks the earliest delivery of each (account, user,
--    day), so that counting marked rows counts user-days once;
--  * rollup.account_days: the user-days summed per delivery, account and UTC day;
--    user_days counts the rows marked first_delivery;
--  * rollup.feature_days: one row per delivery, account, UTC day and event name.
-- Deliveries before $from keep their rows: they do not depend on later ones.
-- resent_candidates (event_id, delivery_date): every copy of the ids that may be in
-- several deliveries (assets/core.py: resent_candidates).

DELETE FROM rollup.resent_events WHERE delivery_date >= $from;

INSERT INTO rollup.resent_events
SELECT event_id, delivery_date, first_delivery
FROM (
    SELECT event_id, delivery_date,
           min(delivery_date) OVER (PARTITION BY event_id) AS first_delivery
    FROM resent_candidates
)
WHERE delivery_date > first_delivery AND delivery_date >= $from;

-- The UTC days of the rebuilt deliveries' events; `shared` when several of them hold
-- the day: only there can a user-day be twice among them. Counted before resent copies
-- are dropped, which can only add shared days.
CREATE OR REPLACE TEMP TABLE rebuilt_days AS
SELECT CAST(occurred_at AS DATE) AS day, count(DISTINCT _delivery_date) > 1 AS shared
FROM read_parquet($files)
GROUP BY ALL;

-- The user-days of the rebuilt deliveries on their days that are (not) shared,
-- aggregated as they are inserted: a temporary table of them cost more than the
-- aggregation (35.8M rows: 6 s of 24 s).
CREATE OR REPLACE TEMP MACRO fresh_user_days(files, on_shared_days) AS TABLE
SELECT
    event._delivery_date AS delivery_date,
    event.account_id,
    event.user_id,
    CAST(event.occurred_at AS DATE) AS day,
    count(*) AS events,
    count(*) FILTER (WHERE event.event_name = 'login') AS logins,
    count(*) FILTER (WHERE event.event_name = 'training_completed') AS trainings,
    count(*) FILTER (WHERE event.event_name = 'limit_reached') AS limit_hits
FROM read_parquet(files) AS event
ANTI JOIN rollup.resent_events AS resent
    ON resent.event_id = event.event_id AND resent.delivery_date = event._delivery_date
WHERE CAST(event.occurred_at AS DATE) IN (SELECT day FROM rebuilt_days
                                          WHERE shared = on_shared_days)
GROUP BY ALL;

DELETE FROM rollup.user_days WHERE delivery_date >= $from;

-- The user-days that deliveries before $from already hold on those days.
CREATE OR REPLACE TEMP TABLE earlier_user_days AS
SELECT DISTINCT account_id, user_id, day
FROM rollup.user_days
WHERE day BETWEEN (SELECT min(day) FROM rebuilt_days) AND (SELECT max(day) FROM rebuilt_days);

-- Most days (each delivery brings its own day's events) are held by one rebuilt
-- delivery: their rows are first unless an earlier delivery holds the user-day.
INSERT INTO rollup.user_days
SELECT fresh.*, earlier.day IS NULL AS first_delivery
FROM fresh_user_days($files, false) AS fresh
LEFT JOIN earlier_user_days AS earlier
    ON earlier.account_id = fresh.account_id AND earlier.user_id = fresh.user_id
   AND earlier.day = fresh.day;

-- On shared days, the first of the rebuilt deliveries that holds the user-day.
INSERT INTO rollup.user_days
SELECT
    fresh.*,
    row_number() OVER (PARTITION BY fresh.account_id, fresh.user_id, fresh.day
                       ORDER BY fresh.delivery_date) = 1
        AND earlier.day IS NULL AS first_delivery
FROM fresh_user_days($files, true) AS fresh
LEFT JOIN earlier_user_days AS earlier
    ON earlier.account_id = fresh.account_id AND earlier.user_id = fresh.user_id
   AND earlier.day = fresh.day;

DROP TABLE earlier_user_days;
DROP TABLE rebuilt_days;
DROP MACRO TABLE fresh_user_days;

DELETE FROM rollup.account_days WHERE delivery_date >= $from;

INSERT INTO rollup.account_days
SELECT delivery_date, account_id, day, sum(events), sum(logins),
       count(*) FILTER (WHERE first_delivery)
FROM rollup.user_days
WHERE delivery_date >= $from
GROUP BY delivery_date, account_id, day;

DELETE FROM rollup.feature_days WHERE delivery_date >= $from;

INSERT INTO rollup.feature_days
SELECT
    event._delivery_date AS delivery_date,
    event.account_id,
    CAST(event.occurred_at AS DATE) AS day,
    event.event_name,
    count(*) AS events
FROM read_parquet($files) AS event
ANTI JOIN rollup.resent_events AS resent
    ON resent.event_id = event.event_id AND resent.delivery_date = event._delivery_date
GROUP BY ALL;

-- The last days as of the rebuilt deliveries' dates and after depend on them.
DELETE FROM rollup.user_last_days WHERE as_of_date >= $from;
DELETE FROM rollup.feature_last_days WHERE as_of_date >= $from;
DELETE FROM rollup.last_day_dates WHERE as_of_date >= $from;

DELETE FROM rollup.deliveries WHERE delivery_date >= $from;

-- Each fingerprint with the layout it was rolled up in (assets/core.py: ROLLUP_LAYOUT).
INSERT INTO rollup.deliveries
SELECT delivery_date, fingerprint || ' ' || $layout
FROM meta.deliveries
WHERE dataset = 'product_events' AND delivery_date >= $from;
