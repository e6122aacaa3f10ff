-- depth_of_use: events per active user per week over W(window_days), as percent_rank
-- among the scored accounts of the same segment that have active users; missing with no
-- active users or fewer than min_accounts such accounts in the segment.
-- raw_value: the percent_rank (0..1). Banded by the scorecard.
WITH depth AS (
    SELECT account_id, usage.events / users.users / ({window_days} / 7) AS events_per_user_week
    FROM (SELECT account_id, sum(events) AS events
          FROM account_days
          WHERE day > $as_of - {window_days}
          GROUP BY account_id) AS usage
    JOIN (SELECT account_id, count(*) AS users
          FROM active_users
          WHERE last_day > $as_of - {window_days}
          GROUP BY account_id) AS users USING (account_id)
),
ranked AS (
    SELECT account.account_id,
           percent_rank() OVER (PARTITION BY account.segment
                                ORDER BY depth.events_per_user_week) AS rank_in_segment,
           count(*) OVER (PARTITION BY account.segment) AS peers
    FROM scored_accounts AS account
    JOIN depth USING (account_id)
)
SELECT
    account.account_id,
    CASE WHEN ranked.peers >= {min_accounts} THEN ranked.rank_in_segment END AS raw_value,
    CAST(NULL AS DOUBLE) AS value
FROM scored_accounts AS account
LEFT JOIN ranked USING (account_id)
