"""Parquet export of the published marts for BI tools (`cshealth run --export DIR`, or
CSHEALTH_EXPORT_DIR).

Read from the published file once it is in place, so the export shows what analysts
see. Tables with history are Hive-partitioned by as-of date
(`<dir>/<table>/as_of_date=YYYY-MM-DD/data_0.parquet`): a run rewrites the dates its
publish changed (the as-of dates of the runs it published, in meta.runs.published_by_run:
its own, and those of the computed runs it carried, such as the earlier dates of a
range; with the dates 7 and 30 days after each, whose deltas they refresh, see
sql/health_history.sql) and any date not exported yet. Every other mart is one file,
`<dir>/<table>.parquet`. Each file is written under a temporary name and renamed into
place, so a reader never sees half a file.
"""

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, PartitionsDefinition, asset

from assets.publish import PUBLISHED
from pipelines.resources import Warehouse

HISTORY_TABLES = ("account_health", "health_measures", "portfolio_kpis")
REFRESHED_DAYS = (0, 7, 30)


def quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_marts(published: Path, target: Path, run_id: str) -> dict[str, int]:
    """Write the marts of the published file as Parquet under `target` for the run
    `run_id`, which published it; rows written per table."""
    target.mkdir(parents=True, exist_ok=True)
    staging = target / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    written: dict[str, int] = {}
    with duckdb.connect(str(published), read_only=True) as connection:
        published_dates = [
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT as_of_date FROM meta.runs WHERE published_by_run = ?", [run_id]
            ).fetchall()
        ]
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'mart' "
                "ORDER BY table_name"
            ).fetchall()
        ]
        try:
            for table in tables:
                if table in HISTORY_TABLES:
                    written[table] = export_history(
                        connection, table, target, staging, published_dates
                    )
                else:
                    file = target / f"{table}.parquet"
                    temporary = target / f".{table}.parquet.tmp"
                    connection.execute(f"COPY mart.{table} TO {quote(temporary)} (FORMAT parquet)")
                    os.replace(temporary, file)
                    written[table] = connection.execute(
                        f"SELECT count(*) FROM mart.{table}"
                    ).fetchall()[0][0]
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return written


def export_history(
    connection, table: str, target: Path, staging: Path, published_dates: list[dt.date]
) -> int:
    """Rewrite the partitions of `table` that the runs of `published_dates` changed, and
    any not exported yet."""
    folder = target / table
    exported = {
        path.parent.name.removeprefix("as_of_date=")
        for path in folder.glob("as_of_date=*/*.parquet")
    }
    changed = {
        (day + dt.timedelta(days=days)).isoformat()
        for day in published_dates
        for days in REFRESHED_DAYS
    }
    dates = [
        row[0]
        for row in connection.execute(
            f"SELECT DISTINCT CAST(as_of_date AS VARCHAR) FROM mart.{table}"
        ).fetchall()
        if row[0] in changed or row[0] not in exported
    ]
    if not dates:
        return 0
    written = staging / table
    connection.execute(
        f"COPY (SELECT * FROM mart.{table} WHERE CAST(as_of_date AS VARCHAR) IN ?) "
        f"TO {quote(written)} (FORMAT parquet, PARTITION_BY (as_of_date))",
        [dates],
    )
    for part in written.glob("as_of_date=*"):
        destination = folder / part.name
        destination.mkdir(parents=True, exist_ok=True)
        for file in part.glob("*.parquet"):  # DuckDB writes data_0.parquet per date
            os.replace(file, destination / file.name)
    return connection.execute(
        f"SELECT count(*) FROM mart.{table} WHERE CAST(as_of_date AS VARCHAR) IN ?", [dates]
    ).fetchall()[0][0]


def build_export_asset(partitions_def: PartitionsDefinition):
    @asset(
        key=AssetKey(["export", "parquet"]),
        deps=[PUBLISHED],
        group_name="publish",
        partitions_def=partitions_def,
        kinds={"parquet"},
        description="The published marts as Parquet for BI tools (CSHEALTH_EXPORT_DIR), "
        "Hive-partitioned by as-of date where they have history.",
    )
    def parquet_export(context: AssetExecutionContext, warehouse: Warehouse):
        written = export_marts(warehouse.published_path, warehouse.export_path, context.run.run_id)
        return MaterializeResult(
            metadata={
                "path": str(warehouse.export_path),
                **{f"rows.{name}": rows for name, rows in written.items()},
            }
        )

    return parquet_export
