-- Schemas and bookkeeping tables of the working database. Idempotent.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS rollup;

-- Product-usage rollups, kept per product_events delivery and rebuilt only for the
-- deliveries that changed (assets/core.py: update_usage_rollups; sql/usage_rollup.sql).
CREATE TABLE IF NOT EXISTS rollup.deliveries (delivery_date DATE, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS rollup.resent_events (
    event_id VARCHAR, delivery_date DATE, first_delivery DATE
);
CREATE TABLE IF NOT EXISTS rollup.user_days (
    delivery_date DATE,
    account_id VARCHAR,
    user_id VARCHAR,
    day DATE,
    events BIGINT,
    logins BIGINT,
    trainings BIGINT,
    limit_hits BIGINT,
    first_delivery BOOLEAN
);
CREATE TABLE IF NOT EXISTS rollup.feature_days (
    delivery_date DATE, account_id VARCHAR, day DATE, event_name VARCHAR, events BIGINT
);
CREATE TABLE IF NOT EXISTS rollup.account_days (
    delivery_date DATE, account_id VARCHAR, day DATE, events BIGINT, logins BIGINT,
    user_days BIGINT
);
-- The last day of activity of each account's users and event names as of a date, kept
-- for the latest as-of dates (assets/core.py: update_last_days; sql/usage_last_days.sql);
-- last_day_dates lists the dates kept.
CREATE TABLE IF NOT EXISTS rollup.user_last_days (
    as_of_date DATE, account_id VARCHAR, user_id VARCHAR, last_day DATE
);
CREATE TABLE IF NOT EXISTS rollup.feature_last_days (
    as_of_date DATE, account_id VARCHAR, event_name VARCHAR, last_day DATE
);
CREATE TABLE IF NOT EXISTS rollup.last_day_dates (as_of_date DATE PRIMARY KEY);

-- Publish bookkeeping (assets/publish.py), not published: the dates of the history
-- tables published incrementally that changed since the last publish (for the weekly
-- marts, the Monday of the week), and the run whose publish the published file holds.
CREATE TABLE IF NOT EXISTS main.unpublished_dates (
    table_name VARCHAR, as_of_date DATE, PRIMARY KEY (table_name, as_of_date)
);
CREATE TABLE IF NOT EXISTS main.last_publish (run_id VARCHAR);

CREATE TABLE IF NOT EXISTS core.dataset_status (
    as_of_date DATE, dataset VARCHAR, delivered BOOLEAN, newest_delivery DATE
);
-- For each incremental dataset, the as-of date of its core rows (for product events,
-- of their rejections) and what they were computed from: a later as-of date brings
-- them forward while that is unchanged (assets/core.py: previous_core_date).
CREATE TABLE IF NOT EXISTS core.basis (dataset VARCHAR, as_of_date DATE, basis VARCHAR);

CREATE TABLE IF NOT EXISTS quarantine.rejected_rows (
    run_id VARCHAR,
    dataset VARCHAR,
    source_file VARCHAR,
    row_number BIGINT,
    record VARCHAR,
    reasons VARCHAR[],
    delivery_date DATE,
    stage VARCHAR,
    as_of_date DATE
);
COMMENT ON TABLE quarantine.rejected_rows IS 'Every row that was read and not loaded, with every rule it broke. stage load: rejected when its delivery was read. stage core: rejected for the as-of date (unknown_account, account_quarantined, unknown_currency, already_delivered).';
COMMENT ON COLUMN quarantine.rejected_rows.run_id IS 'Dagster run that rejected the row';
COMMENT ON COLUMN quarantine.rejected_rows.dataset IS 'Extract dataset the row came from';
COMMENT ON COLUMN quarantine.rejected_rows.source_file IS 'Path of the file the row was read from';
COMMENT ON COLUMN quarantine.rejected_rows.row_number IS '1-based data row in the file (header not counted)';
COMMENT ON COLUMN quarantine.rejected_rows.record IS 'The row as read, as JSON. Personal fields are "<redacted>" in the published file';
COMMENT ON COLUMN quarantine.rejected_rows.reasons IS 'Every rule the row broke, such as "licensed_seats: must be > 0" or "duplicate_key"';
COMMENT ON COLUMN quarantine.rejected_rows.delivery_date IS 'Date of the delivery folder';
COMMENT ON COLUMN quarantine.rejected_rows.stage IS 'load (contract rules, duplicate keys) or core (account and currency checks for an as-of date)';
COMMENT ON COLUMN quarantine.rejected_rows.as_of_date IS 'As-of date of a core-stage rejection, null for load-stage rejections';

CREATE TABLE IF NOT EXISTS quarantine.rejected_files (
    run_id VARCHAR,
    dataset VARCHAR,
    source_file VARCHAR,
    message VARCHAR,
    delivery_date DATE,
    line_count BIGINT
);
COMMENT ON TABLE quarantine.rejected_files IS 'Files rejected whole: unparseable, or lacking a required column. The other files of the delivery still load.';
COMMENT ON COLUMN quarantine.rejected_files.run_id IS 'Dagster run that rejected the file';
COMMENT ON COLUMN quarantine.rejected_files.dataset IS 'Extract dataset of the file';
COMMENT ON COLUMN quarantine.rejected_files.source_file IS 'Path of the rejected file or folder';
COMMENT ON COLUMN quarantine.rejected_files.message IS 'What is wrong, naming the file and the column';
COMMENT ON COLUMN quarantine.rejected_files.delivery_date IS 'Date of the delivery folder, null for a folder whose name is not a date';
COMMENT ON COLUMN quarantine.rejected_files.line_count IS 'Data lines of the file, counted as rejected rows in the reject ratio';

CREATE TABLE IF NOT EXISTS meta.deliveries (
    dataset VARCHAR,
    delivery_date DATE,
    fingerprint VARCHAR,
    run_id VARCHAR,
    loaded_at TIMESTAMP,
    files BIGINT,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_rejected BIGINT,
    files_rejected BIGINT,
    rejected_file_lines BIGINT,
    extra_columns VARCHAR[],
    PRIMARY KEY (dataset, delivery_date)
);
COMMENT ON TABLE meta.deliveries IS 'Each delivery folder loaded into raw: an unchanged folder is not read again, a changed one replaces its rows.';
COMMENT ON COLUMN meta.deliveries.dataset IS 'Extract dataset';
COMMENT ON COLUMN meta.deliveries.delivery_date IS 'Date of the delivery folder';
COMMENT ON COLUMN meta.deliveries.fingerprint IS 'Hash of the folder''s file names, sizes and modification times';
COMMENT ON COLUMN meta.deliveries.run_id IS 'Run that loaded the folder';
COMMENT ON COLUMN meta.deliveries.loaded_at IS 'When it was loaded (UTC)';
COMMENT ON COLUMN meta.deliveries.files IS 'Extract files in the folder';
COMMENT ON COLUMN meta.deliveries.rows_read IS 'Rows read from the files that could be parsed';
COMMENT ON COLUMN meta.deliveries.rows_loaded IS 'Rows loaded into raw';
COMMENT ON COLUMN meta.deliveries.rows_rejected IS 'Rows quarantined (rows_read = rows_loaded + rows_rejected)';
COMMENT ON COLUMN meta.deliveries.files_rejected IS 'Files rejected whole';
COMMENT ON COLUMN meta.deliveries.rejected_file_lines IS 'Data lines of the rejected files';
COMMENT ON COLUMN meta.deliveries.extra_columns IS 'Columns the contract does not know: kept in raw._extra, ignored downstream';

CREATE TABLE IF NOT EXISTS meta.runs (
    run_id VARCHAR PRIMARY KEY,
    as_of_date DATE,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    status VARCHAR,
    row_counts MAP(VARCHAR, BIGINT),
    absent_datasets VARCHAR[],
    message VARCHAR,
    published_by_run VARCHAR
);
ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS published_by_run VARCHAR;  -- older files
COMMENT ON TABLE meta.runs IS 'Every pipeline run: its as-of date, timing, outcome and row counts.';
COMMENT ON COLUMN meta.runs.run_id IS 'Dagster run id';
COMMENT ON COLUMN meta.runs.as_of_date IS 'The date the run computed';
COMMENT ON COLUMN meta.runs.started_at IS 'Start (UTC)';
COMMENT ON COLUMN meta.runs.finished_at IS 'End (UTC), null while running';
COMMENT ON COLUMN meta.runs.status IS 'running; computed (its results wait for a publish: every date of a range but the last, or a run of some assets only); success (published); failed';
COMMENT ON COLUMN meta.runs.row_counts IS 'Rows per table written by the run';
COMMENT ON COLUMN meta.runs.absent_datasets IS 'Datasets with no delivery folder at all: read as empty';
COMMENT ON COLUMN meta.runs.message IS 'Why a run failed, or which publish a computed run waits for or was published by';
COMMENT ON COLUMN meta.runs.published_by_run IS 'The run whose publish brought this run''s results to analysts: its own id, or a later run''s for a computed run; null until published';
