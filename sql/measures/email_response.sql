-- email_response: clamp(email_reply / email_sent) over W(window_days); missing when no
-- email_sent.
SELECT
    account.account_id,
    activities.email_replies / nullif(activities.emails_sent, 0) AS raw_value,
    clamp01(raw_value) AS value
FROM scored_accounts AS account
LEFT JOIN activity_counts($as_of, {window_days}) AS activities USING (account_id)
