-- expansion: clamp((MRR(D) - base) / (target_growth * base)), base = MRR(D -
-- lookback_days), or when that is 0 the MRR on the account's earliest subscription
-- start <= D; missing when the base is 0 too. Flat or shrinking MRR scores 0.
-- raw_value: growth over the base (0.25 = +25%).
WITH first_start AS (
    SELECT account_id, min(start_date) AS day
    FROM core.billing_subscriptions
    WHERE start_date <= $as_of
    GROUP BY account_id
),
mrr_at_first_start AS (
    SELECT first_start.account_id, exact_sum(subscription.mrr_usd) AS mrr
    FROM first_start
    JOIN core.billing_subscriptions AS subscription
      ON subscription.account_id = first_start.account_id
     AND subscription.start_date <= first_start.day
     AND (subscription.end_date IS NULL OR first_start.day < subscription.end_date)
    GROUP BY first_start.account_id
),
base AS (
    SELECT account.account_id,
           CASE WHEN coalesce(before.mrr, 0) > 0 THEN before.mrr
                ELSE nullif(coalesce(at_start.mrr, 0), 0) END AS mrr
    FROM scored_accounts AS account
    LEFT JOIN mrr_on($as_of - {lookback_days}) AS before USING (account_id)
    LEFT JOIN mrr_at_first_start AS at_start USING (account_id)
)
SELECT
    account.account_id,
    (coalesce(now.mrr, 0) - base.mrr) / base.mrr AS raw_value,
    clamp01(raw_value / {target_growth}) AS value
FROM scored_accounts AS account
JOIN base USING (account_id)
LEFT JOIN mrr_on($as_of) AS now USING (account_id)
