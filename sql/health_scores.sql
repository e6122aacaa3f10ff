-- Measure values -> dimension scores -> health score, tier and flags for $as_of, written
-- over the rows of that date in mart.health_measures and mart.account_health.
-- Reads: scored_accounts (health_inputs.sql), measure_values (assets/health.py:
-- measure_values_sql, from usage_rollups.sql and sql/measures/: one row per scored
-- account and measure of its scorecard, a missing value NULL) and the scorecard config
-- tables scorecard_measures, scorecard_bands, scorecard_tiers,
-- scorecard_settings (assets/health.py). exact_sum (sql/session_macros.sql) adds the
-- weights, contributions and completeness shares: a score at x.x5 rounds the same way in
-- every run.
--
-- Missing data (health-scores contract): a missing measure is dropped and the others of
-- its dimension keep their relative weights; a dimension left with no measure is dropped
-- and its weight is spread over the others in proportion to their weights.

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

CREATE OR REPLACE TEMP TABLE scored_measures AS
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
        exact_sum(CASE WHEN value IS NOT NULL THEN measure_weight END) AS weight_with_data,
        exact_sum(measure_weight * value) / weight_with_data AS mean_value,
        exact_sum(measure_weight) AS weight_in_full
    FROM valued
    GROUP BY account_id, dimension
),
accounts AS (
    SELECT
        account_id,
        exact_sum(dimension_weight) AS dimension_weights,
        exact_sum(CASE WHEN weight_with_data IS NOT NULL THEN dimension_weight END)
            AS dimension_weights_with_data,
        exact_sum(dimension_weight * weight_in_full) AS account_weight
    FROM dimensions
    GROUP BY account_id
),
reweighted AS (
    SELECT
        dimensions.*,
        CASE WHEN dimensions.weight_with_data IS NOT NULL THEN
            dimensions.dimension_weight * accounts.dimension_weights
            / accounts.dimension_weights_with_data
        END AS effective_dimension_weight,
        accounts.account_weight
    FROM dimensions
    JOIN accounts USING (account_id)
)
SELECT
    valued.*,
    valued.dimension_weight * valued.measure_weight AS weight,
    CASE WHEN valued.value IS NULL THEN 0.0
         ELSE reweighted.effective_dimension_weight * valued.measure_weight
              / reweighted.weight_with_data END AS effective_weight,
    effective_weight * coalesce(valued.value, 0.0) AS contribution,
    reweighted.effective_dimension_weight * reweighted.mean_value AS dimension_score,
    CASE WHEN valued.value IS NOT NULL THEN
        valued.dimension_weight * valued.measure_weight / reweighted.account_weight
    ELSE 0.0 END AS completeness_share
FROM valued
JOIN reweighted USING (account_id, dimension);

-- The publish copies only the dates marked here (assets/publish.py).
INSERT OR IGNORE INTO main.unpublished_dates
VALUES ('mart.health_measures', $as_of), ('mart.account_health', $as_of);

DELETE FROM mart.health_measures WHERE as_of_date = $as_of;

INSERT INTO mart.health_measures
SELECT $as_of, account_id, scorecard, dimension, measure, raw_value, value, band, weight,
       effective_weight, contribution
FROM scored_measures
-- One account's rows together: what readers filter on.
ORDER BY account_id;

DELETE FROM mart.account_health WHERE as_of_date = $as_of;

INSERT INTO mart.account_health
WITH totals AS (
    SELECT
        account_id,
        round(exact_sum(contribution), 1) AS health_score,
        round(exact_sum(completeness_share), 6) AS data_completeness,
        max(dimension_score) FILTER (WHERE dimension = 'usage') AS usage_score,
        max(dimension_score) FILTER (WHERE dimension = 'engagement') AS engagement_score,
        max(dimension_score) FILTER (WHERE dimension = 'support') AS support_score,
        max(dimension_score) FILTER (WHERE dimension = 'satisfaction') AS satisfaction_score,
        max(dimension_score) FILTER (WHERE dimension = 'financial') AS financial_score,
        max(dimension_score) FILTER (WHERE dimension = 'product_engagement')
            AS product_engagement_score,
        max(dimension_score) FILTER (WHERE dimension = 'relationship') AS relationship_score,
        max(dimension_score) FILTER (WHERE dimension = 'sentiment') AS sentiment_score
    FROM scored_measures
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
