-- sentiment: mean ticket sentiment (positive 1, neutral 0.5, negative 0) over tickets
-- created in W(window_days); missing when none has a sentiment.
SELECT
    account.account_id,
    tickets.mean_sentiment AS raw_value,
    raw_value AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           avg(CASE sentiment WHEN 'positive' THEN 1.0 WHEN 'neutral' THEN 0.5
                              WHEN 'negative' THEN 0.0 END) AS mean_sentiment
    FROM core.support_tickets
    WHERE CAST(created_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
      AND sentiment IS NOT NULL
    GROUP BY account_id
) AS tickets USING (account_id)
