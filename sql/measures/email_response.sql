-- email_response: clamp(email_reply / email_sent) over W(window_days); missing when no
-- email_sent.
SELECT
    account.account_id,
    emails.replies / nullif(emails.sent, 0) AS raw_value,
    clamp01(raw_value) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           count(*) FILTER (WHERE activity_type = 'email_reply') AS replies,
           count(*) FILTER (WHERE activity_type = 'email_sent') AS sent
    FROM core.crm_activities
    WHERE CAST(occurred_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS emails USING (account_id)
