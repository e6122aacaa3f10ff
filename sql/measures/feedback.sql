-- feedback: mean csat survey score (1..5) in W(window_days); missing when none.
-- Banded by the scorecard.
SELECT
    account.account_id,
    surveys.mean_score AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN (
    SELECT account_id, avg(score) AS mean_score
    FROM core.surveys
    WHERE survey_type = 'csat'
      AND CAST(responded_at AS DATE) BETWEEN $as_of - {window_days} + 1 AND $as_of
    GROUP BY account_id
) AS surveys USING (account_id)
