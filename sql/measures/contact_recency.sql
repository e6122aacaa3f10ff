-- contact_recency: clamp(1 - days since the last two-way contact / horizon_days); two-way
-- is email_reply, meeting_held, call, qbr or executive_meeting; never = 0.
-- raw_value: days since the last two-way contact (null when never).
SELECT
    account.account_id,
    $as_of - contacts.last_day AS raw_value,
    coalesce(clamp01(1 - raw_value / {horizon_days}), 0.0) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, max(CAST(occurred_at AS DATE)) AS last_day
    FROM core.crm_activities
    WHERE activity_type IN ('email_reply', 'meeting_held', 'call', 'qbr', 'executive_meeting')
      AND CAST(occurred_at AS DATE) <= $as_of
    GROUP BY account_id
) AS contacts USING (account_id)
