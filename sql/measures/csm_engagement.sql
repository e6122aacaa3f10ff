-- csm_engagement: how many of two habits hold over W(window_days): regular meetings
-- (at least min_meetings_held meeting_held) and responsive (email_reply / email_sent at
-- least min_email_response; not met when no email_sent). raw_value 0, 1 or 2.
-- Banded by the scorecard.
SELECT
    account.account_id,
    CAST(coalesce(activities.meetings_held, 0) >= {min_meetings_held} AS INTEGER)
      + CAST(coalesce(activities.email_replies / nullif(activities.emails_sent, 0), 0)
             >= {min_email_response} AS INTEGER) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN activity_counts($as_of, {window_days}) AS activities USING (account_id)
