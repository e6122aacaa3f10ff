-- mart.portfolio_kpis for $as_of: the scoreboard of the whole book and of each CSM, on
-- the accounts scored that day, each KPI beside its target (config table kpi_targets).
DELETE FROM mart.portfolio_kpis WHERE as_of_date = $as_of;
INSERT INTO mart.portfolio_kpis
WITH accounts AS (
    SELECT account_id, coalesce(csm_owner, 'unassigned') AS csm, csm_owner, health_score,
           colour, contract_start_date
    FROM ops_accounts
),
nps_responses AS (
    SELECT accounts.csm, latest.score
    FROM latest_nps($as_of, $nps_window_days) AS latest
    JOIN accounts USING (account_id)
),
csat_responses AS (
    SELECT accounts.csm, surveys.score
    FROM core.surveys AS surveys
    JOIN accounts USING (account_id)
    WHERE surveys.survey_type = 'csat'
      AND CAST(surveys.responded_at AS DATE) BETWEEN $as_of - $csat_window_days + 1 AND $as_of
),
qbrs AS (
    SELECT account_id, qbrs FROM activity_counts($as_of, $qbr_window_days)
),
first_value AS (
    SELECT account_id, min(completed_date) AS completed_date
    FROM core.onboarding_milestones
    WHERE milestone = 'first_value' AND completed_date <= $as_of
    GROUP BY account_id
),
per_account AS (
    SELECT accounts.*, coalesce(qbrs.qbrs, 0) > 0 AS had_qbr,
           CASE WHEN accounts.contract_start_date > $as_of - $first_value_window_days
                THEN first_value.completed_date - accounts.contract_start_date
           END AS days_to_first_value
    FROM accounts
    LEFT JOIN qbrs USING (account_id)
    LEFT JOIN first_value USING (account_id)
),
book AS (
    SELECT
        CASE WHEN grouping(csm) = 0 THEN 'csm' ELSE 'all' END AS group_by,
        coalesce(csm, 'all') AS group_value,
        avg(CAST(colour = 'green' AS DOUBLE)) AS share_green,
        avg(CAST(colour = 'yellow' AS DOUBLE)) AS share_yellow,
        avg(CAST(colour = 'red' AS DOUBLE)) AS share_red,
        -- scores as exact decimals: the same mean in every run, whatever the threads
        avg(CAST(health_score AS DECIMAL(18, 1))) AS avg_health,
        avg(CAST(had_qbr AS DOUBLE)) AS qbr_completion,
        CAST(median(days_to_first_value) AS DOUBLE) AS time_to_first_value,
        -- unassigned accounts count in the book's total but are no CSM's: a group with
        -- no CSM (the unassigned one, or a book nobody owns) has nothing to divide by
        count(*) / nullif(count(DISTINCT csm_owner), 0) AS accounts_per_csm
    FROM per_account
    GROUP BY GROUPING SETS ((), (csm))
),
surveyed AS (
    SELECT
        CASE WHEN grouping(csm) = 0 THEN 'csm' ELSE 'all' END AS group_by,
        coalesce(csm, 'all') AS group_value,
        100 * (avg(CAST(score >= 9 AS DOUBLE)) - avg(CAST(score <= 6 AS DOUBLE))) AS nps
    FROM nps_responses
    GROUP BY GROUPING SETS ((), (csm))
),
satisfaction AS (
    SELECT
        CASE WHEN grouping(csm) = 0 THEN 'csm' ELSE 'all' END AS group_by,
        coalesce(csm, 'all') AS group_value,
        avg(score) AS csat
    FROM csat_responses
    GROUP BY GROUPING SETS ((), (csm))
),
retained AS (
    SELECT group_by, group_value, grr, nrr, logo_retention
    FROM main.retention_kpis
    WHERE as_of_date = $as_of
),
wide AS (
    SELECT book.*, surveyed.nps, satisfaction.csat, retained.grr, retained.nrr,
           retained.logo_retention
    FROM book
    LEFT JOIN surveyed USING (group_by, group_value)
    LEFT JOIN satisfaction USING (group_by, group_value)
    LEFT JOIN retained USING (group_by, group_value)
),
long AS (
    SELECT *
    FROM wide UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        share_green, share_yellow, share_red, avg_health, nps, csat, qbr_completion, grr,
        nrr, logo_retention, time_to_first_value, accounts_per_csm))
)
SELECT
    $as_of AS as_of_date, long.group_by, long.group_value, long.kpi, long.value,
    targets.target, targets.comparison,
    CASE targets.comparison WHEN '>' THEN long.value > targets.target
                            WHEN '<' THEN long.value < targets.target
                            WHEN '>=' THEN long.value >= targets.target
                            WHEN '<=' THEN long.value <= targets.target END AS met
FROM long
JOIN kpi_targets AS targets USING (kpi)
ORDER BY long.group_by, long.group_value, targets.position;
