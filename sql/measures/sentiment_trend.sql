-- sentiment_trend: mean sentiment (positive 1, neutral 0.5, negative 0) of tickets
-- created in W(window_days) minus that of tickets created D-(baseline_days-1) ..
-- D-window_days; missing when either side has none. Rounded to 9 decimals so that a
-- difference of exactly 0.1 is not pushed over a band edge by float error.
-- Banded by the scorecard.
SELECT
    account.account_id,
    round(tickets.recent - tickets.earlier, 9) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           avg(score) FILTER (WHERE day > $as_of - {window_days}) AS recent,
           avg(score) FILTER (WHERE day <= $as_of - {window_days}) AS earlier
    FROM (
        SELECT account_id, CAST(created_at AS DATE) AS day,
               CASE sentiment WHEN 'positive' THEN 1.0 WHEN 'neutral' THEN 0.5
                              WHEN 'negative' THEN 0.0 END AS score
        FROM core.support_tickets
        WHERE sentiment IS NOT NULL
    )
    WHERE day BETWEEN $as_of - {baseline_days} + 1 AND $as_of
    GROUP BY account_id
) AS tickets USING (account_id)
