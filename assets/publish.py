"""Publish layer: copy what analysts may read into a new DuckDB file and rename it over
the published one.

The working database is never opened by analysts. The published file is written whole
under a temporary name beside it and moved into place with `os.replace`, which is
atomic on one file system: a reader that has the old file open keeps reading the old
version, a new connection sees the new one, and a run killed at any point before the
rename leaves the published file as it was. (DuckDB shares one open database among the
connections of a process: a process sees the new file once it has closed every
connection to the old one.) Schemas `mart`, `quarantine` (personal fields redacted) and
`meta` are published with their COMMENTs.

The staging file is `.<name>.<run_id>.tmp` (DuckDB adds `.<name>.<run_id>.tmp.wal` while
writing). A run killed before the rename leaves them behind; the next publish deletes
them first. That is safe because publish holds the working database open for writing,
which DuckDB locks to one process: no other run of this warehouse can be staging then.

The run's line in meta.runs stays `running` in the working database until the rename
is done; the staged copy already says `success`. So a run killed while publishing is
never recorded as a success that analysts did not get.

Fault injection, for tests only: `publish()` calls `after_step(step)` after each step,
with step one of "attached" (staging file created, schemas made), "copied
<schema>.<table>" (after each table), "commented" (every COMMENT written), "synced"
(staging file checkpointed, closed and fsynced, a stale WAL of the published file
deleted: just before the rename) and "replaced" (just after the rename). It does
nothing; tests/test_publish.py replaces it to raise, or to stop the process so that it
can be killed, at one step.
"""

import datetime as dt
import glob
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
                f"json_object('{name}', '{REDACTED}'))::VARCHAR ELSE {expression} END"
            )
    return expression


def record_run(
    connection: duckdb.DuckDBPyConnection,
    run_id: str,
    as_of: dt.date,
    status: str,
    message: str | None = None,
    row_counts: dict[str, int] | None = None,
) -> None:
    """Insert or update the run's line in meta.runs, keeping its start time."""
    connection.execute(
        """
        INSERT INTO meta.runs VALUES (?, ?, now()::TIMESTAMP, NULL, ?, ?, NULL, ?)
        ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,
            message = excluded.message,
            row_counts = coalesce(excluded.row_counts, meta.runs.row_counts)""",
        [run_id, as_of, status, row_counts, message],
    )
    if status != "running":
        finish_run(connection, run_id, status)


def finish_run(
    connection: duckdb.DuckDBPyConnection, run_id: str, status: str, runs: str = "meta.runs"
) -> None:
    """Close the run's line in `runs` (meta.runs, or its staged copy): status, end time
    and the datasets absent on its as-of date."""
    connection.execute(
        f"""
        UPDATE {runs} AS run SET status = ?, finished_at = now()::TIMESTAMP,
            absent_datasets = (SELECT coalesce(list(dataset ORDER BY dataset), [])
                               FROM core.dataset_status AS status
                               WHERE NOT status.delivered AND status.as_of_date = run.as_of_date)
        WHERE run_id = ?""",
        [status, run_id],
    )


def after_step(step: str) -> None:
    """Fault-injection point (see the module docstring): does nothing."""


def staging_path(target: Path, run_id: str) -> Path:
    return target.with_name(f".{target.name}.{run_id}.tmp")


def remove_staging(target: Path, run_id: str = "*") -> list[Path]:
    """Delete the staging file of `run_id` beside `target`, with its WAL; every run's
    when `run_id` is "*". Returns what was deleted."""
    pattern = glob.escape(f".{target.name}.") + ("*" if run_id == "*" else glob.escape(run_id))
    removed = []
    for path in [*target.parent.glob(pattern + ".tmp"), *target.parent.glob(pattern + ".tmp.wal")]:
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def fsync_directory(folder: Path) -> None:
    """Make a rename in `folder` durable; best effort (not every file system can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(
    connection: duckdb.DuckDBPyConnection, target: Path, run_id: str, history_days: int = 400
) -> dict[str, int]:
    """Write the published schemas to a new file and move it over `target`; of
    mart.health_measures, only the newest `history_days` dates. The run's line in the
    copy of meta.runs says `success`. Staging files left by killed runs are deleted
    first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_staging(target)
    staging = staging_path(target, run_id)
    tables = connection.execute(
        """
        SELECT schema_name, table_name, comment FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name IN ?
        ORDER BY ALL""",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    columns = connection.execute(
        """
        SELECT schema_name, table_name, column_name, comment FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name IN ? AND comment IS NOT NULL
        """,
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    counts: dict[str, int] = {}
    try:
        connection.execute(f"ATTACH {quote(str(staging))} AS published")
        for schema in PUBLISHED_SCHEMAS:
            connection.execute(f"CREATE SCHEMA published.{schema}")
        after_step("attached")
        for schema, table, comment in tables:
            select, where = "*", ""
            if (schema, table) == ("quarantine", "rejected_rows"):
                select = f"* REPLACE ({redacted_record()} AS record)"
            if (schema, table) == ("mart", "health_measures"):
                where = (
                    " WHERE as_of_date > (SELECT max(as_of_date) FROM mart.health_measures)"
                    f" - {int(history_days)}"
                )
            connection.execute(
                f"CREATE TABLE published.{schema}.{table} AS "
                f"SELECT {select} FROM {schema}.{table}{where}"
            )
            if comment:
                connection.execute(
                    f"COMMENT ON TABLE published.{schema}.{table} IS {quote(comment)}"
                )
            counts[f"{schema}.{table}"] = sql.scalar(
                connection, f"SELECT count(*) FROM published.{schema}.{table}"
            )
            after_step(f"copied {schema}.{table}")
        finish_run(connection, run_id, "success", runs="published.meta.runs")
        for schema, table, column, comment in columns:
            connection.execute(
                f"COMMENT ON COLUMN published.{schema}.{table}.{column} IS {quote(comment)}"
            )
        after_step("commented")
        # Everything into the file itself: only the file is renamed, never its WAL.
        connection.execute("CHECKPOINT published")
        connection.execute("DETACH published")
        if staging.with_name(staging.name + ".wal").exists():
            raise RuntimeError(f"{staging}.wal left after DETACH: not publishing a file without it")
        fd = os.open(staging, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # A WAL beside the published file (someone opened it read-write and crashed)
        # belongs to the old file: DuckDB would refuse to open the new one with it.
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        after_step("synced")
        os.replace(staging, target)
    except BaseException:
        connection.execute("DETACH DATABASE IF EXISTS published")
        remove_staging(target, run_id)
        raise
    fsync_directory(target.parent)
    after_step("replaced")
    return counts


PUBLISHED = AssetKey(["publish", "warehouse"])


def build_publish_asset(partitions_def: PartitionsDefinition, upstream: list[AssetKey]):
    @asset(
        key=PUBLISHED,
        deps=upstream,
        group_name="publish",
        partitions_def=partitions_def,
        kinds={"duckdb"},
        pool="duckdb_writer",
        description="The DuckDB file analysts open (CSHEALTH_WAREHOUSE): mart, "
        "quarantine (redacted) and meta, replaced atomically.",
    )
    def published_warehouse(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        with warehouse.connect() as connection:
            row_counts = dict(
                connection.execute(
                    "SELECT 'core.' || dataset, NULL FROM core.dataset_status"
                ).fetchall()
            )
            for table in row_counts:
                row_counts[table] = sql.scalar(connection, f"SELECT count(*) FROM {table}")
            # `success` only once the file is in place (the staged copy says it already).
            record_run(connection, context.run.run_id, as_of, "running", row_counts=row_counts)
            try:
                counts = publish(
                    connection,
                    warehouse.published_path,
                    context.run.run_id,
                    warehouse.settings().history_days,
                )
            except BaseException as exc:
                record_run(
                    connection,
                    context.run.run_id,
                    as_of,
                    "failed",
                    message=f"publish failed: {exc}",
                )
                raise
            record_run(connection, context.run.run_id, as_of, "success")
        return MaterializeResult(
            metadata={
                "path": str(warehouse.published_path),
                **{table: rows for table, rows in counts.items()},
            }
        )

    return published_warehouse
