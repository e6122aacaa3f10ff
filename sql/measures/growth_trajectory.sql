-- growth_trajectory: MRR(D) - MRR(D - lookback_days) in USD, compared in whole cents;
-- missing when both are 0. Banded by the scorecard (up, same, down).
SELECT
    account.account_id,
    CASE WHEN round(coalesce(now.mrr, 0) * 100) = 0 AND round(coalesce(before.mrr, 0) * 100) = 0
         THEN NULL
         ELSE (round(coalesce(now.mrr, 0) * 100) - round(coalesce(before.mrr, 0) * 100)) / 100
    END AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN mrr_on($as_of) AS now USING (account_id)
LEFT JOIN mrr_on($as_of - {lookback_days}) AS before USING (account_id)
