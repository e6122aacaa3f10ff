-- mart.risk_register for $as_of (temp risk_register_today): every scored account, the
-- worst tier first (counted from the worst tier of its scorecard, so the critical and
-- at-risk accounts of different scorecards rank together), then higher ARR, then lower
-- score.
CREATE OR REPLACE TEMP TABLE risk_register_today AS
WITH tier_urgency AS (
    SELECT scorecard, tier,
           count(*) OVER (PARTITION BY scorecard) - 1 - position AS steps_from_worst
    FROM scorecard_tiers
),
open_alerts AS (
    SELECT account_id, list(DISTINCT alert_type ORDER BY alert_type) AS alerts
    FROM mart.health_alerts
    WHERE as_of_date <= $as_of AND (cleared_on IS NULL OR cleared_on > $as_of)
    GROUP BY account_id
)
SELECT
    row_number() OVER (ORDER BY tier_urgency.steps_from_worst, account.arr DESC,
                       account.health_score, account.account_id) AS rank,
    $as_of AS as_of_date,
    account.account_id, account.account_name, account.csm_owner, account.segment,
    account.arr, account.health_score, account.tier, account.review_cadence,
    renewals.days_to_renewal, renewals.renewal_zone,
    coalesce(open_alerts.alerts, []) AS open_alerts,
    coalesce(playbooks.actions, []) AS recommended_actions,
    coalesce(onboarding.flags, []) AS onboarding_flags
FROM ops_accounts AS account
JOIN tier_urgency USING (scorecard, tier)
JOIN renewals_today AS renewals USING (account_id)
LEFT JOIN open_alerts USING (account_id)
LEFT JOIN playbooks USING (colour)
LEFT JOIN onboarding_today AS onboarding USING (account_id);
