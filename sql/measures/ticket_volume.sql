-- ticket_volume: clamp(1 - tickets created in W(window_days) / baseline), baseline =
-- max(min_baseline, licensed_seats * tickets_per_seat). raw_value: tickets created.
SELECT
    account.account_id,
    coalesce(tickets.created, 0) AS raw_value,
    clamp01(1 - raw_value
            / greatest({min_baseline}, account.licensed_seats * {tickets_per_seat})) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, count(*) AS created
    FROM core.support_tickets
    WHERE CAST(created_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS tickets USING (account_id)
