-- meeting_attendance: meeting_held / (meeting_held + meeting_no_show) over
-- W(window_days); missing when neither.
SELECT
    account.account_id,
    activities.meetings_held
        / nullif(activities.meetings_held + activities.meeting_no_shows, 0) AS raw_value,
    raw_value AS value
FROM scored_accounts AS account
LEFT JOIN activity_counts($as_of, {window_days}) AS activities USING (account_id)
