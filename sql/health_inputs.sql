-- The accounts every measure of sql/measures/ scores, built once per run for $as_of,
-- with segment and ARR (helpers: sql/core_macros.sql). The product-usage rollups
-- (user_days, feature_days, active_users) are not tables: they are CTEs of the one
-- measure_values statement (sql/usage_rollups.sql).

-- Scored accounts: valid CRM rows of the snapshot in force whose contract has started,
-- less churned ones (subscriptions started on or before $as_of and MRR($as_of) = 0).
-- ARR is 12 * MRR($as_of) in USD, or the CRM arr for an account with no subscriptions.
-- Each account's scorecard comes from its segment (segment_of, sql/segments.sql;
-- segment_scorecards, from config).
CREATE OR REPLACE TEMP TABLE scored_accounts AS
WITH subscriptions AS (
    SELECT account_id, bool_or(start_date <= $as_of) AS started
    FROM core.billing_subscriptions
    GROUP BY account_id
),
accounts AS (
    SELECT
        account.account_id,
        account.account_name,
        account.csm_owner,
        account.licensed_seats,
        account.executive_sponsor_identified,
        account.executive_sponsor_engaged,
        account.renewal_budget_confirmed,
        CASE WHEN subscriptions.account_id IS NULL THEN account.arr_usd
             ELSE 12 * coalesce(mrr.mrr, 0) END AS arr
    FROM core.crm_accounts AS account
    LEFT JOIN subscriptions USING (account_id)
    LEFT JOIN mrr_on($as_of) AS mrr USING (account_id)
    WHERE account.contract_start_date <= $as_of
      AND NOT (coalesce(subscriptions.started, false) AND coalesce(mrr.mrr, 0) = 0)
)
SELECT accounts.*, segment_of(accounts.arr) AS segment, segment_scorecards.scorecard
FROM accounts
JOIN segment_scorecards ON segment_scorecards.segment = segment_of(accounts.arr);
