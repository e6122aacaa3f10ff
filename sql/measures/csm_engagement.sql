-- csm_engagement: how many of two habits hold over W(window_days): regular meetings
-- (at least min_meetings_held meeting_held) and responsive (email_reply / email_sent at
-- least min_email_response; not met when no email_sent). raw_value 0, 1 or 2.
-- Banded by the scorecard.
SELECT
    account.account_id,
    CAST(coalesce(activities.held, 0) >= {min_meetings_held} AS INTEGER)
      + CAST(coalesce(activities.replies / nullif(activities.sent, 0), 0)
             >= {min_email_response} AS INTEGER) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           count(*) FILTER (WHERE activity_type = 'meeting_held') AS held,
           count(*) FILTER (WHERE activity_type = 'email_reply') AS replies,
           count(*) FILTER (WHERE activity_type = 'email_sent') AS sent
    FROM core.crm_activities
    WHERE CAST(occurred_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS activities USING (account_id)
