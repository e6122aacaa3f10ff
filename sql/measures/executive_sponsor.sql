-- executive_sponsor: 2 engaged, 1 identified, 0 none. Banded by the scorecard.
SELECT
    account_id,
    CASE WHEN executive_sponsor_engaged THEN 2
         WHEN executive_sponsor_identified THEN 1
         ELSE 0 END AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts
