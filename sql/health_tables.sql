-- The health marts: scores per account and as-of date, and the measures behind them.
-- Idempotent. A run deletes and rewrites the rows of its own as-of date.
CREATE TABLE IF NOT EXISTS mart.account_health (
    as_of_date DATE,
    account_id VARCHAR,
    account_name VARCHAR,
    segment VARCHAR,
    csm_owner VARCHAR,
    arr DOUBLE,
    scorecard VARCHAR,
    health_score DOUBLE,
    tier VARCHAR,
    colour VARCHAR,
    usage_score DOUBLE,
    engagement_score DOUBLE,
    support_score DOUBLE,
    satisfaction_score DOUBLE,
    financial_score DOUBLE,
    product_engagement_score DOUBLE,
    relationship_score DOUBLE,
    sentiment_score DOUBLE,
    data_completeness DOUBLE,
    flags VARCHAR[],
    score_delta_7d DOUBLE,
    score_delta_30d DOUBLE,
    review_cadence VARCHAR,
    top_drivers VARCHAR
);
COMMENT ON TABLE mart.account_health IS 'One row per scored account per as-of date (history). Scored: contract started on or before the date and not churned (subscriptions started but no MRR on the date).';
COMMENT ON COLUMN mart.account_health.as_of_date IS 'Date the score is for: only data dated up to this day counts';
COMMENT ON COLUMN mart.account_health.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.account_health.account_name IS 'CRM account name';
COMMENT ON COLUMN mart.account_health.segment IS 'enterprise (ARR > 100,000), mid_market (25,000-100,000) or smb (< 25,000), thresholds from config';
COMMENT ON COLUMN mart.account_health.csm_owner IS 'CSM who owns the account; null when unassigned (flag unassigned_csm)';
COMMENT ON COLUMN mart.account_health.arr IS 'ARR in USD: 12 * MRR on the date from billing, or the CRM arr for an account with no subscriptions';
COMMENT ON COLUMN mart.account_health.scorecard IS 'Scorecard that scored the account (five_dimension, four_component or a custom one)';
COMMENT ON COLUMN mart.account_health.health_score IS 'Health score 0..100, rounded to one decimal; the dimension scores add up to it before rounding';
COMMENT ON COLUMN mart.account_health.tier IS 'Tier read from health_score with the scorecard''s cut-offs (five_dimension: healthy >= 80, at_risk >= 50, critical)';
COMMENT ON COLUMN mart.account_health.colour IS 'green, yellow or red, from the tier';
COMMENT ON COLUMN mart.account_health.usage_score IS 'five_dimension: points from usage (weight 30 before re-weighting); null when the dimension had no data or does not apply';
COMMENT ON COLUMN mart.account_health.engagement_score IS 'five_dimension: points from engagement (weight 25)';
COMMENT ON COLUMN mart.account_health.support_score IS 'five_dimension: points from support (weight 20)';
COMMENT ON COLUMN mart.account_health.satisfaction_score IS 'five_dimension: points from satisfaction (weight 15)';
COMMENT ON COLUMN mart.account_health.financial_score IS 'Both scorecards: points from financial health (five_dimension weight 10, four_component 20)';
COMMENT ON COLUMN mart.account_health.product_engagement_score IS 'four_component: points from product engagement (weight 40)';
COMMENT ON COLUMN mart.account_health.relationship_score IS 'four_component: points from the relationship (weight 25)';
COMMENT ON COLUMN mart.account_health.sentiment_score IS 'four_component: points from sentiment (weight 15)';
COMMENT ON COLUMN mart.account_health.data_completeness IS 'Share 0..1 of the scorecard''s weight whose measures had data';
COMMENT ON COLUMN mart.account_health.flags IS 'low_data (completeness below the scorecard''s low_data_below, 0.5), unassigned_csm (no csm_owner)';
COMMENT ON COLUMN mart.account_health.score_delta_7d IS 'health_score minus the score 7 days before; null without a snapshot that day';
COMMENT ON COLUMN mart.account_health.score_delta_30d IS 'health_score minus the score 30 days before; null without a snapshot that day';
COMMENT ON COLUMN mart.account_health.review_cadence IS 'How often the CSM reviews the account at this tier: weekly, bi-weekly or monthly';
COMMENT ON COLUMN mart.account_health.top_drivers IS 'The three measures whose contribution changed most in 30 days, signed, such as "login_rate -4.2 pts". Without a snapshot 30 days before, the three furthest below their full points';

CREATE TABLE IF NOT EXISTS mart.health_measures (
    as_of_date DATE,
    account_id VARCHAR,
    scorecard VARCHAR,
    dimension VARCHAR,
    measure VARCHAR,
    raw_value DOUBLE,
    value DOUBLE,
    band VARCHAR,
    weight DOUBLE,
    effective_weight DOUBLE,
    contribution DOUBLE
);
COMMENT ON TABLE mart.health_measures IS 'One row per scored account, as-of date and measure of its scorecard: the numbers behind every health score. The published file keeps history_days (400) of it.';
COMMENT ON COLUMN mart.health_measures.as_of_date IS 'Date the measure is for';
COMMENT ON COLUMN mart.health_measures.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.health_measures.scorecard IS 'Scorecard of the account';
COMMENT ON COLUMN mart.health_measures.dimension IS 'Dimension the measure belongs to';
COMMENT ON COLUMN mart.health_measures.measure IS 'Measure id, such as seat_utilisation or dau_mau (the names in top_drivers)';
COMMENT ON COLUMN mart.health_measures.raw_value IS 'The measure in its own unit before scaling: a ratio, a count, days, an NPS or a mean score (see the README)';
COMMENT ON COLUMN mart.health_measures.value IS 'The measure on 0..1 (for banded measures, the band''s points / 100); null when missing';
COMMENT ON COLUMN mart.health_measures.band IS 'Band of a banded measure (excellent, good, at_risk, critical); null for scaled measures';
COMMENT ON COLUMN mart.health_measures.weight IS 'Configured points the measure is worth: dimension weight * weight in the dimension (a scorecard adds up to 100)';
COMMENT ON COLUMN mart.health_measures.effective_weight IS 'Points the measure is worth after missing measures and dimensions were re-weighted, 0 when missing';
COMMENT ON COLUMN mart.health_measures.contribution IS 'Points the measure adds to health_score: effective_weight * value, 0 when missing';
