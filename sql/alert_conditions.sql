-- The alert conditions of $as_of that are not score conditions, kept per date in
-- history.alert_conditions: alert episodes are derived from the whole history.
DELETE FROM history.alert_conditions WHERE as_of_date = $as_of;
INSERT INTO history.alert_conditions
SELECT $as_of, account_id, 'payment_overdue',
       CASE WHEN uncollectible > 0 AND oldest_days_late IS NULL
            THEN format('{} uncollectible invoice(s), {:,.0f} USD', uncollectible, amount_usd)
            ELSE format('{} invoice(s) past due, {:,.0f} USD; the oldest {} days late',
                        invoices, amount_usd, oldest_days_late) END
FROM overdue_invoices
WHERE account_id IN (SELECT account_id FROM ops_accounts)
UNION ALL
SELECT $as_of, account_id, 'renewal_at_risk',
       format('Renews in {} days ({}) at {:.0f}% confidence: red zone',
              days_to_renewal, renewal_date, renewal_confidence)
FROM renewals_today
WHERE days_to_renewal BETWEEN 0 AND $within_days AND renewal_zone = 'red'
UNION ALL
SELECT $as_of, account_id, 'onboarding_risk',
       format('Onboarding at risk on day {}: {}', days_since_start,
              array_to_string(flags, ', '))
FROM onboarding_today
WHERE len(flags) > 0;
