-- What the operations marts share for $as_of: the scored accounts with their CRM facts,
-- and the invoices that make a payment overdue. Helpers: sql/core_macros.sql; config
-- tables alert_types, playbooks, plan_tiers, scorecard_tiers, kpi_targets
-- (assets/operations.py).

CREATE OR REPLACE TEMP TABLE ops_accounts AS
SELECT
    health.account_id, health.account_name, health.csm_owner, health.segment, health.arr,
    health.scorecard, health.health_score, health.tier, health.colour,
    health.review_cadence, health.top_drivers,
    crm.contract_start_date, crm.renewal_date, crm.licensed_seats, crm.plan_tier,
    crm.executive_sponsor_engaged, crm.champion_present, crm.renewal_budget_confirmed
FROM mart.account_health AS health
JOIN core.crm_accounts AS crm USING (account_id)
WHERE health.as_of_date = $as_of;

-- Open invoices more than $days_past_due days past their due date, and uncollectible
-- ones: the payment_overdue condition.
CREATE OR REPLACE TEMP TABLE overdue_invoices AS
SELECT
    account_id,
    count(*) AS invoices,
    exact_sum(amount_usd) AS amount_usd,
    max($as_of - due_date) FILTER (WHERE status = 'open') AS oldest_days_late,
    count(*) FILTER (WHERE status = 'uncollectible') AS uncollectible
FROM core.billing_invoices
WHERE (status = 'open' AND $as_of - due_date > $days_past_due) OR status = 'uncollectible'
GROUP BY account_id;
