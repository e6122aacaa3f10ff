-- renewal_budget: renewal_budget_confirmed as 1 or 0.
SELECT
    account_id,
    CASE WHEN renewal_budget_confirmed THEN 1.0 ELSE 0.0 END AS raw_value,
    raw_value AS value
FROM scored_accounts
