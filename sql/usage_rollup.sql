-- Rebuild the product-usage rollups of every product_events delivery dated >= $from
-- (the raw files $files). Product events are append-only: an event_id that an earlier
-- delivery already brought is a resent copy, listed in rollup.resent_events and counted
-- once, from the first delivery.
--  * rollup.user_days: one row per delivery, account, product user and UTC day, with
--    event counts; first_delivery marks the earliest delivery of each (account, user,
--    day), so that counting marked rows counts user-days once;
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

CREATE OR REPLACE TEMP TABLE fresh_user_days AS
SELECT
    event._delivery_date AS delivery_date,
    event.account_id,
    event.user_id,
    CAST(event.occurred_at AS DATE) AS day,
    count(*) AS events,
    count(*) FILTER (WHERE event.event_name = 'login') AS logins,
    count(*) FILTER (WHERE event.event_name = 'training_completed') AS trainings,
    count(*) FILTER (WHERE event.event_name = 'limit_reached') AS limit_hits
FROM read_parquet($files) AS event
ANTI JOIN rollup.resent_events AS resent
    ON resent.event_id = event.event_id AND resent.delivery_date = event._delivery_date
GROUP BY ALL;

DELETE FROM rollup.user_days WHERE delivery_date >= $from;

-- Only a UTC day that several rebuilt deliveries hold can have a user-day twice among
-- them: rank the rows of those days, and mark the others at once (most days, when
-- each delivery brings its own day's events).
CREATE OR REPLACE TEMP TABLE shared_days AS
SELECT day
FROM (SELECT DISTINCT delivery_date, day FROM fresh_user_days)
GROUP BY day
HAVING count(*) > 1;

INSERT INTO rollup.user_days
WITH earlier AS (
    SELECT DISTINCT account_id, user_id, day
    FROM rollup.user_days
    WHERE day BETWEEN (SELECT min(day) FROM fresh_user_days)
                  AND (SELECT max(day) FROM fresh_user_days)
),
ranked AS (
    SELECT fresh.*,
           row_number() OVER (PARTITION BY account_id, user_id, day
                              ORDER BY delivery_date) = 1 AS first_of_rebuilt
    FROM fresh_user_days AS fresh
    WHERE day IN (SELECT day FROM shared_days)
    UNION ALL
    SELECT fresh.*, TRUE AS first_of_rebuilt
    FROM fresh_user_days AS fresh
    WHERE day NOT IN (SELECT day FROM shared_days)
)
SELECT
    ranked.* EXCLUDE (first_of_rebuilt),
    ranked.first_of_rebuilt AND earlier.day IS NULL AS first_delivery
FROM ranked
LEFT JOIN earlier
    ON earlier.account_id = ranked.account_id AND earlier.user_id = ranked.user_id
   AND earlier.day = ranked.day;

DROP TABLE shared_days;
DROP TABLE fresh_user_days;

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

DELETE FROM rollup.deliveries WHERE delivery_date >= $from;

INSERT INTO rollup.deliveries
SELECT delivery_date, fingerprint
FROM meta.deliveries
WHERE dataset = 'product_events' AND delivery_date >= $from;
