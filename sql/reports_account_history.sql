-- reports_account_history: the account's score, tier and chosen measures for every
-- published date from $since to $as_of, one row per date and series (`health_score`, or
-- a measure's raw value).
SELECT as_of_date, 'health_score' AS series, health_score AS value, tier, colour, scorecard
FROM mart.account_health
WHERE account_id = $account_id AND as_of_date BETWEEN $since AND $as_of
UNION ALL
SELECT as_of_date, measure AS series, raw_value AS value, NULL, NULL, scorecard
FROM mart.health_measures
WHERE account_id = $account_id AND as_of_date BETWEEN $since AND $as_of
  AND measure IN $measures
ORDER BY series, as_of_date
