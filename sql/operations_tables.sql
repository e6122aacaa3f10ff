-- The CS operations marts (definitions: README "CS operations"). health_alerts is
-- rebuilt whole from history by every run; portfolio_kpis is written date by date; the
-- four work lists are latest-only: replaced only by a run whose as-of date is not older
-- than the one they hold (assets/operations.py).
CREATE SCHEMA IF NOT EXISTS history;

-- Per as-of date, the accounts for which an alert condition that is not a score
-- condition holds. Alert episodes are derived from it and from mart.account_health.
CREATE TABLE IF NOT EXISTS history.alert_conditions (
    as_of_date DATE,
    account_id VARCHAR,
    alert_type VARCHAR,
    message VARCHAR
);

CREATE TABLE IF NOT EXISTS mart.health_alerts (
    alert_id VARCHAR,
    as_of_date DATE,
    account_id VARCHAR,
    alert_type VARCHAR,
    severity VARCHAR,
    message VARCHAR,
    actions VARCHAR[],
    drivers VARCHAR,
    cleared_on DATE
);
COMMENT ON TABLE mart.health_alerts IS 'Every alert ever raised, one row per episode: raised on the first as-of date its condition holds, cleared on the first run date it no longer does; a later return is a new episode with a new id. Derived from the whole history, so dates run in any order give the same rows.';
COMMENT ON COLUMN mart.health_alerts.alert_id IS 'Stable id: a hash of account, alert type and the date the episode began';
COMMENT ON COLUMN mart.health_alerts.as_of_date IS 'Date the alert was raised (first day of the episode)';
COMMENT ON COLUMN mart.health_alerts.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.health_alerts.alert_type IS 'entered_critical (tier became critical, first scoring included), dropped_below_60 (score went under 60 from 60 or more at the previous snapshot), improved_20 (score_delta_30d of 20 or more), payment_overdue (an open invoice more than 30 days past due, or an uncollectible one), renewal_at_risk (renewal within 90 days in the red zone), onboarding_risk (an onboarding flag)';
COMMENT ON COLUMN mart.health_alerts.severity IS 'critical, high, medium or info (config: operations.yaml alerts)';
COMMENT ON COLUMN mart.health_alerts.message IS 'One line for the CSM: what happened, with the numbers';
COMMENT ON COLUMN mart.health_alerts.actions IS 'Playbook actions for the alert type, then the first steps of the account''s tier colour playbook (not for improved_20)';
COMMENT ON COLUMN mart.health_alerts.drivers IS 'Score alerts: the three measures whose contribution fell the most since the previous snapshot (rose the most for improved_20), as measure ±points; others: the account''s top_drivers on the day raised';
COMMENT ON COLUMN mart.health_alerts.cleared_on IS 'First run date the condition no longer held (null while it holds)';

CREATE TABLE IF NOT EXISTS mart.risk_register (
    rank BIGINT,
    as_of_date DATE,
    account_id VARCHAR,
    account_name VARCHAR,
    csm_owner VARCHAR,
    segment VARCHAR,
    arr DOUBLE,
    health_score DOUBLE,
    tier VARCHAR,
    review_cadence VARCHAR,
    days_to_renewal INTEGER,
    renewal_zone VARCHAR,
    open_alerts VARCHAR[],
    recommended_actions VARCHAR[],
    onboarding_flags VARCHAR[]
);
COMMENT ON TABLE mart.risk_register IS 'Latest as-of date only. The CSM''s work list: every scored account, most urgent first.';
COMMENT ON COLUMN mart.risk_register.rank IS '1 = most urgent: worst tier first (critical, then at-risk, ...), within a tier higher ARR first, then lower score';
COMMENT ON COLUMN mart.risk_register.as_of_date IS 'As-of date the list reflects';
COMMENT ON COLUMN mart.risk_register.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.risk_register.account_name IS 'Account (company) name from the CRM';
COMMENT ON COLUMN mart.risk_register.csm_owner IS 'CSM who owns the account (null: unassigned)';
COMMENT ON COLUMN mart.risk_register.segment IS 'enterprise, mid_market or smb, by ARR';
COMMENT ON COLUMN mart.risk_register.arr IS 'ARR in USD (12 x MRR on the date)';
COMMENT ON COLUMN mart.risk_register.health_score IS 'Health score 0..100 on the date';
COMMENT ON COLUMN mart.risk_register.tier IS 'Health tier of the account''s scorecard';
COMMENT ON COLUMN mart.risk_register.review_cadence IS 'How often to review: healthy monthly, at-risk bi-weekly, critical weekly';
COMMENT ON COLUMN mart.risk_register.days_to_renewal IS 'renewal_date - as_of_date (negative: overdue; null: no renewal date)';
COMMENT ON COLUMN mart.risk_register.renewal_zone IS 'green, yellow or red by renewal_confidence (see renewal_pipeline)';
COMMENT ON COLUMN mart.risk_register.open_alerts IS 'Alert types raised and not cleared on the date';
COMMENT ON COLUMN mart.risk_register.recommended_actions IS 'The churn-prevention playbook of the tier colour (config: operations.yaml playbooks)';
COMMENT ON COLUMN mart.risk_register.onboarding_flags IS 'Onboarding flags of an account in its first 120 days (see onboarding)';

CREATE TABLE IF NOT EXISTS mart.onboarding (
    as_of_date DATE,
    account_id VARCHAR,
    contract_start_date DATE,
    days_since_start INTEGER,
    days_to_first_login INTEGER,
    days_to_first_value INTEGER,
    training_completion_rate DOUBLE,
    seat_adoption DOUBLE,
    milestones_done INTEGER,
    milestones_late INTEGER,
    flags VARCHAR[]
);
COMMENT ON TABLE mart.onboarding IS 'Latest as-of date only. Scored accounts whose contract started fewer than 120 days before the date. Targets: first login < 3 days, first value < 30 days, training completion > 80%, seat adoption > 70% by day 60.';
COMMENT ON COLUMN mart.onboarding.as_of_date IS 'As-of date the rows reflect';
COMMENT ON COLUMN mart.onboarding.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.onboarding.contract_start_date IS 'Contract start from the CRM';
COMMENT ON COLUMN mart.onboarding.days_since_start IS 'as_of_date - contract_start_date';
COMMENT ON COLUMN mart.onboarding.days_to_first_login IS 'Date of the first login event - contract_start_date (null: no login yet)';
COMMENT ON COLUMN mart.onboarding.days_to_first_value IS 'completed_date of milestone first_value - contract_start_date (null: not reached)';
COMMENT ON COLUMN mart.onboarding.training_completion_rate IS 'Users with a training_completed event / product users created on or before the date (null: no users)';
COMMENT ON COLUMN mart.onboarding.seat_adoption IS 'Users with any product event in the last 30 days / licensed seats';
COMMENT ON COLUMN mart.onboarding.milestones_done IS 'Milestones completed on or before the date';
COMMENT ON COLUMN mart.onboarding.milestones_late IS 'Milestones completed after their due date, or not completed and past it';
COMMENT ON COLUMN mart.onboarding.flags IS 'kickoff_late (kickoff more than 14 days after due), no_login_first_week, blocker_open (a blocker ticket open more than 7 days), low_training (training completion below 50% from day 30)';

CREATE TABLE IF NOT EXISTS mart.expansion_opportunities (
    as_of_date DATE,
    account_id VARCHAR,
    account_name VARCHAR,
    csm_owner VARCHAR,
    arr DOUBLE,
    opportunity_type VARCHAR,
    health_score DOUBLE,
    seat_utilisation DOUBLE,
    feature_adoption DOUBLE,
    signals VARCHAR[]
);
COMMENT ON TABLE mart.expansion_opportunities IS 'Latest as-of date only. One row per account and opportunity type, for accounts with health above 80 where the type''s signal fired.';
COMMENT ON COLUMN mart.expansion_opportunities.as_of_date IS 'As-of date the rows reflect';
COMMENT ON COLUMN mart.expansion_opportunities.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.expansion_opportunities.account_name IS 'Account (company) name from the CRM';
COMMENT ON COLUMN mart.expansion_opportunities.csm_owner IS 'CSM who owns the account';
COMMENT ON COLUMN mart.expansion_opportunities.arr IS 'ARR in USD on the date';
COMMENT ON COLUMN mart.expansion_opportunities.opportunity_type IS 'seat (seat utilisation above 85%), tier (a limit_reached event, or use of a feature above the plan tier, in 30 days), product (fewer paid products than the catalog, feature adoption above 70%), services (a problem or feature_request ticket in 90 days, or late onboarding milestones)';
COMMENT ON COLUMN mart.expansion_opportunities.health_score IS 'Health score on the date';
COMMENT ON COLUMN mart.expansion_opportunities.seat_utilisation IS 'Users with any product event in the last 30 days / licensed seats';
COMMENT ON COLUMN mart.expansion_opportunities.feature_adoption IS 'Catalog features of the account''s plan tier used in the last 30 days / catalog features of that tier (features without a tier count for every plan)';
COMMENT ON COLUMN mart.expansion_opportunities.signals IS 'The signals that fired for this type, then the other seed triggers that hold (feature_adoption, executive_engaged, budget_confirmed, champion_present)';

CREATE TABLE IF NOT EXISTS mart.renewal_pipeline (
    as_of_date DATE,
    account_id VARCHAR,
    account_name VARCHAR,
    csm_owner VARCHAR,
    arr DOUBLE,
    renewal_date DATE,
    days_to_renewal INTEGER,
    stage VARCHAR,
    health_score DOUBLE,
    renewal_confidence DOUBLE,
    renewal_zone VARCHAR,
    arr_at_risk DOUBLE
);
COMMENT ON TABLE mart.renewal_pipeline IS 'Latest as-of date only. Scored accounts renewing in the next 120 days, or up to 90 days overdue.';
COMMENT ON COLUMN mart.renewal_pipeline.as_of_date IS 'As-of date the rows reflect';
COMMENT ON COLUMN mart.renewal_pipeline.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.renewal_pipeline.account_name IS 'Account (company) name from the CRM';
COMMENT ON COLUMN mart.renewal_pipeline.csm_owner IS 'CSM who owns the account';
COMMENT ON COLUMN mart.renewal_pipeline.arr IS 'ARR in USD on the date';
COMMENT ON COLUMN mart.renewal_pipeline.renewal_date IS 'Renewal date from the CRM';
COMMENT ON COLUMN mart.renewal_pipeline.days_to_renewal IS 'renewal_date - as_of_date (negative: overdue)';
COMMENT ON COLUMN mart.renewal_pipeline.stage IS 'The nearest stage whose last day to renewal is not passed (config renewals.stages; default T-30 (0-30 days), T-60 (31-60), T-90 (61-90), T-120 (91-120)), or overdue (negative)';
COMMENT ON COLUMN mart.renewal_pipeline.health_score IS 'Health score on the date';
COMMENT ON COLUMN mart.renewal_pipeline.renewal_confidence IS 'health_score +10 if renewal budget confirmed, +5 if executive sponsor engaged, -20 if a payment_overdue condition holds, clamped to 0..100 (config: operations.yaml renewals)';
COMMENT ON COLUMN mart.renewal_pipeline.renewal_zone IS 'green (confidence >= 90), yellow (60 to below 90), red (below 60)';
COMMENT ON COLUMN mart.renewal_pipeline.arr_at_risk IS 'arr x (1 - renewal_confidence / 100), USD';

CREATE TABLE IF NOT EXISTS mart.portfolio_kpis (
    as_of_date DATE,
    group_by VARCHAR,
    group_value VARCHAR,
    kpi VARCHAR,
    value DOUBLE,
    target DOUBLE,
    comparison VARCHAR,
    met BOOLEAN
);
COMMENT ON TABLE mart.portfolio_kpis IS 'The team''s scoreboard per as-of date (history), for the whole book and each CSM, on scored accounts; one row per KPI with its target.';
COMMENT ON COLUMN mart.portfolio_kpis.as_of_date IS 'As-of date of the figures';
COMMENT ON COLUMN mart.portfolio_kpis.group_by IS 'all (the whole book) or csm';
COMMENT ON COLUMN mart.portfolio_kpis.group_value IS 'all, or the CSM (unassigned: accounts without one)';
COMMENT ON COLUMN mart.portfolio_kpis.kpi IS 'share_green / share_yellow / share_red (share of accounts by tier colour), avg_health, nps (latest response per contact, 180 days), csat (mean csat survey score, 180 days), qbr_completion (share of accounts with a QBR in 90 days), grr / nrr / logo_retention (the ttm retention row ending in the date''s month), time_to_first_value (median days, accounts started in 365 days), accounts_per_csm';
COMMENT ON COLUMN mart.portfolio_kpis.value IS 'The KPI''s value (ratios as fractions: 0.7 = 70%; null when there is nothing to measure)';
COMMENT ON COLUMN mart.portfolio_kpis.target IS 'The bound the value is compared with (config: operations.yaml portfolio.targets)';
COMMENT ON COLUMN mart.portfolio_kpis.comparison IS 'How value meets target: >, <, >= or <=';
COMMENT ON COLUMN mart.portfolio_kpis.met IS 'value compared with target (null when value is null)';

CREATE TABLE IF NOT EXISTS mart.weekly_usage (
    week_start DATE,
    as_of_date DATE,
    account_id VARCHAR,
    active_users BIGINT,
    licensed_seats BIGINT,
    active_user_share DOUBLE,
    user_days BIGINT,
    events BIGINT,
    logins BIGINT,
    top_users STRUCT(user_id VARCHAR, active_days BIGINT, events BIGINT)[]
);
COMMENT ON TABLE mart.weekly_usage IS 'Product use per scored account and ISO week (Monday to Sunday), for QBR packs: weekly active users against seats and the most active users. Each run rewrites the week that holds its as-of date up to that date, unless a later date of the same week has written it.';
COMMENT ON COLUMN mart.weekly_usage.week_start IS 'Monday of the ISO week';
COMMENT ON COLUMN mart.weekly_usage.as_of_date IS 'Last day counted: the as-of date of the run that wrote the row (the Sunday once the week is complete)';
COMMENT ON COLUMN mart.weekly_usage.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.weekly_usage.active_users IS 'Product users with any event in the week, up to as_of_date';
COMMENT ON COLUMN mart.weekly_usage.licensed_seats IS 'Seats licensed on as_of_date';
COMMENT ON COLUMN mart.weekly_usage.active_user_share IS 'active_users / licensed_seats (1 = every seat used that week; may pass 1)';
COMMENT ON COLUMN mart.weekly_usage.user_days IS 'Distinct (user, UTC day) pairs with events: the sum of each active user''s active days';
COMMENT ON COLUMN mart.weekly_usage.events IS 'Product events in the week';
COMMENT ON COLUMN mart.weekly_usage.logins IS 'login events in the week';
COMMENT ON COLUMN mart.weekly_usage.top_users IS 'The most active users of the week (config: operations.yaml usage.power_users), by active days, then events: product user ids only, never names or emails';

CREATE TABLE IF NOT EXISTS mart.feature_adoption (
    week_start DATE,
    as_of_date DATE,
    account_id VARCHAR,
    feature VARCHAR,
    is_core BOOLEAN,
    plan_tier VARCHAR,
    users BIGINT,
    active_users BIGINT,
    adoption DOUBLE,
    events BIGINT
);
COMMENT ON TABLE mart.feature_adoption IS 'Per scored account, ISO week and catalog feature: how many of the week''s active users used the feature. Written with mart.weekly_usage, by the same rule.';
COMMENT ON COLUMN mart.feature_adoption.week_start IS 'Monday of the ISO week';
COMMENT ON COLUMN mart.feature_adoption.as_of_date IS 'Last day counted (see mart.weekly_usage)';
COMMENT ON COLUMN mart.feature_adoption.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.feature_adoption.feature IS 'Feature of the catalog (the event_name that uses it)';
COMMENT ON COLUMN mart.feature_adoption.is_core IS 'A core feature of the catalog';
COMMENT ON COLUMN mart.feature_adoption.plan_tier IS 'Lowest plan tier that includes the feature (null: every tier)';
COMMENT ON COLUMN mart.feature_adoption.users IS 'Distinct users with an event of the feature in the week';
COMMENT ON COLUMN mart.feature_adoption.active_users IS 'Distinct users with any event in the week (mart.weekly_usage)';
COMMENT ON COLUMN mart.feature_adoption.adoption IS 'users / active_users (0..1; null without active users)';
COMMENT ON COLUMN mart.feature_adoption.events IS 'Events of the feature in the week';
