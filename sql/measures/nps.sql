-- nps: (NPS + 100) / 200, NPS = 100 * (promoters - detractors) / responses over each
-- contact's latest nps response in W(window_days); promoter 9-10, detractor 0-6;
-- missing when none. raw_value: the NPS (-100..100).
SELECT
    account.account_id,
    responses.nps AS raw_value,
    (raw_value + 100) / 200 AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id,
           100 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6))
               / count(*) AS nps
    FROM latest_nps($as_of, {window_days})
    GROUP BY account_id
) AS responses USING (account_id)
