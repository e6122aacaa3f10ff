-- csat: mean csat survey score / 5 in W(window_days); missing when none.
-- raw_value: the mean score (1..5). four_component's `feedback` bands this raw_value.
SELECT
    account.account_id,
    surveys.mean_score AS raw_value,
    raw_value / 5 AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, avg(score) AS mean_score
    FROM core.surveys
    WHERE survey_type = 'csat'
      AND CAST(responded_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS surveys USING (account_id)
