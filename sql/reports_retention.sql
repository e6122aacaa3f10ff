-- reports_retention: the whole book's GRR, NRR and logo retention per month for the last
-- $months months, month-over-month ('month') and trailing twelve months ('ttm', with the
-- targets), by the month each period ends in.
SELECT grain, period_start, period_end, starting_mrr, ending_mrr, grr, nrr,
       starting_logos, retained_logos, logo_retention, grr_target, nrr_target, logo_target
FROM mart.retention
WHERE group_by = 'all' AND grain IN ('month', 'ttm')
  AND period_end > (SELECT max(period_end) FROM mart.retention) - to_months($months)
ORDER BY grain, period_end
