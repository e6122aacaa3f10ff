"""Publish layer: copy what analysts may read into a new DuckDB file and rename it over
the published one.

The working database is never opened by analysts. The published file is written under
a temporary name beside it and moved into place with `os.replace`, which is atomic on
one file system: a reader that has the old file open keeps reading the old
version, a new connection sees the new one, and a run killed at any point before the
rename leaves the published file as it was. (DuckDB shares one open database among the
connections of a process: a process sees the new file once it has closed every
connection to the old one.) Schemas `mart`, `quarantine` (personal fields redacted) and
`meta` are published with their COMMENTs.

The staging file starts as a copy of the published file when that file is the one the
last publish of this working database wrote and its tables and columns are still the
working database's (`attach_copy_of_last_publish`). The tables of INCREMENTAL, which
grow with every date, then get only the dates marked in `main.unpublished_dates` (the
health asset marks the date it scores, the core layer the date of its rejections, the
weekly usage marts the Monday of the week they rewrite; a failed run's marks wait for
the next publish); every other table, all small, is replaced whole. Otherwise the
staging file is written from nothing. Both end equal, table for table, to what the
working database holds, but the nightly publish no longer copies every date of
history.

The staging file is `.<name>.<run_id>.tmp` (DuckDB adds `.<name>.<run_id>.tmp.wal` while
writing). A run killed before the rename leaves them behind; the next publish deletes
them first. That is safe because publish holds the working database open for writing,
which DuckDB locks to one process: no other run of this warehouse can be staging then.

The run's line in meta.runs stays `running` in the working database until the rename
is done; the staged copy already says `success`. So a run killed while publishing is
never recorded as a success that analysts did not get. The same holds for the runs that
computed without publishing (`computed`: every date of a range but the last): the
publish that carries their marts marks them `success`, naming itself in
`published_by_run`.

Fault injection, for tests only: `publish()` calls `after_step(step)` after each step,
with step one of "attached" (staging file created or copied, schemas made), "copied
<schema>.<table>" (after each table), "commented" (every COMMENT written), "synced"
(staging file checkpointed, closed and fsynced, a stale WAL of the published file
deleted: just before the rename) and "replaced" (just after the rename). It does
nothing; tests/test_publish.py replaces it to raise, or to stop the process so that it
can be killed, at one step.
"""

import datetime as dt
import glob
import os
import shutil
from pathlib import Path

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    MaterializeResult,
    PartitionsDefinition,
    RunsFilter,
    asset,
)

import sql
from pipelines.resources import Warehouse
from schemas.extracts import DATASETS

PUBLISHED_SCHEMAS = ("mart", "quarantine", "meta")
REDACTED = "<redacted>"
# Tables that grow with every date and that a publish updates date by date, with the
# expression of a row's date: the writers mark the dates they change in
# main.unpublished_dates, and rows whose date is null (load-stage rejections, few) are
# copied every time. Every other table is small and copied whole.
INCREMENTAL = {
    "mart.health_measures": "as_of_date",
    "mart.account_health": "as_of_date",
    "mart.weekly_usage": "week_start",
    "mart.feature_adoption": "week_start",
    "quarantine.rejected_rows": "CASE WHEN stage = 'core' THEN as_of_date END",
}


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
        INSERT INTO meta.runs (run_id, as_of_date, started_at, status, row_counts, message)
        VALUES (?, ?, now()::TIMESTAMP, ?, ?, ?)
        ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,
            message = excluded.message,
            row_counts = coalesce(excluded.row_counts, meta.runs.row_counts)""",
        [run_id, as_of, status, row_counts, message],
    )
    if status != "running":
        finish_run(connection, run_id, status)


def close_ended_runs(connection: duckdb.DuckDBPyConnection, instance: DagsterInstance) -> None:
    """Close the lines of meta.runs still `running` whose Dagster run has ended: a
    `cshealth run` killed outright (once `release_dead_runs` has failed its Dagster run),
    a run canceled from the Dagster UI, one whose failure no sensor recorded (the daemon
    was not running), or a run of some assets only, which never reached the publish step.
    Failed and canceled runs become `failed`, with the message of the Dagster failure when
    there is one; a partial run that succeeded becomes `computed`, published by the next
    publish. Called before each CLI run and by each run's core step."""
    running = dict(
        connection.execute(
            "SELECT run_id, as_of_date FROM meta.runs WHERE status = 'running'"
        ).fetchall()
    )
    if not running:
        return
    for record in instance.get_run_records(RunsFilter(run_ids=list(running))):
        run = record.dagster_run
        if not run.is_finished:
            continue
        if run.status == DagsterRunStatus.SUCCESS:
            status = "computed"
            message = "ended without its publish step: published by the next publish"
        else:
            status = "failed"
            failures = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
            message = (
                failures[-1].dagster_event.message.splitlines()[0]
                if failures and failures[-1].dagster_event.message
                else f"its Dagster run ended {run.status.value.lower()} before it finished"
            )
        record_run(connection, run.run_id, running[run.run_id], status, message=message)


def mark_published(
    connection: duckdb.DuckDBPyConnection, run_id: str, runs: str = "meta.runs"
) -> list[dt.date]:
    """In `runs` (meta.runs, or its staged copy), the publishing run published itself and
    every `computed` run: the dates of a range before its last, or of a range that
    stopped before its last date published. Returns those runs' as-of dates."""
    connection.execute(f"UPDATE {runs} SET published_by_run = run_id WHERE run_id = ?", [run_id])
    return [
        row[0]
        for row in connection.execute(
            f"""UPDATE {runs} SET status = 'success', published_by_run = $run_id,
                    message = format('published by the run of {{}} ({{}})',
                        (SELECT as_of_date FROM {runs} WHERE run_id = $run_id), $run_id)
                WHERE status = 'computed' RETURNING as_of_date""",
            {"run_id": run_id},
        ).fetchall()
    ]


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


def catalog(connection: duckdb.DuckDBPyConnection, database: str) -> list[tuple]:
    """Tables and columns of the published schemas in `database`, with their types and
    COMMENTs, in a stable order."""
    return connection.execute(
        """
        SELECT schema_name, table_name, NULL, NULL, comment FROM duckdb_tables()
        WHERE database_name = ? AND schema_name IN ?
        UNION ALL
        SELECT schema_name, table_name, column_name, data_type, comment FROM duckdb_columns()
        WHERE database_name = ? AND schema_name IN ?
        ORDER BY ALL""",
        [database, list(PUBLISHED_SCHEMAS)] * 2,
    ).fetchall()


def attach_copy_of_last_publish(
    connection: duckdb.DuckDBPyConnection, target: Path, run_id: str, working: list[tuple]
) -> bool:
    """Copy `target` to the run's staging file and attach it as `published` when it can
    be brought up to date date by date: it was written by the last publish of this
    working database (its newest successful run is main.last_publish) and holds the
    tables and columns of the working database's `catalog`, COMMENTs included.
    Otherwise, or when it cannot be read, leave nothing attached nor copied and return
    False."""
    last_publish = sql.scalar(connection, "SELECT max(run_id) FROM main.last_publish")
    if last_publish is None or not target.exists():
        return False
    staging = staging_path(target, run_id)
    shutil.copyfile(target, staging)
    try:
        connection.execute(f"ATTACH {quote(str(staging))} AS published")
        newest_in_copy = sql.scalar(
            connection,
            """SELECT arg_max(run_id, finished_at) FROM published.meta.runs
               WHERE status = 'success'""",
        )
        if newest_in_copy == last_publish and catalog(connection, "published") == working:
            return True
    except duckdb.Error:
        pass
    connection.execute("DETACH DATABASE IF EXISTS published")
    remove_staging(target, run_id)
    return False


def publish(
    connection: duckdb.DuckDBPyConnection, target: Path, run_id: str, history_days: int = 400
) -> tuple[dict[str, int], str]:
    """Write the published schemas to a staging file and move it over `target`; of
    mart.health_measures, only the newest `history_days` dates. Returns the row count of
    each published table and the mode, "incremental" (the published file copied and
    updated, see the module docstring) or "full". The run's line in the copy of
    meta.runs says `success`. Staging files left by killed runs are deleted first.

    The caller records the publish (`record_publish`) once the rename is done."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_staging(target)
    staging = staging_path(target, run_id)
    working = catalog(connection, sql.scalar(connection, "SELECT current_database()"))
    tables = [
        (schema, table, comment) for schema, table, column, _, comment in working if not column
    ]
    counts: dict[str, int] = {}
    try:
        incremental = attach_copy_of_last_publish(connection, target, run_id, working)
        if not incremental:
            connection.execute(f"ATTACH {quote(str(staging))} AS published")
            for schema in PUBLISHED_SCHEMAS:
                connection.execute(f"CREATE SCHEMA published.{schema}")
        after_step("attached")
        history_start = f"(SELECT max(as_of_date) FROM mart.health_measures) - {int(history_days)}"
        for schema, table, comment in tables:
            name = f"{schema}.{table}"
            select = "*"
            if name == "quarantine.rejected_rows":
                select = f"* REPLACE ({redacted_record()} AS record)"
            kept = f"as_of_date > {history_start}" if name == "mart.health_measures" else "true"
            if not incremental:
                connection.execute(
                    f"CREATE TABLE published.{name} AS SELECT {select} FROM {name} WHERE {kept}"
                )
                if comment:
                    connection.execute(f"COMMENT ON TABLE published.{name} IS {quote(comment)}")
            elif name in INCREMENTAL:
                changed = (
                    f"coalesce({INCREMENTAL[name]} IN (SELECT as_of_date "
                    f"FROM main.unpublished_dates WHERE table_name = {quote(name)}), true)"
                )
                connection.execute(f"DELETE FROM published.{name} WHERE {changed} OR NOT ({kept})")
                connection.execute(
                    f"INSERT INTO published.{name} "
                    f"SELECT {select} FROM {name} WHERE {changed} AND {kept}"
                )
            else:
                connection.execute(f"DELETE FROM published.{name}")
                connection.execute(
                    f"INSERT INTO published.{name} SELECT {select} FROM {name} WHERE {kept}"
                )
            counts[name] = sql.scalar(connection, f"SELECT count(*) FROM published.{name}")
            after_step(f"copied {name}")
        finish_run(connection, run_id, "success", runs="published.meta.runs")
        mark_published(connection, run_id, runs="published.meta.runs")
        if not incremental:  # a copied file keeps its COMMENTs
            for schema, table, column, _, comment in working:
                if column and comment is not None:
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
    return counts, "incremental" if incremental else "full"


def record_publish(
    connection: duckdb.DuckDBPyConnection, run_id: str, as_of: dt.date, marked: list[tuple]
) -> list[dt.date]:
    """After the rename, in one transaction: the run succeeded, the published file is
    this run's, the computed runs it carried are published, and the dates it published
    are no longer pending. A run killed before this commit leaves main.last_publish
    naming the previous run, so the next publish starts from nothing rather than from a
    file it cannot vouch for. Returns the as-of dates of the computed runs it carried."""
    with sql.transaction(connection):
        record_run(connection, run_id, as_of, "success")
        carried = mark_published(connection, run_id)
        connection.execute("DELETE FROM main.last_publish")
        connection.execute("INSERT INTO main.last_publish VALUES (?)", [run_id])
        if marked:
            tables, dates = zip(*marked, strict=True)
            connection.execute(
                """
                DELETE FROM main.unpublished_dates AS pending
                USING (SELECT unnest(?::VARCHAR[]) AS table_name,
                              unnest(?::DATE[]) AS as_of_date) AS done
                WHERE pending.table_name = done.table_name
                  AND pending.as_of_date = done.as_of_date""",
                [list(tables), list(dates)],
            )
    return carried


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
            # `success` only once the file is in place (the staged copy says it already).
            # The core layer recorded the run's row counts.
            record_run(connection, context.run.run_id, as_of, "running")
            marked = connection.execute("SELECT * FROM main.unpublished_dates").fetchall()
            try:
                counts, mode = publish(
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
            carried = record_publish(connection, context.run.run_id, as_of, marked)
        # The dates of computed runs show in Dagster as published by this run, so that
        # the schedule and sensor do not run them again.
        for day in sorted(set(carried) - {as_of}):
            context.log_event(
                AssetMaterialization(
                    PUBLISHED,
                    partition=day.isoformat(),
                    metadata={"published_by_run": context.run.run_id},
                )
            )
        return MaterializeResult(
            metadata={
                "path": str(warehouse.published_path),
                "mode": mode,
                **{table: rows for table, rows in counts.items()},
            }
        )

    return published_warehouse
