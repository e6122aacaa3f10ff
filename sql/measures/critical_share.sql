-- critical_share: 1 - urgent tickets / tickets, created in W(window_days); 1 when no
-- tickets. raw_value: the urgent share (null when no tickets).
SELECT
    account.account_id,
    tickets.urgent / nullif(tickets.created, 0) AS raw_value,
    coalesce(1 - raw_value, 1.0) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           count(*) AS created,
           count(*) FILTER (WHERE priority = 'urgent') AS urgent
    FROM core.support_tickets
    WHERE CAST(created_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS tickets USING (account_id)
