-- reports_account_health: the account's mart.account_health row on $as_of, its first
-- snapshot on or after $since (the start of the review period) and the median score of
-- its segment and scorecard that day.
WITH day AS (
    SELECT * FROM mart.account_health WHERE as_of_date = $as_of
),
period_start AS (
    SELECT min(as_of_date) AS period_start_date,
           arg_min(health_score, as_of_date) AS period_start_score
    FROM mart.account_health
    WHERE account_id = $account_id AND as_of_date BETWEEN $since AND $as_of
)
SELECT
    account.*,
    period_start.period_start_date,
    period_start.period_start_score,
    (SELECT median(peer.health_score) FROM day AS peer
     WHERE peer.segment = account.segment AND peer.scorecard = account.scorecard)
        AS segment_median_score
FROM day AS account
CROSS JOIN period_start
WHERE account.account_id = $account_id
