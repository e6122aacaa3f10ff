-- mart.onboarding for $as_of (as the temp table onboarding_today): scored accounts whose
-- contract started fewer than $window_days days before $as_of.
CREATE OR REPLACE TEMP TABLE onboarding_today AS
WITH accounts AS (
    SELECT account_id, contract_start_date, licensed_seats,
           $as_of - contract_start_date AS days_since_start
    FROM ops_accounts
    WHERE $as_of - contract_start_date < $window_days
),
users AS (
    SELECT account_id, user_id
    FROM core.product_users
    WHERE CAST(created_at AS DATE) <= $as_of
      AND account_id IN (SELECT account_id FROM accounts)
),
-- first_week_login: a login on days 0 .. $first_week_days - 1 of the contract. A login
-- before the start (a pilot, an early sandbox) is the first login but not one of the first
-- week, so it does not hide a silent first week.
user_days AS (
    SELECT account_id, user_id, day, logins, trainings, accounts.contract_start_date
    FROM core.product_user_days
    JOIN accounts USING (account_id)
),
events AS (
    SELECT
        account_id,
        min(day) FILTER (WHERE logins > 0) AS first_login,
        bool_or(logins > 0 AND day - contract_start_date
                BETWEEN 0 AND $first_week_days - 1) AS first_week_login
    FROM user_days
    GROUP BY account_id
),
-- Distinct users from filtered rows, not DISTINCT aggregates over every user-day.
active AS (
    SELECT account_id, count(DISTINCT user_id) AS active_users
    FROM user_days
    WHERE day > $as_of - $seat_adoption_window_days
    GROUP BY account_id
),
trained AS (
    SELECT DISTINCT account_id, user_id FROM user_days WHERE trainings > 0
),
training AS (
    SELECT users.account_id, count(*) AS users, count(trained.user_id) AS trained
    FROM users
    LEFT JOIN trained USING (account_id, user_id)
    GROUP BY users.account_id
),
milestones AS (
    SELECT
        account_id,
        count(*) FILTER (WHERE completed_date <= $as_of) AS done,
        count(*) FILTER (WHERE coalesce(least(completed_date, $as_of), $as_of) - due_date > 0)
            AS late,
        max(completed_date) FILTER (WHERE milestone = 'first_value'
                                      AND completed_date <= $as_of) AS first_value,
        max(coalesce(least(completed_date, $as_of), $as_of) - due_date)
            FILTER (WHERE milestone = 'kickoff') AS kickoff_days_late
    FROM core.onboarding_milestones
    WHERE account_id IN (SELECT account_id FROM accounts)
    GROUP BY account_id
),
blockers AS (
    SELECT DISTINCT account_id
    FROM core.support_tickets
    WHERE is_blocker AND status IN ('new', 'open', 'pending')
      AND $as_of - CAST(created_at AS DATE) > $blocker_open_days
)
SELECT
    $as_of AS as_of_date,
    accounts.account_id,
    accounts.contract_start_date,
    accounts.days_since_start,
    events.first_login - accounts.contract_start_date AS days_to_first_login,
    milestones.first_value - accounts.contract_start_date AS days_to_first_value,
    training.trained / training.users AS training_completion_rate,
    coalesce(active.active_users, 0) / accounts.licensed_seats AS seat_adoption,
    coalesce(milestones.done, 0) AS milestones_done,
    coalesce(milestones.late, 0) AS milestones_late,
    list_filter([
        CASE WHEN milestones.kickoff_days_late > $kickoff_late_days THEN 'kickoff_late' END,
        CASE WHEN accounts.days_since_start >= $first_week_days
                  AND NOT coalesce(events.first_week_login, false)
             THEN 'no_login_first_week' END,
        CASE WHEN blockers.account_id IS NOT NULL THEN 'blocker_open' END,
        CASE WHEN accounts.days_since_start >= $low_training_from_day
                  AND coalesce(training.trained / training.users, 0) < $low_training_rate
             THEN 'low_training' END
    ], lambda flag: flag IS NOT NULL) AS flags
FROM accounts
LEFT JOIN events USING (account_id)
LEFT JOIN active USING (account_id)
LEFT JOIN training USING (account_id)
LEFT JOIN milestones USING (account_id)
LEFT JOIN blockers USING (account_id);
