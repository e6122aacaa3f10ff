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
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    PartitionsDefinition,
    multi_asset,
)

import sql
from assets.ingest import CheckOutcome, lake_dir, reject_ratio_check
from assets.publish import close_ended_runs, record_run
from pipelines.resources import Warehouse
from pipelines.settings import PipelineSettings
from schemas.extracts import DATASETS, DELIVERY_DATE, Dataset

# fx_rates first: the money of every other dataset is converted with it.
CORE_ORDER = ["fx_rates"] + [name for name in DATASETS if name != "fx_rates"]

# The layout of the usage rollups (sql/usage_rollup.sql), kept with each delivery's
# fingerprint: a version that adds or changes a rollup table bumps it, and every
# delivery of a working database built before is rolled up again once.
ROLLUP_LAYOUT = "2"

# The last-days tables (sql/usage_last_days.sql): each with the rollup it is read from
# and the column whose last day of activity it keeps.
LAST_DAYS = {
    "user_last_days": ("user_days", "user_id"),
    "feature_last_days": ("feature_days", "event_name"),
}

ACCOUNT_REASON = """CASE
        WHEN candidate.account_id IN (SELECT account_id FROM core.known_accounts) THEN NULL
        WHEN candidate.account_id IN (SELECT account_id FROM core.quarantined_accounts)
            THEN 'account_quarantined'
        ELSE 'unknown_account' END"""
CURRENCY_REASON = """CASE
        WHEN candidate.currency = 'USD'
          OR candidate.currency IN (SELECT currency FROM core.fx_rates) THEN NULL
        ELSE 'unknown_currency' END"""


def core_sql(dataset: Dataset, forward: bool = False) -> str:
    """The statements that build `core.<dataset>` (parameters $as_of, $run_id); with
    `forward`, those that bring an incremental dataset's rows forward from the date
    before (parameter $previous: see previous_core_date)."""
    snapshot = dataset.kind == "snapshot"
    columns = list(dataset.dtypes)
    candidates = f"raw.{dataset.name}"
    if forward:
        candidates = f"""(
    SELECT * FROM raw.{dataset.name} WHERE _delivery_date > $previous
    UNION ALL
    SELECT rejected.* FROM raw.{dataset.name} AS rejected
    SEMI JOIN quarantine.rejected_rows AS earlier
        ON earlier.source_file = rejected._source_file
       AND earlier.row_number = rejected._row_number
       AND earlier.stage = 'core' AND earlier.dataset = '{dataset.name}'
       AND earlier.as_of_date = $previous
    WHERE rejected._delivery_date <= $previous
)"""
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
        how_built=(
            "brought forward from $previous: only the rows of later deliveries and those "
            "rejected for $previous are read"
            if forward
            else "built from every row in force"
        ),
        candidates=candidates,
        target="TEMP TABLE core_newer" if forward else f"TABLE core.{dataset.name}",
        forward=(
            sql.load(
                "core_dataset_forward",
                dataset=dataset.name,
                same_key=" AND ".join(f"kept.{key} = newer.{key}" for key in dataset.key),
            )
            if forward
            else ""
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
    with (new, delivered again with other content, or rolled up in an earlier
    ROLLUP_LAYOUT), with every later delivery, whose first-delivery marks may depend on
    it. The nightly run rebuilds one day; a run killed before the commit leaves the
    fingerprints, and the next run redoes it."""
    pending = sql.scalar(
        connection,
        """SELECT min(loaded.delivery_date)
           FROM meta.deliveries AS loaded
           LEFT JOIN rollup.deliveries AS rolled USING (delivery_date)
           WHERE loaded.dataset = 'product_events'
             AND rolled.fingerprint IS DISTINCT FROM loaded.fingerprint || ' ' || ?""",
        [ROLLUP_LAYOUT],
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
    try:
        with sql.transaction(connection):
            connection.register("resent_candidates", candidates)
            sql.run(
                connection,
                sql.load("usage_rollup"),
                {"from": pending, "files": files, "layout": ROLLUP_LAYOUT},
            )
    finally:
        connection.unregister("resent_candidates")
    return rebuilt


def update_last_days(connection: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    """Keep the last day of activity of every product user and event name as of `as_of`
    (sql/usage_last_days.sql), from the latest earlier date kept when there is one: the
    nightly run reads one new delivery and the previous day's rows, not the whole window
    of user-days. Nothing to do when `as_of` is kept already: its rows change only when
    the rollups are rebuilt, which drops them (sql/usage_rollup.sql)."""
    if sql.scalar(
        connection, "SELECT count(*) FROM rollup.last_day_dates WHERE as_of_date = ?", [as_of]
    ):
        return
    previous = sql.scalar(
        connection,
        "SELECT max(as_of_date) FROM rollup.last_day_dates WHERE as_of_date < ?",
        [as_of],
    )
    parameters = {"as_of": as_of, "previous": previous}
    with sql.transaction(connection):
        for table, (rollup, key) in LAST_DAYS.items():
            statements = sql.load("usage_last_days", table=table, rollup=rollup, key=key)
            sql.run(connection, statements, parameters)
        connection.execute("INSERT OR IGNORE INTO rollup.last_day_dates VALUES (?)", [as_of])
        connection.execute(
            "DELETE FROM rollup.last_day_dates WHERE as_of_date < coalesce(?, ?)",
            [previous, as_of],
        )


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


INCREMENTAL_CORE = [name for name in CORE_ORDER if DATASETS[name].kind == "incremental"]


def core_basis(connection: duckdb.DuckDBPyConnection, dataset: Dataset, up_to: dt.date) -> str:
    """What the core rows of an incremental dataset as of `up_to` are computed from, as
    loaded now: its columns, and the deliveries dated <= `up_to` (date, fingerprint,
    load time) of it, of crm_accounts (the known accounts) and, with money, of
    fx_rates."""
    sources = [dataset.name, "crm_accounts", *(["fx_rates"] if dataset.money else [])]
    deliveries = sql.scalar(
        connection,
        """SELECT coalesce(string_agg(dataset || ' ' || delivery_date || ' ' || fingerprint
                                      || ' ' || loaded_at, ', '
                                      ORDER BY dataset, delivery_date), '')
           FROM meta.deliveries
           WHERE dataset IN ? AND delivery_date <= ?""",
        [sources, up_to],
    )
    return f"{', '.join(dataset.dtypes)}; {deliveries}"


def previous_core_date(
    connection: duckdb.DuckDBPyConnection, dataset: Dataset, as_of: dt.date
) -> dt.date | None:
    """The as-of date from which the core rows of an incremental dataset (and for product
    events, their rejections) can be brought forward to `as_of`, or None to build them
    from every raw row.

    That is the date the core layer holds, when it is before `as_of`, nothing its rows
    were computed from changed since (core_basis), and no fx_rates delivery came after
    it. Then its rows stay valid: an account known then is still known (known accounts
    are those of any CRM delivery so far) and the rates are the same. A key's newest
    valid version can only give way to a later delivery's, or to a rejected row of an
    account that became known; a resent event stays one."""
    basis = connection.execute(
        "SELECT as_of_date, basis FROM core.basis WHERE dataset = ?", [dataset.name]
    ).fetchall()
    if not basis:
        return None
    previous, recorded = basis[0]
    if previous >= as_of or recorded != core_basis(connection, dataset, previous):
        return None
    if dataset.money and sql.scalar(
        connection,
        "SELECT count(*) FROM meta.deliveries WHERE dataset = 'fx_rates' "
        "AND delivery_date > ? AND delivery_date <= ?",
        [previous, as_of],
    ):
        return None
    return previous


def build_core(connection: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str) -> dict:
    """Rebuild the whole core layer for `as_of` in one transaction; row counts per table.

    Product events are the exception: their rollups, and the last days of activity as
    of `as_of`, are kept up to date incrementally first, and `core.product_events` is a
    view (see product_events_sql). The rows of incremental datasets (the rejections,
    for product events) are brought forward from the date before when they can
    (previous_core_date)."""
    update_usage_rollups(connection)
    update_last_days(connection, as_of)
    if sql.scalar(
        connection,
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'core' AND table_name = 'product_events'",
    ):
        # Working databases of earlier versions hold it as a table.
        connection.execute("DROP TABLE core.product_events")
    parameters = {"as_of": as_of, "run_id": run_id}
    previous = {
        name: previous_core_date(connection, DATASETS[name], as_of) for name in INCREMENTAL_CORE
    }
    with sql.transaction(connection):
        sql.run(connection, sql.load("core_accounts_known"), parameters)
        for name in CORE_ORDER:
            if name == "product_events":
                statements = product_events_sql(as_of)
            else:
                statements = core_sql(DATASETS[name], forward=previous.get(name) is not None)
            sql.run(connection, statements, parameters | {"previous": previous.get(name)})
        connection.execute("DELETE FROM core.basis")
        connection.execute(
            "INSERT INTO core.basis SELECT unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[])",
            [
                INCREMENTAL_CORE,
                as_of,
                [core_basis(connection, DATASETS[name], as_of) for name in INCREMENTAL_CORE],
            ],
        )
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


def core_reject_ratios(
    connection: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str, settings: PipelineSettings
) -> dict[str, CheckOutcome]:
    """Each dataset's reject ratio over the deliveries this run read, now counting also
    the rows the core layer rejected for `as_of` (sql/core_reject_ratio.sql): an extract
    full of unknown accounts passes the load checks but must not be published."""
    counts = connection.sql(
        sql.load("core_reject_ratio"), params={"run_id": run_id, "as_of": as_of}
    ).pl()
    by_dataset = {row["dataset"]: row for row in counts.iter_rows(named=True)}
    outcomes = {}
    for name in CORE_ORDER:
        row = by_dataset.get(name, {})
        at_load = row.get("rejected_at_load", 0) + row.get("rejected_file_lines", 0)
        at_core = row.get("rejected_at_core", 0)
        outcomes[name] = reject_ratio_check(
            row.get("rows_counted", 0),
            at_load + at_core,
            settings,
            {"rejected_at_load": at_load, "rejected_at_core": at_core},
        )
    return outcomes


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

    checks = [
        AssetCheckSpec(
            "reject_ratio",
            asset=AssetKey(["core", name]),
            blocking=True,
            description="Rejected share of the rows this run read, with the account and "
            "currency rejections of the as-of date, within max_reject_ratio.",
        )
        for name in CORE_ORDER
    ]

    @multi_asset(
        specs=specs,
        check_specs=checks,
        partitions_def=partitions_def,
        pool="duckdb_writer",
        name="core_layer",
    )
    def core_layer(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        with warehouse.connect() as connection:
            counts = build_core(connection, as_of, context.run.run_id)
            ratios = core_reject_ratios(connection, as_of, context.run.run_id, warehouse.settings())
            close_ended_runs(connection, context.instance)
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
        for name, outcome in ratios.items():
            yield AssetCheckResult(
                asset_key=AssetKey(["core", name]),
                check_name=outcome.name,
                passed=outcome.passed,
                severity=AssetCheckSeverity.ERROR,
                description=outcome.description,
                metadata=outcome.metadata,
            )

    return core_layer
