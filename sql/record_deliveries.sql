-- Book-keeping for the deliveries just loaded (views loaded_deliveries,
-- rejected_rows, rejected_files; parameters: dataset, run id).
INSERT OR REPLACE INTO meta.deliveries
SELECT
    $1 AS dataset,
    d.delivery_date,
    d.fingerprint,
    $2 AS run_id,
    now()::TIMESTAMP AS loaded_at,
    d.files,
    d.rows_read,
    d.rows_loaded,
    (SELECT count(*) FROM rejected_rows r WHERE r.delivery_date = d.delivery_date),
    (SELECT count(*) FROM rejected_files f WHERE f._delivery_date = d.delivery_date),
    (SELECT coalesce(sum(lines), 0) FROM rejected_files f
      WHERE f._delivery_date = d.delivery_date),
    d.extra_columns
FROM loaded_deliveries AS d
