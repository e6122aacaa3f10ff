-- reports_account_feature_adoption: the account's mart.feature_adoption rows for the week
-- of $week_start counted to $week_as_of, one per catalog feature, most adopted first.
SELECT feature, is_core, plan_tier, users, active_users, adoption, events
FROM mart.feature_adoption
WHERE account_id = $account_id AND week_start = $week_start AND as_of_date = $week_as_of
ORDER BY adoption DESC NULLS LAST, events DESC, feature
