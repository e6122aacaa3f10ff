"""Core layer: the state of every dataset as of the partition's date, which the scoring
and retention assets read.

`core.<dataset>` holds the rows in force on D (the newest snapshot folder <= D, or for
incremental datasets the newest valid version of each key over every folder <= D),
only for known accounts, with money also in USD. `core.dataset_status` says which
datasets were delivered at all, so a measure can tell "absent" from "nothing".
"""

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    PartitionsDefinition,
    multi_asset,
)

import sql
from assets.ingest import lake_dir
from assets.publish import record_run
from pipelines.resources import Warehouse
from schemas.extracts import DATASETS, DELIVERY_DATE, Dataset

# fx_rates first: the money of every other dataset is converted with it.
CORE_ORDER = ["fx_rates"] + [name for name in DATASETS if name != "fx_rates"]

ACCOUNT_REASON = """CASE
        WHEN candidate.account_id IN (SELECT account_id FROM core.known_accounts) THEN NULL
        WHEN candidate.account_id IN (SELECT account_id FROM core.quarantined_accounts)
            THEN 'account_quarantined'
        ELSE 'unknown_account' END"""
CURRENCY_REASON = """CASE
        WHEN candidate.currency = 'USD'
          OR candidate.currency IN (SELECT currency FROM core.fx_rates) THEN NULL
        ELSE 'unknown_currency' END"""


def core_sql(dataset: Dataset) -> str:
    """The statements that build `core.<dataset>` (parameters $as_of, $run_id)."""
    snapshot = dataset.kind == "snapshot"
    columns = list(dataset.dtypes)
    usd = "".join(
        f",\n    candidate.{money} * CASE WHEN candidate.currency = 'USD' THEN 1 "
        f"ELSE fx.rate_to_usd END AS {money}_usd"
        for money in dataset.money
    )
    return sql.load(
        "core_dataset",
        dataset=dataset.name,
        deliveries_in_force=(
            "the newest folder dated <= $as_of" if snapshot else "every folder dated <= $as_of"
        ),
        newest_wins=(
            "a snapshot holds each key once"
            if snapshot
            else "each key keeps its version from the newest folder"
        ),
        snapshot_filter=(
            "\n  AND candidate._delivery_date = (SELECT max(delivery_date) FROM meta.deliveries"
            f" WHERE dataset = '{dataset.name}' AND delivery_date <= $as_of)"
            if snapshot
            else ""
        ),
        account_reason=ACCOUNT_REASON if dataset.has_account else "NULL",
        currency_reason=CURRENCY_REASON if dataset.money else "NULL",
        columns=", ".join(f"candidate.{name}" for name in columns),
        record_columns=", ".join(columns),
        usd_columns=usd,
        fx_join=(
            "LEFT JOIN core.fx_rates AS fx ON fx.currency = candidate.currency"
            if dataset.money
            else ""
        ),
        qualify=(
            ""
            if snapshot
            else f"QUALIFY row_number() OVER (PARTITION BY {', '.join(dataset.key)} "
            "ORDER BY candidate._delivery_date DESC) = 1"
        ),
    )


def update_usage_rollups(connection: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """Bring the product-usage rollups up to date with the loaded product_events
    deliveries, in one transaction; returns the deliveries rebuilt.

    A delivery is rebuilt when its fingerprint differs from the one it was rolled up
    with (new, or delivered again with other content), with every later delivery,
    whose first-delivery marks may depend on it. The nightly run rebuilds one day; a
    run killed before the commit leaves the fingerprints, and the next run redoes it."""
    pending = sql.scalar(
        connection,
        """SELECT min(loaded.delivery_date)
           FROM meta.deliveries AS loaded
           LEFT JOIN rollup.deliveries AS rolled USING (delivery_date)
           WHERE loaded.dataset = 'product_events'
             AND rolled.fingerprint IS DISTINCT FROM loaded.fingerprint""",
    )
    if pending is None:
        return []
    rebuilt = [
        row[0]
        for row in connection.execute(
            "SELECT delivery_date FROM meta.deliveries WHERE dataset = 'product_events' "
            "AND delivery_date >= ? ORDER BY 1",
            [pending],
        ).fetchall()
    ]
    folder = lake_dir(connection) / "product_events"
    files = [str(folder / f"{day}.parquet") for day in rebuilt]
    everything = not sql.scalar(
        connection,
        "SELECT count(*) FROM rollup.deliveries WHERE delivery_date < ?",
        [pending],
    )
    candidates = resent_candidates(folder, None if everything else files)
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.register("resent_candidates", candidates)
        sql.run(connection, sql.load("usage_rollup"), {"from": pending, "files": files})
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("resent_candidates")
    return rebuilt


def resent_candidates(folder: Path, rebuilt_files: list[str] | None) -> pa.Table:
    """Every copy (event_id, delivery_date) of the event ids that may be in several
    deliveries, among the ids of `rebuilt_files` (every delivery's when None).

    One pass hashes every delivery's ids and sorts the hashes: a hash seen twice marks
    a candidate; a second pass reads the ids of those hashes only. A hash collision
    adds a candidate that sql/usage_rollup.sql drops (it compares ids). Sorting 48M
    hashes in polars takes about 1 s where a DuckDB GROUP BY over them took 8 s."""
    every_delivery = pl.scan_parquet(str(folder / "*.parquet")).select(
        "event_id", pl.col(DELIVERY_DATE).alias("delivery_date")
    )
    hashes = every_delivery.select(pl.col("event_id").hash().alias("id_hash"))
    if rebuilt_files is not None:
        rebuilt = pl.scan_parquet(rebuilt_files).select(pl.col("event_id").hash().alias("id_hash"))
        hashes = hashes.join(rebuilt.unique(), on="id_hash", how="semi")
    ordered = hashes.collect().sort("id_hash")["id_hash"]
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if repeated.is_empty():
        every_delivery = every_delivery.head(0)
    else:
        every_delivery = every_delivery.filter(pl.col("event_id").hash().is_in(repeated.implode()))
    return every_delivery.collect().to_arrow()


def product_events_sql(as_of: dt.date) -> str:
    """`core.product_events` and the usage rollups as views for `as_of`, and the
    quarantine of its events (parameters $as_of, $run_id)."""
    columns = list(DATASETS["product_events"].dtypes)
    return sql.load(
        "core_product_events",
        as_of=f"'{as_of.isoformat()}'",
        columns=", ".join(f"event.{name}" for name in columns),
        record_columns=", ".join(f"{name} := event.{name}" for name in columns),
    )


def basis_deliveries(connection: duckdb.DuckDBPyConnection, up_to: dt.date) -> str:
    """The product_events and crm_accounts deliveries dated <= `up_to` as loaded now
    (date, fingerprint and load time): what the product-event rejections up to that
    date were computed from."""
    return sql.scalar(
        connection,
        """SELECT coalesce(string_agg(dataset || ' ' || delivery_date || ' ' || fingerprint
                                      || ' ' || loaded_at, ', '
                                      ORDER BY dataset, delivery_date), '')
           FROM meta.deliveries
           WHERE dataset IN ('product_events', 'crm_accounts') AND delivery_date <= ?""",
        [up_to],
    )


def event_rejections_basis(connection: duckdb.DuckDBPyConnection, as_of: dt.date):
    """The as-of date whose core-stage product-event rejections the run of `as_of` can
    build on (sql/core_product_events.sql), or None to read every raw event.

    That is the core layer's date when it is before `as_of` and the product_events and
    crm_accounts deliveries up to it are those it was computed from: then its raw events
    are the same, an account known then is still known (known accounts are those of any
    CRM delivery so far), and a resent copy is still one."""
    basis = connection.execute(
        "SELECT as_of_date, deliveries FROM core.event_rejections_basis"
    ).fetchall()
    if not basis:
        return None
    previous, deliveries = basis[0]
    if previous >= as_of or deliveries != basis_deliveries(connection, previous):
        return None
    return previous


def build_core(connection: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str) -> dict:
    """Rebuild the whole core layer for `as_of` in one transaction; row counts per table.

    Product events are the exception: their rollups are kept up to date incrementally
    first, `core.product_events` is a view (see product_events_sql), and their
    rejections build on the previous date's when they can (event_rejections_basis)."""
    update_usage_rollups(connection)
    if sql.scalar(
        connection,
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'core' AND table_name = 'product_events'",
    ):
        # Working databases of earlier versions hold it as a table.
        connection.execute("DROP TABLE core.product_events")
    parameters = {"as_of": as_of, "run_id": run_id}
    connection.execute("BEGIN TRANSACTION")
    try:
        events = parameters | {
            "previous": event_rejections_basis(connection, as_of),
            "deliveries": basis_deliveries(connection, as_of),
        }
        sql.run(connection, sql.load("core_accounts_known"), parameters)
        for name in CORE_ORDER:
            if name == "product_events":
                sql.run(connection, product_events_sql(as_of), events)
            else:
                sql.run(connection, core_sql(DATASETS[name]), parameters)
        sql.run(
            connection,
            sql.load("core_dataset_status"),
            {"as_of": as_of, "datasets": list(DATASETS)},
        )
        # The publish copies only the dates marked (assets/publish.py).
        connection.execute(
            "INSERT OR IGNORE INTO main.unpublished_dates VALUES ('quarantine.rejected_rows', ?)",
            [as_of],
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return core_row_counts(connection)


def core_row_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of each core table; product events counted from the rollup, since counting
    the view would read every raw event again."""
    counts = {
        name: sql.scalar(connection, f"SELECT count(*) FROM core.{name}")
        for name in CORE_ORDER
        if name != "product_events"
    }
    counts["product_events"] = sql.scalar(
        connection, "SELECT coalesce(sum(events), 0) FROM core.product_user_days"
    )
    return counts


def build_core_asset(partitions_def: PartitionsDefinition):
    specs = [
        AssetSpec(
            AssetKey(["core", name]),
            deps=[AssetKey(["raw", dep]) for dep in sorted({name, "crm_accounts", "fx_rates"})],
            group_name="core",
            kinds={"duckdb", "sql"},
            description=f"`{name}` as of the partition's date: rows in force for known "
            "accounts, money in USD.",
        )
        for name in CORE_ORDER
    ]

    @multi_asset(
        specs=specs, partitions_def=partitions_def, pool="duckdb_writer", name="core_layer"
    )
    def core_layer(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        with warehouse.connect() as connection:
            counts = build_core(connection, as_of, context.run.run_id)
            record_run(
                connection,
                context.run.run_id,
                as_of,
                "running",
                row_counts={f"core.{name}": rows for name, rows in counts.items()},
            )
            absent = [
                row[0]
                for row in connection.execute(
                    "SELECT dataset FROM core.dataset_status WHERE NOT delivered ORDER BY 1"
                ).fetchall()
            ]
            rejected = dict(
                connection.execute(
                    "SELECT dataset, count(*) FROM quarantine.rejected_rows "
                    "WHERE stage = 'core' AND as_of_date = ? GROUP BY 1",
                    [as_of],
                ).fetchall()
            )
        for name in CORE_ORDER:
            yield MaterializeResult(
                asset_key=AssetKey(["core", name]),
                metadata={
                    "rows": counts[name],
                    "rejected_for_as_of": rejected.get(name, 0),
                    "delivered": name not in absent,
                    "absent_datasets": absent,
                },
            )

    return core_layer
