-- The revenue marts: MRR movements per account and month, and retention per period.
-- Latest-only: a run whose as-of date is not older than the newest one here replaces
-- both tables whole (assets/retention.py).
CREATE TABLE IF NOT EXISTS mart.mrr_movements (
    as_of_date DATE,
    month DATE,
    account_id VARCHAR,
    mrr DOUBLE,
    previous_mrr DOUBLE,
    mrr_change DOUBLE,
    movement VARCHAR
);
COMMENT ON TABLE mart.mrr_movements IS 'Latest as-of date only. One row per account and calendar month, from the account''s first active month to the month after its last (which shows the churn), up to the as-of date''s month; inactive months between are included. MRR in USD at the newest fx rates.';
COMMENT ON COLUMN mart.mrr_movements.as_of_date IS 'As-of date these rows reflect: billing subscriptions as delivered up to this day';
COMMENT ON COLUMN mart.mrr_movements.month IS 'First day of the calendar month';
COMMENT ON COLUMN mart.mrr_movements.account_id IS 'CRM account id';
COMMENT ON COLUMN mart.mrr_movements.mrr IS 'MRR(account, month) in USD: sum of mrr of the subscriptions with start_date <= first day of the month < end_date (null end = open)';
COMMENT ON COLUMN mart.mrr_movements.previous_mrr IS 'MRR of the month before (0 before the first active month)';
COMMENT ON COLUMN mart.mrr_movements.mrr_change IS 'mrr - previous_mrr: the movement''s amount (new and reactivation positive, churn negative)';
COMMENT ON COLUMN mart.mrr_movements.movement IS 'new (first active month), reactivation (active again after inactive months), expansion (MRR up), contraction (MRR down, still above 0), churn (MRR fell to 0), or null (no change)';

CREATE TABLE IF NOT EXISTS mart.retention (
    as_of_date DATE,
    grain VARCHAR,
    period_start DATE,
    period_end DATE,
    group_by VARCHAR,
    group_value VARCHAR,
    starting_mrr DOUBLE,
    expansion_mrr DOUBLE,
    contraction_mrr DOUBLE,
    churned_mrr DOUBLE,
    ending_mrr DOUBLE,
    grr DOUBLE,
    nrr DOUBLE,
    starting_logos BIGINT,
    retained_logos BIGINT,
    logo_retention DOUBLE,
    grr_target DOUBLE,
    nrr_target DOUBLE,
    logo_target DOUBLE
);
COMMENT ON TABLE mart.retention IS 'Latest as-of date only. Revenue and logo retention of the cohort of accounts active at period_start, measured at period_end, per grain and group. Accounts new or reactivated after period_start are in no cohort of that period. Ratios: 0.9 = 90%.';
COMMENT ON COLUMN mart.retention.as_of_date IS 'As-of date these rows reflect; every period ends no later than this date''s month';
COMMENT ON COLUMN mart.retention.grain IS 'month (period_end = period_start + 1 month, every month), quarter (+3 months, from a calendar quarter''s first month), ttm (trailing twelve months: +12 months, every month)';
COMMENT ON COLUMN mart.retention.period_start IS 'First day of the month whose active accounts form the cohort';
COMMENT ON COLUMN mart.retention.period_end IS 'First day of the month the cohort is measured in';
COMMENT ON COLUMN mart.retention.group_by IS 'all (the whole book), segment (by the account''s ARR = 12 x MRR at period_start) or csm (the account''s current owner, for all history)';
COMMENT ON COLUMN mart.retention.group_value IS 'all; enterprise, mid_market or smb; or the CSM (unassigned when the account has none)';
COMMENT ON COLUMN mart.retention.starting_mrr IS 'Cohort MRR at period_start, USD';
COMMENT ON COLUMN mart.retention.expansion_mrr IS 'Sum of the cohort''s MRR increases between period_start and period_end, USD';
COMMENT ON COLUMN mart.retention.contraction_mrr IS 'Sum of the cohort''s MRR decreases that stop short of 0, USD';
COMMENT ON COLUMN mart.retention.churned_mrr IS 'Starting MRR of cohort accounts with no MRR at period_end, USD';
COMMENT ON COLUMN mart.retention.ending_mrr IS 'Cohort MRR at period_end = starting + expansion - contraction - churned, USD';
COMMENT ON COLUMN mart.retention.grr IS 'Gross revenue retention: sum of min(MRR at end, MRR at start) / starting_mrr (0..1)';
COMMENT ON COLUMN mart.retention.nrr IS 'Net revenue retention: ending_mrr / starting_mrr';
COMMENT ON COLUMN mart.retention.starting_logos IS 'Accounts in the cohort (active at period_start)';
COMMENT ON COLUMN mart.retention.retained_logos IS 'Cohort accounts active at period_end';
COMMENT ON COLUMN mart.retention.logo_retention IS 'retained_logos / starting_logos; logo churn rate = 1 - this';
COMMENT ON COLUMN mart.retention.grr_target IS 'Annual GRR target (config retention_targets.grr), on ttm rows only; none for smb';
COMMENT ON COLUMN mart.retention.nrr_target IS 'Annual NRR target (config retention_targets.nrr), on ttm rows only';
COMMENT ON COLUMN mart.retention.logo_target IS 'Annual logo retention target (config retention_targets.logo_retention), on ttm rows only';

-- Working database only (not published): the retention KPIs of each as-of date run
-- (sql/retention.sql), which sql/portfolio_kpis.sql reads for its date.
CREATE TABLE IF NOT EXISTS main.retention_kpis (
    as_of_date DATE,
    group_by VARCHAR,
    group_value VARCHAR,
    grr DOUBLE,
    nrr DOUBLE,
    logo_retention DOUBLE
);
