-- reports_tier_distribution: scored accounts per scorecard and tier on $as_of, with their
-- share of the book and ARR, best tier first.
SELECT
    scorecard, tier, colour,
    count(*) AS accounts,
    count(*) / sum(count(*)) OVER () AS share,
    exact_sum(arr) AS arr,
    round(avg(CAST(health_score AS DECIMAL(18, 1))), 1) AS avg_health_score  -- exact sum
FROM mart.account_health
WHERE as_of_date = $as_of
GROUP BY ALL
ORDER BY scorecard, min(health_score) DESC
