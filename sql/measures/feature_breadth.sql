-- feature_breadth: distinct catalog features used in W(window_days) / catalog features;
-- missing when the catalog is empty.
SELECT
    account.account_id,
    coalesce(used.features, 0) / nullif(catalog.features, 0) AS raw_value,
    clamp01(raw_value) AS value
FROM scored_accounts AS account
CROSS JOIN (SELECT count(*) AS features FROM core.feature_catalog) AS catalog
LEFT JOIN (
    SELECT account_id, count(*) AS features
    FROM feature_days
    WHERE last_day > $as_of - {window_days}
    GROUP BY account_id
) AS used USING (account_id)
