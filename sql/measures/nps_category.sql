-- nps_category: mean of each contact's latest nps score in W(window_days) (0..10);
-- missing when none. Banded by the scorecard (promoter, passive, detractor).
SELECT
    account.account_id,
    responses.mean_score AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, avg(score) AS mean_score
    FROM latest_nps($as_of, {window_days})
    GROUP BY account_id
) AS responses USING (account_id)
