-- Replace the latest-only revenue marts with the rows sql/retention.sql computed for
-- $as_of (run when $as_of is not older than the date they hold: assets/retention.py).
DELETE FROM mart.mrr_movements;
INSERT INTO mart.mrr_movements SELECT * FROM mrr_movements_today ORDER BY account_id, month;

DELETE FROM mart.retention;
INSERT INTO mart.retention
SELECT * FROM retention_today ORDER BY grain, group_by, group_value, period_start;
