-- core.{dataset}: the state of one dataset as of $as_of (parameters $as_of, $run_id).
--  * rows of the deliveries in force: {deliveries_in_force}
--  * rows whose account is unknown or whose currency has no rate are quarantined for
--    this as-of date (stage 'core') and left out;
--  * {newest_wins}
--  * money converted to USD at the newest rates (constant currency);
--  * {how_built}

CREATE OR REPLACE TEMP TABLE core_checked AS
SELECT
    candidate.*,
    list_filter([{account_reason}, {currency_reason}], lambda reason: reason IS NOT NULL) AS _reasons
FROM {candidates} AS candidate
WHERE candidate._delivery_date <= $as_of {snapshot_filter};

DELETE FROM quarantine.rejected_rows
WHERE stage = 'core' AND dataset = '{dataset}' AND as_of_date = $as_of;

INSERT INTO quarantine.rejected_rows
SELECT $run_id, '{dataset}', _source_file, _row_number,
       to_json(struct_pack({record_columns}))::VARCHAR, _reasons, _delivery_date, 'core', $as_of
FROM core_checked
WHERE len(_reasons) > 0;

CREATE OR REPLACE {target} AS
SELECT
    CAST($as_of AS DATE) AS as_of_date,
    {columns}{usd_columns},
    candidate._source_file, candidate._delivery_date
FROM core_checked AS candidate
{fx_join}
WHERE len(_reasons) = 0
{qualify};
{forward}
DROP TABLE core_checked;
