-- core_feature_adoption: core catalog features used in W(window_days) / core features;
-- missing when the catalog has no core feature. Banded by the scorecard.
SELECT
    account.account_id,
    coalesce(used.features, 0) / nullif(catalog.features, 0) AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
CROSS JOIN (SELECT count(*) FILTER (WHERE is_core) AS features
            FROM core.feature_catalog) AS catalog
LEFT JOIN (
    SELECT account_id, count(*) AS features
    FROM feature_days
    WHERE is_core AND last_day > $as_of - {window_days}
    GROUP BY account_id
) AS used USING (account_id)
