-- What every measure of sql/measures/ reads, built once per run for $as_of:
--  * scored_accounts: the accounts that get a score on $as_of, with segment and ARR;
--  * helpers: clamp01(x), mrr_on(day), latest_nps(as_of, days),
--    activity_counts(as_of, days).
-- The product-usage rollups (user_days, feature_days, active_users) are not tables: they
-- are CTEs of the one measure_values statement (sql/usage_rollups.sql).

CREATE OR REPLACE TEMP MACRO clamp01(x) AS
    CASE WHEN x IS NULL THEN NULL ELSE greatest(0.0, least(1.0, x)) END;

-- MRR(x): the USD mrr of subscriptions with start_date <= x < end_date (null = open).
CREATE OR REPLACE TEMP MACRO mrr_on(day) AS TABLE
    SELECT account_id, sum(mrr_usd) AS mrr
    FROM core.billing_subscriptions
    WHERE start_date <= day AND (end_date IS NULL OR day < end_date)
    GROUP BY account_id;

-- Each contact's latest nps response in the `days` days ending on as_of; responses
-- without a contact_id count one each.
CREATE OR REPLACE TEMP MACRO latest_nps(as_of, days) AS TABLE
    SELECT account_id, score
    FROM core.surveys
    WHERE survey_type = 'nps'
      AND CAST(responded_at AS DATE) BETWEEN as_of - days + 1 AND as_of
    QUALIFY contact_id IS NULL
         OR row_number() OVER (PARTITION BY account_id, contact_id
                               ORDER BY responded_at DESC, response_id DESC) = 1;

-- Per account, the CRM activities of each type the engagement measures count, in the
-- `days` days ending on as_of.
CREATE OR REPLACE TEMP MACRO activity_counts(as_of, days) AS TABLE
    SELECT account_id,
           count(*) FILTER (WHERE activity_type = 'email_sent') AS emails_sent,
           count(*) FILTER (WHERE activity_type = 'email_reply') AS email_replies,
           count(*) FILTER (WHERE activity_type = 'meeting_held') AS meetings_held,
           count(*) FILTER (WHERE activity_type = 'meeting_no_show') AS meeting_no_shows,
           count(*) FILTER (WHERE activity_type = 'qbr') AS qbrs
    FROM core.crm_activities
    WHERE CAST(occurred_at AS DATE) BETWEEN as_of - days + 1 AND as_of
    GROUP BY account_id;

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
