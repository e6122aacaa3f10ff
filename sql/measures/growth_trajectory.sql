-- growth_trajectory: MRR(D) - MRR(D - lookback_days) in USD, compared in whole cents;
-- missing when both are 0. Banded by the scorecard (up, same, down).
SELECT
    account_id,
    CASE WHEN cents_now <> 0 OR cents_before <> 0
         THEN (cents_now - cents_before) / 100 END AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM (
    SELECT account.account_id,
           round(coalesce(now.mrr, 0) * 100) AS cents_now,
           round(coalesce(before.mrr, 0) * 100) AS cents_before
    FROM scored_accounts AS account
    LEFT JOIN mrr_on($as_of) AS now USING (account_id)
    LEFT JOIN mrr_on($as_of - {lookback_days}) AS before USING (account_id)
)
