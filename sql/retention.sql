-- MRR movements and retention for $as_of, from core.billing_subscriptions (USD), as the
-- temporary tables mrr_movements_today and retention_today; the ttm rows the portfolio
-- KPIs read go to main.retention_kpis for $as_of, whichever date the marts hold (the
-- marts themselves: sql/retention_marts.sql). Definitions: README "Revenue and logo
-- retention". Months are calendar months; the last one is the as-of date's month.

-- MRR(a, m) of every month in which the account is active (MRR > 0). A subscription
-- counts in month m when start_date <= first day of m < end_date (null = open). Amounts
-- are summed as exact cents, so equal months compare equal.
CREATE OR REPLACE TEMP TABLE account_mrr AS
WITH subscription_months AS (
    SELECT account_id,
           CAST(round(mrr_usd, 2) AS DECIMAL(18, 2)) AS mrr,
           unnest(generate_series(
               date_trunc('month', start_date - 1) + INTERVAL 1 MONTH,
               least(date_trunc('month', coalesce(end_date - 1, $as_of)),
                     date_trunc('month', $as_of)),
               INTERVAL 1 MONTH)) AS month_start
    FROM core.billing_subscriptions
)
SELECT account_id, CAST(month_start AS DATE) AS month, sum(mrr) AS mrr
FROM subscription_months
GROUP BY ALL
HAVING sum(mrr) > 0;

-- Every account's months, from its first active month to the month after its last
-- active one, up to the as-of date's month, each compared with the month before.
CREATE OR REPLACE TEMP TABLE mrr_movements_today AS
WITH spans AS (
    SELECT account_id, min(month) AS first_active, max(month) AS last_active
    FROM account_mrr
    GROUP BY account_id
),
spine AS (
    SELECT account_id, first_active,
           CAST(unnest(generate_series(
               first_active,
               least(last_active + INTERVAL 1 MONTH, date_trunc('month', $as_of)),
               INTERVAL 1 MONTH)) AS DATE) AS month
    FROM spans
),
monthly AS (
    SELECT spine.account_id, spine.month, spine.first_active,
           coalesce(account_mrr.mrr, 0) AS mrr,
           coalesce(lag(coalesce(account_mrr.mrr, 0)) OVER (
               PARTITION BY spine.account_id ORDER BY spine.month), 0) AS previous_mrr
    FROM spine
    LEFT JOIN account_mrr USING (account_id, month)
)
SELECT
    $as_of AS as_of_date,
    month,
    account_id,
    CAST(mrr AS DOUBLE) AS mrr,
    CAST(previous_mrr AS DOUBLE) AS previous_mrr,
    CAST(mrr - previous_mrr AS DOUBLE) AS mrr_change,
    CASE WHEN mrr > 0 AND month = first_active THEN 'new'
         WHEN mrr > 0 AND previous_mrr = 0 THEN 'reactivation'
         WHEN previous_mrr > 0 AND mrr > previous_mrr THEN 'expansion'
         WHEN mrr > 0 AND mrr < previous_mrr THEN 'contraction'
         WHEN mrr = 0 AND previous_mrr > 0 THEN 'churn'
    END AS movement
FROM monthly;

-- Periods s -> e of each grain that end no later than the as-of date's month; the
-- cohort of a period is the accounts active in s, measured again in e.
CREATE OR REPLACE TEMP TABLE retention_today AS
WITH starts AS (
    SELECT CAST(unnest(generate_series(min(month), date_trunc('month', $as_of),
                                       INTERVAL 1 MONTH)) AS DATE) AS period_start
    FROM account_mrr
),
periods AS (
    SELECT grains.grain, starts.period_start,
           CAST(starts.period_start + grains.months * INTERVAL 1 MONTH AS DATE) AS period_end
    FROM starts
    CROSS JOIN (VALUES ('month', 1), ('quarter', 3), ('ttm', 12)) AS grains (grain, months)
    WHERE (grains.grain <> 'quarter' OR month(starts.period_start) IN (1, 4, 7, 10))
      AND starts.period_start + grains.months * INTERVAL 1 MONTH <= date_trunc('month', $as_of)
),
cohorts AS (
    SELECT periods.grain, periods.period_start, periods.period_end,
           segment_of(12 * start_mrr.mrr) AS segment,
           -- the account's current owner (core.known_accounts), for all history
           coalesce(owners.csm_owner, 'unassigned') AS csm,
           start_mrr.mrr AS starting,
           coalesce(end_mrr.mrr, 0) AS ending
    FROM periods
    JOIN account_mrr AS start_mrr ON start_mrr.month = periods.period_start
    LEFT JOIN account_mrr AS end_mrr
        ON end_mrr.account_id = start_mrr.account_id AND end_mrr.month = periods.period_end
    LEFT JOIN core.known_accounts AS owners ON owners.account_id = start_mrr.account_id
),
grouped AS (
    SELECT grain, period_start, period_end,
           CASE WHEN grouping(segment) = 0 THEN 'segment'
                WHEN grouping(csm) = 0 THEN 'csm' ELSE 'all' END AS group_by,
           coalesce(segment, csm, 'all') AS group_value,
           sum(starting) AS starting_mrr,
           sum(greatest(ending - starting, 0)) AS expansion_mrr,
           sum(starting - ending) FILTER (WHERE ending > 0 AND ending < starting)
               AS contraction_mrr,
           sum(starting) FILTER (WHERE ending = 0) AS churned_mrr,
           sum(ending) AS ending_mrr,
           sum(least(ending, starting)) AS retained_mrr,
           count(*) AS starting_logos,
           count(*) FILTER (WHERE ending > 0) AS retained_logos
    FROM cohorts
    GROUP BY GROUPING SETS ((grain, period_start, period_end),
                            (grain, period_start, period_end, segment),
                            (grain, period_start, period_end, csm))
)
SELECT
    $as_of AS as_of_date,
    grain, period_start, period_end, group_by, group_value,
    CAST(starting_mrr AS DOUBLE) AS starting_mrr,
    CAST(expansion_mrr AS DOUBLE) AS expansion_mrr,
    CAST(coalesce(contraction_mrr, 0) AS DOUBLE) AS contraction_mrr,
    CAST(coalesce(churned_mrr, 0) AS DOUBLE) AS churned_mrr,
    CAST(ending_mrr AS DOUBLE) AS ending_mrr,
    CAST(retained_mrr AS DOUBLE) / CAST(starting_mrr AS DOUBLE) AS grr,
    CAST(ending_mrr AS DOUBLE) / CAST(starting_mrr AS DOUBLE) AS nrr,
    starting_logos,
    retained_logos,
    retained_logos / starting_logos AS logo_retention,
    CASE WHEN grain = 'ttm' THEN
        CASE group_by WHEN 'all' THEN CAST($grr_all AS DOUBLE)
                      WHEN 'csm' THEN CAST($grr_csm AS DOUBLE)
                      ELSE CASE group_value
                               WHEN 'enterprise' THEN CAST($grr_enterprise AS DOUBLE)
                               WHEN 'mid_market' THEN CAST($grr_mid_market AS DOUBLE)
                               ELSE CAST($grr_smb AS DOUBLE) END END
    END AS grr_target,
    CASE WHEN grain = 'ttm' THEN CAST($nrr_target AS DOUBLE) END AS nrr_target,
    CASE WHEN grain = 'ttm' THEN CAST($logo_target AS DOUBLE) END AS logo_target
FROM grouped;

-- GRR, NRR and logo retention of the ttm period ending in $as_of's month, for the book
-- and each CSM (the portfolio KPIs of $as_of: sql/portfolio_kpis.sql). Kept per date: a
-- run of an older date reads its own, not those of the newer date the marts hold.
DELETE FROM main.retention_kpis WHERE as_of_date = $as_of;
INSERT INTO main.retention_kpis
SELECT $as_of, group_by, group_value, grr, nrr, logo_retention
FROM retention_today
WHERE grain = 'ttm' AND group_by IN ('all', 'csm') AND period_end = date_trunc('month', $as_of);
