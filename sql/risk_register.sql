-- mart.risk_register for $as_of (temp risk_register_today): every scored account, the
-- worst tier first (counted from the worst tier of its scorecard, so the critical and
-- at-risk accounts of different scorecards rank together), then higher ARR, then lower
-- score.

-- Each account's alert types open on `day`, from mart.health_alerts.
CREATE OR REPLACE TEMP MACRO open_alerts_on(day) AS TABLE
    SELECT account_id, list(DISTINCT alert_type ORDER BY alert_type) AS alerts
    FROM mart.health_alerts
    WHERE alert_open_on(as_of_date, cleared_on, day)
    GROUP BY account_id;

CREATE OR REPLACE TEMP TABLE risk_register_today AS
WITH tier_urgency AS (
    SELECT scorecard, tier,
           count(*) OVER (PARTITION BY scorecard) - 1 - position AS steps_from_worst
    FROM scorecard_tiers
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
LEFT JOIN open_alerts_on($as_of) AS open_alerts USING (account_id)
LEFT JOIN playbooks USING (colour)
LEFT JOIN onboarding_today AS onboarding USING (account_id);

-- A run of a date older than the register's leaves the register in place (assets/
-- operations.py), but rebuilds mart.health_alerts from the whole history: the alerts
-- open on the register's date can change with it.
UPDATE mart.risk_register AS register
SET open_alerts = coalesce(refreshed.alerts, [])
FROM (
    SELECT account.account_id, open_alerts.alerts
    FROM mart.risk_register AS account
    LEFT JOIN open_alerts_on((SELECT max(as_of_date) FROM mart.risk_register)) AS open_alerts
        USING (account_id)
) AS refreshed
WHERE refreshed.account_id = register.account_id AND register.as_of_date > $as_of;
