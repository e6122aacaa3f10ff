-- meeting_attendance: meeting_held / (meeting_held + meeting_no_show) over
-- W(window_days); missing when neither.
SELECT
    account.account_id,
    meetings.held / nullif(meetings.held + meetings.no_show, 0) AS raw_value,
    raw_value AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           count(*) FILTER (WHERE activity_type = 'meeting_held') AS held,
           count(*) FILTER (WHERE activity_type = 'meeting_no_show') AS no_show
    FROM core.crm_activities
    WHERE CAST(occurred_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS meetings USING (account_id)
