-- mart.health_alerts, rebuilt whole from history: the score conditions from
-- mart.account_health, the others from history.alert_conditions. An episode is a run of
-- consecutive run dates (dates with scores) on which the condition holds for the
-- account; it is raised on its first date and cleared on the next run date.
CREATE OR REPLACE TEMP TABLE run_dates AS
SELECT as_of_date, row_number() OVER (ORDER BY as_of_date) AS position
FROM (SELECT DISTINCT as_of_date FROM mart.account_health);

CREATE OR REPLACE TEMP TABLE alert_days AS
WITH snapshots AS (
    SELECT as_of_date, account_id, health_score, tier, score_delta_30d,
           lag(health_score) OVER account_history AS previous_score,
           lag(as_of_date) OVER account_history AS previous_date
    FROM mart.account_health
    WINDOW account_history AS (PARTITION BY account_id ORDER BY as_of_date)
)
SELECT as_of_date, account_id, 'entered_critical' AS alert_type,
       format('Health score {:.1f}: critical{}', health_score,
              CASE WHEN previous_score IS NULL THEN ', at its first scoring'
                   ELSE format(' (was {:.1f} on {})', previous_score, previous_date) END)
           AS message,
       previous_score, previous_date
FROM snapshots WHERE tier = 'critical'
UNION ALL
SELECT as_of_date, account_id, 'dropped_below_60',
       format('Health score fell below {:g} to {:.1f} (was {:.1f} on {})', $below_score,
              health_score, previous_score, previous_date),
       previous_score, previous_date
FROM snapshots WHERE health_score < $below_score
UNION ALL
SELECT as_of_date, account_id, 'improved_20',
       format('Health score up {:.1f} points in 30 days, to {:.1f}', score_delta_30d,
              health_score),
       previous_score, previous_date
FROM snapshots WHERE score_delta_30d >= $min_points_in_30_days
UNION ALL
SELECT as_of_date, account_id, alert_type, message, NULL, NULL
FROM history.alert_conditions;

CREATE OR REPLACE TEMP TABLE alert_episodes AS
WITH islands AS (
    SELECT alert_days.*, run_dates.position,
           run_dates.position - row_number() OVER (
               PARTITION BY account_id, alert_type ORDER BY alert_days.as_of_date) AS island
    FROM alert_days JOIN run_dates USING (as_of_date)
),
episodes AS (
    SELECT account_id, alert_type, min(as_of_date) AS raised, max(position) AS last_position
    FROM islands
    GROUP BY account_id, alert_type, island
)
SELECT episodes.*, first_day.message, first_day.previous_score, first_day.previous_date,
       cleared.as_of_date AS cleared_on
FROM episodes
JOIN alert_days AS first_day
  ON first_day.account_id = episodes.account_id
 AND first_day.alert_type = episodes.alert_type
 AND first_day.as_of_date = episodes.raised
LEFT JOIN run_dates AS cleared ON cleared.position = episodes.last_position + 1
-- dropped_below_60 needs a previous snapshot at or above the line.
WHERE episodes.alert_type <> 'dropped_below_60'
   OR first_day.previous_score >= $below_score;

-- Drivers of score alerts: the three measures whose contribution fell the most between
-- the previous snapshot and the day raised (rose the most for improved_20).
CREATE OR REPLACE TEMP TABLE alert_drivers AS
WITH score_episodes AS (
    SELECT account_id, alert_type, raised, previous_date
    FROM alert_episodes
    WHERE alert_type IN ('entered_critical', 'dropped_below_60', 'improved_20')
      AND previous_date IS NOT NULL
),
changes AS (
    SELECT episode.account_id, episode.alert_type, episode.raised, measures.measure,
           coalesce(sum(measures.contribution)
                    FILTER (WHERE measures.as_of_date = episode.raised), 0)
           - coalesce(sum(measures.contribution)
                      FILTER (WHERE measures.as_of_date = episode.previous_date), 0) AS change
    FROM score_episodes AS episode
    JOIN mart.health_measures AS measures
      ON measures.account_id = episode.account_id
     AND measures.as_of_date IN (episode.raised, episode.previous_date)
    GROUP BY ALL
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY account_id, alert_type, raised
        ORDER BY round(CASE WHEN alert_type = 'improved_20' THEN -change ELSE change END, 6),
                 measure) AS position
    FROM changes
)
SELECT account_id, alert_type, raised,
       string_agg(format('{} {:+.1f} pts', measure, change), ', ' ORDER BY position)
           AS drivers
FROM ranked
WHERE position <= 3
GROUP BY account_id, alert_type, raised;

DELETE FROM mart.health_alerts;
INSERT INTO mart.health_alerts
SELECT
    md5(episode.account_id || '|' || episode.alert_type || '|' || episode.raised)[:16]
        AS alert_id,
    episode.raised AS as_of_date,
    episode.account_id,
    episode.alert_type,
    types.severity,
    episode.message,
    list_concat(types.actions, CASE WHEN types.tier_playbook THEN playbooks.first_steps
                                    ELSE [] END) AS actions,
    coalesce(drivers.drivers, health.top_drivers) AS drivers,
    episode.cleared_on
FROM alert_episodes AS episode
JOIN alert_types AS types USING (alert_type)
JOIN mart.account_health AS health
  ON health.account_id = episode.account_id AND health.as_of_date = episode.raised
LEFT JOIN playbooks ON playbooks.colour = health.colour
LEFT JOIN alert_drivers AS drivers
  ON drivers.account_id = episode.account_id AND drivers.alert_type = episode.alert_type
 AND drivers.raised = episode.raised
ORDER BY episode.raised, episode.account_id, episode.alert_type;
