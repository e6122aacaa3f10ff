-- Measure values -> dimension scores -> health score, tier and flags for $as_of, written
-- over the rows of that date in mart.health_measures and mart.account_health.
-- Reads: scored_accounts (health_inputs.sql), measure_values (assets/health.py:
-- measure_values_sql, from usage_rollups.sql and sql/measures/: one row per scored
-- account and measure of its scorecard, a missing value NULL) and the scorecard config
-- tables scorecard_measures, scorecard_bands, scorecard_tiers,
-- scorecard_settings (assets/health.py). exact_sum (sql/session_macros.sql) adds the
-- weights and contributions: a score at x.x5 rounds the same way in every run.
--
-- Missing data (health-scores contract): a missing measure is dropped and the others of
-- its dimension keep their relative weights; a dimension left with no measure is dropped
-- and its weight is spread over the others in proportion to their weights.
--
-- The measure rows are written first and the account row is added up from them: a
-- dimension's score is the sum of its measures' contributions, which is its weight times
-- the weighted mean of its measures, the health score their sum, and the completeness the
-- share of the weight whose measure has a value.

-- Banded measures: the first band, top to bottom, whose bound holds for raw_value.
CREATE OR REPLACE TEMP TABLE measure_bands AS
SELECT
    measured.account_id,
    measured.measure,
    arg_min(band.band, band.position) AS band,
    arg_min(band.points, band.position) AS points
FROM measure_values AS measured
JOIN scorecard_bands AS band
  ON band.scorecard = measured.scorecard AND band.measure = measured.measure
WHERE measured.raw_value IS NOT NULL
  AND CASE band.comparison
        WHEN 'above' THEN measured.raw_value > band.bound
        WHEN 'at_least' THEN measured.raw_value >= band.bound
        WHEN 'at_most' THEN measured.raw_value <= band.bound
        WHEN 'below' THEN measured.raw_value < band.bound
        ELSE true END
GROUP BY ALL;

-- The publish copies only the dates marked here (assets/publish.py).
INSERT OR IGNORE INTO main.unpublished_dates
VALUES ('mart.health_measures', $as_of), ('mart.account_health', $as_of);

DELETE FROM mart.health_measures WHERE as_of_date = $as_of;

INSERT INTO mart.health_measures
WITH valued AS (
    SELECT
        measured.account_id,
        measured.scorecard,
        config.dimension,
        config.dimension_weight,
        measured.measure,
        config.measure_weight,
        measured.raw_value,
        CASE WHEN config.banded THEN banded.points / 100 ELSE measured.value END AS value,
        banded.band
    FROM measure_values AS measured
    JOIN scorecard_measures AS config USING (scorecard, measure)
    LEFT JOIN measure_bands AS banded USING (account_id, measure)
),
dimensions AS (
    SELECT
        account_id,
        dimension,
        any_value(dimension_weight) AS dimension_weight,
        exact_sum(CASE WHEN value IS NOT NULL THEN measure_weight END) AS weight_with_data
    FROM valued
    GROUP BY account_id, dimension
),
accounts AS (
    SELECT
        account_id,
        exact_sum(dimension_weight) AS dimension_weights,
        exact_sum(CASE WHEN weight_with_data IS NOT NULL THEN dimension_weight END)
            AS dimension_weights_with_data
    FROM dimensions
    GROUP BY account_id
),
reweighted AS (
    SELECT
        dimensions.*,
        CASE WHEN dimensions.weight_with_data IS NOT NULL THEN
            dimensions.dimension_weight * accounts.dimension_weights
            / accounts.dimension_weights_with_data
        END AS effective_dimension_weight
    FROM dimensions
    JOIN accounts USING (account_id)
)
SELECT
    $as_of, valued.account_id, valued.scorecard, valued.dimension, valued.measure,
    valued.raw_value, valued.value, valued.band,
    valued.dimension_weight * valued.measure_weight AS weight,
    CASE WHEN valued.value IS NULL THEN 0.0
         ELSE reweighted.effective_dimension_weight * valued.measure_weight
              / reweighted.weight_with_data END AS effective_weight,
    effective_weight * coalesce(valued.value, 0.0) AS contribution
FROM valued
JOIN reweighted USING (account_id, dimension)
-- One account's rows together: what readers filter on.
ORDER BY valued.account_id;

DELETE FROM mart.account_health WHERE as_of_date = $as_of;

INSERT INTO mart.account_health
-- A dropped measure has value NULL (contribution 0): dropped from its dimension's score,
-- which is NULL when the whole dimension is dropped, and from the weight with a value.
WITH measured AS (
    SELECT
        account_id,
        dimension,
        contribution,
        weight,
        CASE WHEN value IS NOT NULL THEN contribution END AS scored_contribution,
        CASE WHEN value IS NOT NULL THEN weight ELSE 0.0 END AS weight_with_value
    FROM mart.health_measures
    WHERE as_of_date = $as_of
),
totals AS (
    SELECT
        account_id,
        round(exact_sum(contribution), 1) AS health_score,
        round(exact_sum(weight_with_value) / exact_sum(weight), 6) AS data_completeness,
        exact_sum(CASE WHEN dimension = 'usage' THEN scored_contribution END)
            AS usage_score,
        exact_sum(CASE WHEN dimension = 'engagement' THEN scored_contribution END)
            AS engagement_score,
        exact_sum(CASE WHEN dimension = 'support' THEN scored_contribution END)
            AS support_score,
        exact_sum(CASE WHEN dimension = 'satisfaction' THEN scored_contribution END)
            AS satisfaction_score,
        exact_sum(CASE WHEN dimension = 'financial' THEN scored_contribution END)
            AS financial_score,
        exact_sum(CASE WHEN dimension = 'product_engagement' THEN scored_contribution END)
            AS product_engagement_score,
        exact_sum(CASE WHEN dimension = 'relationship' THEN scored_contribution END)
            AS relationship_score,
        exact_sum(CASE WHEN dimension = 'sentiment' THEN scored_contribution END)
            AS sentiment_score
    FROM measured
    GROUP BY account_id
),
tiered AS (
    SELECT totals.account_id,
           arg_min(tier.tier, tier.position) AS tier,
           arg_min(tier.colour, tier.position) AS colour,
           arg_min(tier.review_cadence, tier.position) AS review_cadence
    FROM totals
    JOIN scored_accounts AS account USING (account_id)
    JOIN scorecard_tiers AS tier
      ON tier.scorecard = account.scorecard AND totals.health_score >= tier.min_score
    GROUP BY totals.account_id
)
SELECT
    $as_of AS as_of_date,
    account.account_id,
    account.account_name,
    account.segment,
    account.csm_owner,
    account.arr,
    account.scorecard,
    totals.health_score,
    tiered.tier,
    tiered.colour,
    totals.usage_score,
    totals.engagement_score,
    totals.support_score,
    totals.satisfaction_score,
    totals.financial_score,
    totals.product_engagement_score,
    totals.relationship_score,
    totals.sentiment_score,
    totals.data_completeness,
    list_filter([
        CASE WHEN totals.data_completeness < settings.low_data_below THEN 'low_data' END,
        CASE WHEN account.csm_owner IS NULL THEN 'unassigned_csm' END
    ], lambda flag: flag IS NOT NULL) AS flags,
    NULL AS score_delta_7d,
    NULL AS score_delta_30d,
    tiered.review_cadence,
    NULL AS top_drivers
FROM scored_accounts AS account
JOIN totals USING (account_id)
JOIN scorecard_settings AS settings USING (scorecard)
LEFT JOIN tiered USING (account_id)
ORDER BY account.account_id;
