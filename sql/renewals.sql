-- Renewal confidence and zone of every scored account on $as_of (temp renewals_today);
-- mart.renewal_pipeline keeps those renewing in the next $window_days days or up to
-- $overdue_days days overdue, and the risk register shows every account's zone.
CREATE OR REPLACE TEMP TABLE renewals_today AS
WITH confidence AS (
    SELECT
        account.*,
        account.renewal_date - $as_of AS days_to_renewal,
        greatest(0, least(100,
            account.health_score
            + CASE WHEN account.renewal_budget_confirmed THEN $budget_confirmed_points ELSE 0 END
            + CASE WHEN account.executive_sponsor_engaged THEN $executive_engaged_points ELSE 0 END
            + CASE WHEN overdue.account_id IS NOT NULL THEN $payment_overdue_points ELSE 0 END
        )) AS renewal_confidence
    FROM ops_accounts AS account
    LEFT JOIN overdue_invoices AS overdue USING (account_id)
)
SELECT
    $as_of AS as_of_date,
    account_id, account_name, csm_owner, arr, renewal_date, days_to_renewal,
    CASE WHEN days_to_renewal < 0 THEN 'overdue'
         ELSE (SELECT arg_min(stages.stage, stages.last_day) FROM renewal_stages AS stages
               WHERE days_to_renewal <= stages.last_day) END AS stage,
    health_score,
    renewal_confidence,
    CASE WHEN renewal_confidence >= $green_from THEN 'green'
         WHEN renewal_confidence >= $yellow_from THEN 'yellow'
         ELSE 'red' END AS renewal_zone,
    arr * (1 - renewal_confidence / 100) AS arr_at_risk,
    days_to_renewal BETWEEN -$overdue_days AND $window_days AS in_pipeline
FROM confidence;
