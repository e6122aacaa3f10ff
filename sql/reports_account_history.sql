-- reports_account_history: the account's health score and tier for every published date
-- from $since to $as_of.
SELECT as_of_date, health_score, tier, colour, scorecard
FROM mart.account_health
WHERE account_id = $account_id AND as_of_date BETWEEN $since AND $as_of
ORDER BY as_of_date
