-- Columns of mart.account_health derived from history: score_delta_7d, score_delta_30d
-- and top_drivers. Each depends only on the snapshots of its own date and of 7 / 30 days
-- before, so writing $as_of refreshes $as_of, $as_of + 7 and $as_of + 30: running dates
-- in any order ends in the same table.

CREATE OR REPLACE TEMP TABLE refreshed_dates AS
SELECT DISTINCT as_of_date
FROM mart.account_health
WHERE as_of_date IN ($as_of, $as_of + 7, $as_of + 30);

-- The publish copies only the dates marked (assets/publish.py): the later dates too.
INSERT OR IGNORE INTO main.unpublished_dates
SELECT 'mart.account_health', as_of_date FROM refreshed_dates;

-- The snapshots `days` before the refreshed dates: read alone, not the whole history.
CREATE OR REPLACE TEMP MACRO scores_before(days) AS TABLE
    SELECT as_of_date, account_id, health_score
    FROM mart.account_health
    WHERE as_of_date IN (SELECT as_of_date - days FROM refreshed_dates);

CREATE OR REPLACE TEMP TABLE health_deltas AS
SELECT
    today.as_of_date,
    today.account_id,
    round(today.health_score - week_before.health_score, 1) AS score_delta_7d,
    round(today.health_score - month_before.health_score, 1) AS score_delta_30d
FROM mart.account_health AS today
LEFT JOIN scores_before(7) AS week_before
  ON week_before.account_id = today.account_id
 AND week_before.as_of_date = today.as_of_date - 7
LEFT JOIN scores_before(30) AS month_before
  ON month_before.account_id = today.account_id
 AND month_before.as_of_date = today.as_of_date - 30
WHERE today.as_of_date IN (SELECT as_of_date FROM refreshed_dates);

-- Drivers: each measure's change in contribution (points) since the snapshot 30 days
-- before, a measure missing on one side counting 0; the three largest by absolute value.
-- Without that snapshot: contribution minus full points, the three furthest below.
CREATE OR REPLACE TEMP TABLE health_drivers AS
WITH accounts AS (
    SELECT today.as_of_date, today.account_id, month_before.account_id IS NOT NULL AS compared
    FROM mart.account_health AS today
    LEFT JOIN scores_before(30) AS month_before
      ON month_before.account_id = today.account_id
     AND month_before.as_of_date = today.as_of_date - 30
    WHERE today.as_of_date IN (SELECT as_of_date FROM refreshed_dates)
),
today AS (
    SELECT as_of_date, account_id, measure, contribution, effective_weight
    FROM mart.health_measures
    WHERE as_of_date IN (SELECT as_of_date FROM refreshed_dates)
),
month_before AS (
    SELECT as_of_date + 30 AS as_of_date, account_id, measure, contribution
    FROM mart.health_measures
    WHERE as_of_date IN (SELECT as_of_date - 30 FROM refreshed_dates)
),
changes AS (
    SELECT accounts.as_of_date, accounts.account_id, today.measure,
           today.contribution - today.effective_weight AS change,
           change AS sort_key
    FROM accounts
    JOIN today USING (as_of_date, account_id)
    WHERE NOT accounts.compared
    UNION ALL
    SELECT accounts.as_of_date, accounts.account_id,
           coalesce(today.measure, month_before.measure) AS measure,
           coalesce(today.contribution, 0) - coalesce(month_before.contribution, 0) AS change,
           -abs(change) AS sort_key
    FROM accounts
    JOIN (today FULL OUTER JOIN month_before USING (as_of_date, account_id, measure))
      USING (as_of_date, account_id)
    WHERE accounts.compared
)
-- min_by(..., 3): the three lowest sort keys (ties by measure name), lowest first.
SELECT as_of_date, account_id,
       array_to_string(
           list_transform(
               min_by({'measure': measure, 'change': change}, (round(sort_key, 6), measure), 3),
               lambda driver: format('{} {:+.1f} pts', driver.measure, driver.change)),
           ', ') AS top_drivers
FROM changes
GROUP BY as_of_date, account_id;

UPDATE mart.account_health AS health
SET score_delta_7d = deltas.score_delta_7d,
    score_delta_30d = deltas.score_delta_30d
FROM health_deltas AS deltas
WHERE health.as_of_date = deltas.as_of_date AND health.account_id = deltas.account_id;

UPDATE mart.account_health AS health
SET top_drivers = drivers.top_drivers
FROM health_drivers AS drivers
WHERE health.as_of_date = drivers.as_of_date AND health.account_id = drivers.account_id;
