"""Publish layer: copy what analysts may read into a new DuckDB file and rename it over
the published one.

The working database is never opened by analysts. The published file is written whole
under a temporary name beside it and moved into place with `os.replace`, which is
atomic on one file system: a reader that has the old file open keeps reading the old
version, a new connection sees the new one, and a run killed at any point leaves the
published file as it was. Schemas `mart`, `quarantine` (personal fields redacted) and
`meta` are published with their COMMENTs.
"""


import datetime as dt
import os
from pathlib import Path

import duckdb
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, PartitionsDefinition, asset

import sql
from pipelines.resources import Warehouse
from schemas.extracts import DATASETS

PUBLISHED_SCHEMAS = ("mart", "quarantine", "meta")
REDACTED = "<redacted>"


def quote(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def redacted_record() -> str:
    """SQL for `record` with every personal field of its dataset replaced."""
    expression = "record"
    for dataset in DATASETS.values():
        for name in dataset.personal:
            expression = (
                f"CASE WHEN dataset = '{dataset.name}' AND json_exists(record, '$.{name}') "
                f"THEN json_merge_patch({expression}, "
                f"json_object('{name}', '{REDACTED}'))::VARCHAR ELSE {expression} END")
    return expression


def record_run(connection: duckdb.DuckDBPyConnection, run_id: str, as_of: dt.date,
               status: str, message: str | None = None,
               row_counts: dict[str, int] | None = None) -> None:
    """Insert or update the run's line in meta.runs, keeping its start time."""
    connection.execute("""
        INSERT INTO meta.runs VALUES (?, ?, now()::TIMESTAMP, NULL, ?, ?, NULL, ?)
        ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,
            message = excluded.message,
            row_counts = coalesce(excluded.row_counts, meta.runs.row_counts)""",
                       [run_id, as_of, status, row_counts, message])
    if status != "running":
        connection.execute("UPDATE meta.runs SET finished_at = now()::TIMESTAMP, "
                           "absent_datasets = (SELECT coalesce(list(dataset ORDER BY dataset), []) "
                           "FROM core.dataset_status WHERE NOT delivered AND as_of_date = ?) "
                           "WHERE run_id = ?", [as_of, run_id])


def publish(connection: duckdb.DuckDBPyConnection, target: Path, run_id: str,
            history_days: int = 400) -> dict[str, int]:
    """Write the published schemas to a new file and move it over `target`; of
    mart.health_measures, only the newest `history_days` dates."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{run_id}.tmp")
    staging.unlink(missing_ok=True)
    tables = connection.execute("""
        SELECT schema_name, table_name, comment FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name IN ?
        ORDER BY ALL""", [list(PUBLISHED_SCHEMAS)]).fetchall()
    columns = connection.execute("""
        SELECT schema_name, table_name, column_name, comment FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name IN ? AND comment IS NOT NULL
        """, [list(PUBLISHED_SCHEMAS)]).fetchall()
    counts: dict[str, int] = {}
    connection.execute(f"ATTACH {quote(str(staging))} AS published")
    try:
        for schema in PUBLISHED_SCHEMAS:
            connection.execute(f"CREATE SCHEMA published.{schema}")
        for schema, table, comment in tables:
            select, where = "*", ""
            if (schema, table) == ("quarantine", "rejected_rows"):
                select = f"* REPLACE ({redacted_record()} AS record)"
            if (schema, table) == ("mart", "health_measures"):
                where = (" WHERE as_of_date > (SELECT max(as_of_date) FROM mart.health_measures)"
                         f" - {int(history_days)}")
            connection.execute(f"CREATE TABLE published.{schema}.{table} AS "
                               f"SELECT {select} FROM {schema}.{table}{where}")
            if comment:
                connection.execute(f"COMMENT ON TABLE published.{schema}.{table} IS "
                                   f"{quote(comment)}")
            counts[f"{schema}.{table}"] = sql.scalar(
                connection, f"SELECT count(*) FROM published.{schema}.{table}")
        for schema, table, column, comment in columns:
            connection.execute(f"COMMENT ON COLUMN published.{schema}.{table}.{column} IS "
                               f"{quote(comment)}")
        connection.execute("DETACH published")
        fd = os.open(staging, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(staging, target)
    except BaseException:
        connection.execute("DETACH DATABASE IF EXISTS published")
        staging.unlink(missing_ok=True)
        raise
    return counts


def build_publish_asset(partitions_def: PartitionsDefinition, upstream: list[AssetKey]):
    @asset(key=AssetKey(["publish", "warehouse"]), deps=upstream, group_name="publish",
           partitions_def=partitions_def, kinds={"duckdb"}, pool="duckdb_writer",
           description="The DuckDB file analysts open (CSHEALTH_WAREHOUSE): mart, "
                       "quarantine (redacted) and meta, replaced atomically.")
    def published_warehouse(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        with warehouse.connect() as connection:
            row_counts = dict(connection.execute(
                "SELECT 'core.' || dataset, NULL FROM core.dataset_status").fetchall())
            for table in row_counts:
                row_counts[table] = sql.scalar(connection, f"SELECT count(*) FROM {table}")
            record_run(connection, context.run.run_id, as_of, "success", row_counts=row_counts)
            try:
                counts = publish(connection, warehouse.published_path, context.run.run_id,
                                 warehouse.settings().history_days)
            except BaseException as exc:
                record_run(connection, context.run.run_id, as_of, "failed",
                           message=f"publish failed: {exc}")
                raise
        return MaterializeResult(metadata={"path": str(warehouse.published_path),
                                           **{table: rows for table, rows in counts.items()}})

    return published_warehouse
