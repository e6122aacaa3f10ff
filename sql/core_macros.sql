-- Helpers over the core layer that several steps share, created once the core layer
-- exists: clamp01(x), mrr_on(day), latest_nps(as_of, days), activity_counts(as_of, days).

CREATE OR REPLACE TEMP MACRO clamp01(x) AS
    CASE WHEN x IS NULL THEN NULL ELSE greatest(0.0, least(1.0, x)) END;

-- MRR(x): the USD mrr of subscriptions with start_date <= x < end_date (null = open),
-- added exactly (exact_sum, sql/session_macros.sql).
CREATE OR REPLACE TEMP MACRO mrr_on(day) AS TABLE
    SELECT account_id, exact_sum(mrr_usd) AS mrr
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
