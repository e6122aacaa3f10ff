-- mart.expansion_opportunities for $as_of (temp expansion_opportunities_today):
-- accounts with health above $min_health_score where a type's signal fires, one row per
-- account and type. Product use counts over the $window_days days ending on $as_of.
CREATE OR REPLACE TEMP TABLE expansion_opportunities_today AS
WITH candidates AS (
    SELECT account.*, coalesce(tiers.position, (SELECT max(position) FROM plan_tiers))
               AS tier_position
    FROM ops_accounts AS account
    LEFT JOIN plan_tiers AS tiers USING (plan_tier)
    WHERE account.health_score > $min_health_score
),
catalog AS (
    SELECT catalog.feature, tiers.position AS tier_position
    FROM core.feature_catalog AS catalog
    LEFT JOIN plan_tiers AS tiers USING (plan_tier)
),
users AS (
    SELECT account_id, count(DISTINCT user_id) AS active_users,
           CAST(sum(limit_hits) AS BIGINT) AS limit_hits
    FROM core.product_user_days
    WHERE day > $as_of - $window_days
      AND account_id IN (SELECT account_id FROM candidates)
    GROUP BY account_id
),
features AS (
    SELECT DISTINCT account_id, event_name
    FROM core.product_feature_days
    WHERE day > $as_of - $window_days
      AND account_id IN (SELECT account_id FROM candidates)
),
usage AS (
    SELECT
        candidates.account_id,
        any_value(coalesce(users.active_users, 0)) AS active_users,
        any_value(coalesce(users.limit_hits, 0)) AS limit_hits,
        count(DISTINCT features.event_name) FILTER (
            WHERE catalog.feature IS NOT NULL
              AND coalesce(catalog.tier_position, 0) <= candidates.tier_position)
            AS features_in_tier_used,
        list(DISTINCT features.event_name ORDER BY features.event_name) FILTER (
            WHERE catalog.tier_position > candidates.tier_position) AS features_above_tier
    FROM candidates
    LEFT JOIN users USING (account_id)
    LEFT JOIN features USING (account_id)
    LEFT JOIN catalog ON catalog.feature = features.event_name
    GROUP BY candidates.account_id
),
tier_catalog AS (
    SELECT candidates.account_id, count(catalog.feature) AS features_in_tier
    FROM candidates
    LEFT JOIN catalog ON coalesce(catalog.tier_position, 0) <= candidates.tier_position
    GROUP BY candidates.account_id
),
products AS (
    SELECT account_id, count(DISTINCT product) AS paid
    FROM core.billing_subscriptions
    WHERE start_date <= $as_of AND (end_date IS NULL OR $as_of < end_date) AND mrr > 0
      AND list_contains($products, product)
    GROUP BY account_id
),
service_tickets AS (
    SELECT account_id, count(*) AS tickets
    FROM core.support_tickets
    WHERE ticket_type IN ('problem', 'feature_request')
      AND CAST(created_at AS DATE) > $as_of - $services_window_days
      AND CAST(created_at AS DATE) <= $as_of
    GROUP BY account_id
),
measured AS (
    SELECT
        candidates.*,
        coalesce(usage.active_users, 0) / candidates.licensed_seats AS seat_utilisation,
        usage.features_in_tier_used / nullif(tier_catalog.features_in_tier, 0)
            AS feature_adoption,
        usage.limit_hits,
        coalesce(usage.features_above_tier, []) AS features_above_tier,
        coalesce(products.paid, 0) AS products_paid,
        coalesce(service_tickets.tickets, 0) AS service_tickets,
        coalesce(onboarding.milestones_late, 0) AS milestones_late
    FROM candidates
    JOIN usage USING (account_id)
    JOIN tier_catalog USING (account_id)
    LEFT JOIN products USING (account_id)
    LEFT JOIN service_tickets USING (account_id)
    LEFT JOIN onboarding_today AS onboarding USING (account_id)
),
typed AS (
    SELECT measured.*, opportunity.*
    FROM measured
    CROSS JOIN LATERAL (
        SELECT 'seat' AS opportunity_type,
               [format('seat_utilisation {:.0f}%', 100 * seat_utilisation)] AS fired
        WHERE seat_utilisation > $seat_utilisation_above
        UNION ALL
        SELECT 'tier', list_filter([
                   CASE WHEN limit_hits > 0 THEN format('limit_reached x{}', limit_hits) END,
                   CASE WHEN len(features_above_tier) > 0 THEN 'features above plan: '
                        || array_to_string(features_above_tier, ', ') END],
                   lambda signal: signal IS NOT NULL)
        WHERE limit_hits > 0 OR len(features_above_tier) > 0
        UNION ALL
        SELECT 'product', [format('products {} of {}', products_paid, len($products))]
        WHERE products_paid < len($products) AND feature_adoption > $feature_adoption_above
        UNION ALL
        SELECT 'services', list_filter([
                   CASE WHEN service_tickets > 0
                        THEN format('problem or feature_request tickets x{}', service_tickets)
                   END,
                   CASE WHEN milestones_late > 0
                        THEN format('onboarding milestones late x{}', milestones_late) END],
                   lambda signal: signal IS NOT NULL)
        WHERE service_tickets > 0 OR milestones_late > 0
    ) AS opportunity
)
SELECT
    $as_of AS as_of_date, account_id, account_name, csm_owner, arr, opportunity_type,
    health_score, seat_utilisation, feature_adoption,
    list_concat(fired, list_filter([
        CASE WHEN feature_adoption > $feature_adoption_above
             THEN format('feature_adoption {:.0f}%', 100 * feature_adoption) END,
        CASE WHEN executive_sponsor_engaged THEN 'executive_engaged' END,
        CASE WHEN renewal_budget_confirmed THEN 'budget_confirmed' END,
        CASE WHEN champion_present THEN 'champion_present' END],
        lambda signal: signal IS NOT NULL)) AS signals
FROM typed;
