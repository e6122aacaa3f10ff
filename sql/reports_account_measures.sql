-- reports_account_measures: every measure behind the account's score on $as_of, with
-- its value at the start of the review period (the account's first snapshot on or after
-- $since) and the median of its scorecard and segment peers that day.
WITH today AS (
    SELECT measure.*, health.segment
    FROM mart.health_measures AS measure
    JOIN mart.account_health AS health USING (as_of_date, account_id)
    WHERE measure.as_of_date = $as_of
),
start_date AS (
    SELECT min(as_of_date) AS as_of_date
    FROM mart.health_measures
    WHERE account_id = $account_id AND as_of_date BETWEEN $since AND $as_of
),
period_start AS (
    SELECT measure, raw_value AS start_raw_value, value AS start_value,
           contribution AS start_contribution
    FROM mart.health_measures
    WHERE account_id = $account_id AND as_of_date = (SELECT as_of_date FROM start_date)
),
peers AS (
    SELECT scorecard, segment, measure,
           median(raw_value) AS segment_median_raw, median(value) AS segment_median_value
    FROM today
    GROUP BY ALL
)
SELECT
    account.dimension, account.measure, account.raw_value, account.value, account.band,
    account.weight, account.effective_weight, account.contribution,
    (SELECT as_of_date FROM start_date) AS start_date,
    period_start.start_raw_value, period_start.start_value, period_start.start_contribution,
    peers.segment_median_raw, peers.segment_median_value
FROM today AS account
LEFT JOIN period_start USING (measure)
LEFT JOIN peers USING (scorecard, segment, measure)
WHERE account.account_id = $account_id
ORDER BY account.dimension, account.measure
