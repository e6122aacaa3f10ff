-- The rows behind each dataset's reject ratio for run $run_id and as-of date $as_of: the
-- rows of the deliveries this run read, those rejected as they were read (stage load,
-- and the data lines of rejected files) and those of the same deliveries that the core
-- layer rejected for $as_of (unknown_account, account_quarantined, unknown_currency).
-- Resent product events (already_delivered) are not counted: an append-only feed that
-- sends a day again has sent nothing wrong.
WITH read_in_run AS (
    SELECT dataset, delivery_date, rows_read, rows_rejected, rejected_file_lines
    FROM meta.deliveries
    WHERE run_id = $run_id
),
rejected_at_core AS (
    SELECT rejected.dataset, count(*) AS rows_rejected
    FROM quarantine.rejected_rows AS rejected
    SEMI JOIN read_in_run AS delivery
        ON delivery.dataset = rejected.dataset
       AND delivery.delivery_date = rejected.delivery_date
    WHERE rejected.stage = 'core' AND rejected.as_of_date = $as_of
      AND NOT list_contains(rejected.reasons, 'already_delivered')
    GROUP BY rejected.dataset
)
SELECT
    delivery.dataset,
    CAST(sum(delivery.rows_read + delivery.rejected_file_lines) AS BIGINT) AS rows_counted,
    CAST(sum(delivery.rows_rejected) AS BIGINT) AS rejected_at_load,
    CAST(sum(delivery.rejected_file_lines) AS BIGINT) AS rejected_file_lines,
    coalesce(any_value(core.rows_rejected), 0) AS rejected_at_core
FROM read_in_run AS delivery
LEFT JOIN rejected_at_core AS core USING (dataset)
GROUP BY delivery.dataset
