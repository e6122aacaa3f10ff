"""Ingest layer: one daily-partitioned asset per extract dataset.

For as-of date D an asset loads every delivery folder dated <= D that is new or changed
since it was last loaded (a snapshot dataset other than crm_accounts needs only its
newest folder), into `raw.<dataset>` with lineage columns, and quarantines what breaks
the contract. A delivery's raw rows are one Parquet file, renamed into place; its
rejections and bookkeeping follow in one transaction. Loading the same delivery twice
changes nothing, and a run killed in between loads the delivery again next time.
"""

import datetime as dt
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

import sql
from assets.deliveries import (
    EXTRA,
    ROW_NUMBER,
    SOURCE_FILE,
    Delivery,
    ParsedBatch,
    count_lines,
    find_deliveries,
    key_hash,
    parse_deliveries,
    shown,
    strays_beside_datasets,
)
from pipelines.resources import Warehouse, lake_dir_for
from pipelines.settings import PipelineSettings
from schemas.extracts import DATASETS, DELIVERY_DATE, Dataset

RUN_ID = "_run_id"


def lake_dir(connection: duckdb.DuckDBPyConnection) -> Path:
    """Where raw rows live (`lake_dir_for`, beside the working database).

    Writing Parquet is several times faster than DuckDB's own storage for tens of
    millions of rows, and a delivery is replaced by renaming one file."""
    database = sql.scalar(
        connection, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    if not database:
        raise ValueError("the working database must be a file, not in memory")
    return lake_dir_for(Path(database))


def raw_schema(dataset: Dataset) -> dict[str, pl.DataType]:
    dtypes = {
        name: (pl.Datetime("us") if isinstance(dtype, pl.Datetime) else dtype)
        for name, dtype in dataset.dtypes.items()
    }
    return {
        **dtypes,
        SOURCE_FILE: pl.String,
        DELIVERY_DATE: pl.Date,
        ROW_NUMBER: pl.Int64,
        EXTRA: pl.String,
        RUN_ID: pl.String,
    }


def ensure_raw_view(connection: duckdb.DuckDBPyConnection, dataset: Dataset) -> Path:
    """`raw.<dataset>`: a view over one Parquet file per delivery, plus an empty file
    that fixes the schema when nothing has been delivered. Timestamps are UTC
    wall-clock TIMESTAMP: no session time zone applies."""
    folder = lake_dir(connection) / dataset.name
    folder.mkdir(parents=True, exist_ok=True)
    schema_file = folder / "_schema.parquet"
    if not schema_file.exists():
        pl.DataFrame(schema=raw_schema(dataset)).write_parquet(schema_file)
    connection.execute(
        f"CREATE OR REPLACE VIEW raw.{dataset.name} AS SELECT * FROM "
        f"read_parquet('{folder}/*.parquet')"
    )
    return folder


@dataclass
class LoadReport:
    """What one ingest asset did for one as-of date."""

    dataset: str
    as_of: dt.date
    run_id: str
    delivered: bool = False  # some folder dated <= as_of exists
    in_force: list[dt.date] = field(default_factory=list)
    loaded: list[dt.date] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)  # paths, each with why


def deliveries_in_force(dataset: Dataset, deliveries: list[Delivery]) -> list[Delivery]:
    """Incremental datasets and crm_accounts (which says which accounts ever existed)
    need every folder; the other snapshots only the newest."""
    if dataset.kind == "incremental" or dataset.name == "crm_accounts":
        return deliveries
    return deliveries[-1:]


BATCH_BYTES = 48 * 2**20  # deliveries read and validated together, by file size


def batches(deliveries: list[Delivery]) -> list[list[Delivery]]:
    """Consecutive groups of deliveries of about BATCH_BYTES of files each: one
    validation and one transaction per group, with memory bounded by the group."""
    groups: list[list[Delivery]] = [[]]
    size = 0
    for delivery in deliveries:
        if groups[-1] and size >= BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(delivery)
        size += sum(path.stat().st_size for path in delivery.files)
    return [group for group in groups if group]


def load_dataset(
    connection: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    extracts_dir,
    as_of: dt.date,
    run_id: str,
    settings: PipelineSettings,
) -> LoadReport:
    """Load the new or changed deliveries of one dataset for `as_of` into raw."""
    folder = ensure_raw_view(connection, dataset)
    report = LoadReport(dataset.name, as_of, run_id)
    deliveries, unread = find_deliveries(extracts_dir, dataset.name, as_of)
    unread += strays_beside_datasets(extracts_dir, dataset.name)
    report.delivered = bool(deliveries)
    report.not_read = _record_unread(connection, dataset, unread, run_id)
    salt = "|".join(settings.plan_tiers)
    known = dict(
        connection.execute(
            "SELECT delivery_date, fingerprint FROM meta.deliveries WHERE dataset = ?",
            [dataset.name],
        ).fetchall()
    )
    pending, fingerprints = [], {}
    for delivery in deliveries_in_force(dataset, deliveries):
        report.in_force.append(delivery.delivery_date)
        fingerprint = delivery.fingerprint(salt)
        if known.get(delivery.delivery_date) == fingerprint:
            report.skipped.append(delivery.delivery_date)
        else:
            pending.append(delivery)
            fingerprints[delivery.delivery_date] = fingerprint
    # Writing one batch's files overlaps with reading and validating the next.
    with ThreadPoolExecutor(max_workers=1) as writer:
        in_flight = None
        for group in batches(pending):
            parsed = parse_deliveries(group, dataset, settings.plan_tiers)
            if in_flight:
                _record_batch(connection, dataset, *in_flight, fingerprints, run_id)
            in_flight = (
                writer.submit(
                    _write_raw_files,
                    dataset,
                    folder,
                    group,
                    parsed,
                    run_id,
                    settings.raw_compression,
                ),
                group,
                parsed,
            )
            report.loaded.extend(delivery.delivery_date for delivery in group)
        if in_flight:
            _record_batch(connection, dataset, *in_flight, fingerprints, run_id)
    return report


def _write_raw_files(
    dataset: Dataset,
    folder: Path,
    group: list[Delivery],
    parsed: ParsedBatch,
    run_id: str,
    compression: str,
) -> None:
    """One Parquet file per delivery, renamed into place over the previous one."""
    timestamps = [
        name for name, dtype in parsed.valid.schema.items() if isinstance(dtype, pl.Datetime)
    ]
    columns = list(raw_schema(dataset))
    valid = parsed.valid.with_columns(
        *(pl.col(name).dt.replace_time_zone(None) for name in timestamps),
        pl.lit(run_id).alias(RUN_ID),
    ).select(columns)
    # Rows stay in delivery order, so each delivery is a zero-copy slice.
    offset = 0
    for delivery in group:
        target = folder / f"{delivery.delivery_date}.parquet"
        staging = target.with_suffix(f".{run_id}.tmp")
        rows = parsed.rows_loaded[delivery.delivery_date]
        valid.slice(offset, rows).write_parquet(staging, compression=compression, statistics=False)
        offset += rows
        os.replace(staging, target)


def _record_batch(
    connection: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    files_written: Future,
    group: list[Delivery],
    parsed: ParsedBatch,
    fingerprints: dict[dt.date, str],
    run_id: str,
) -> None:
    """Record a batch's rejections and bookkeeping once its files are in place.

    Files first, transaction second: a run killed in between leaves the old
    fingerprints, so the next run loads those deliveries again and ends in the same
    state."""
    files_written.result()
    rejected = (
        parsed.rejected.rename({DELIVERY_DATE: "delivery_date"})
        .with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(dataset.name).alias("dataset"),
            pl.lit("load").alias("stage"),
            pl.lit(None, dtype=pl.Date).alias("as_of_date"),
        )
        .to_arrow()
    )
    rejected_files = parsed.rejected_files.to_arrow()
    per_delivery = pl.DataFrame(
        {
            "delivery_date": [d.delivery_date for d in group],
            "fingerprint": [fingerprints[d.delivery_date] for d in group],
            "files": [len(d.files) for d in group],
            "rows_read": [parsed.rows_read[d.delivery_date] for d in group],
            "rows_loaded": [parsed.rows_loaded[d.delivery_date] for d in group],
            "extra_columns": [parsed.extra_columns[d.delivery_date] for d in group],
        },
        schema_overrides={
            "files": pl.Int64,
            "rows_read": pl.Int64,
            "rows_loaded": pl.Int64,
            "extra_columns": pl.List(pl.String),
        },
    ).to_arrow()
    days = [d.delivery_date for d in group]
    name = dataset.name
    views = {
        "rejected_rows": rejected,
        "rejected_files": rejected_files,
        "loaded_deliveries": per_delivery,
    }
    try:
        with sql.transaction(connection):
            for view, table in views.items():
                connection.register(view, table)
            connection.execute(
                "DELETE FROM quarantine.rejected_rows WHERE dataset = ? "
                "AND stage = 'load' AND delivery_date IN ?",
                [name, days],
            )
            connection.execute(
                "DELETE FROM quarantine.rejected_files WHERE dataset = ? AND delivery_date IN ?",
                [name, days],
            )
            connection.execute(
                "INSERT INTO quarantine.rejected_rows BY NAME SELECT * FROM rejected_rows"
            )
            connection.execute(
                f"""
                INSERT INTO quarantine.rejected_files
                SELECT ?, ?, source_file, message, {DELIVERY_DATE}, lines FROM rejected_files""",
                [run_id, name],
            )
            connection.execute(sql.load("record_deliveries"), [name, run_id])
    finally:
        for view in views:
            connection.unregister(view)


def _record_unread(
    connection: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    unread: list[tuple[Path, str]],
    run_id: str,
) -> list[str]:
    """Each path the dataset's folder holds that is never read, in
    quarantine.rejected_files the first time it is seen, with its lines (not counted
    in a reject ratio: it belongs to no delivery). Returns their messages."""
    messages = []
    for path, reason in unread:
        source = shown(path)
        messages.append(f"{source}: {reason}; not read")
        already = sql.scalar(
            connection,
            "SELECT count(*) FROM quarantine.rejected_files WHERE source_file = ?",
            [source],
        )
        if not already:
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            connection.execute(
                "INSERT INTO quarantine.rejected_files VALUES (?, ?, ?, ?, NULL, ?)",
                [run_id, dataset.name, source, messages[-1], sum(map(count_lines, files))],
            )
    return messages


# --- checks ------------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict


def run_checks(
    connection: duckdb.DuckDBPyConnection, dataset: Dataset, run_id: str, settings: PipelineSettings
) -> list[CheckOutcome]:
    """The three checks of a dataset over the deliveries this run loaded."""
    per_delivery = connection.sql(
        f"""
        SELECT d.delivery_date, d.rows_read, d.rejected_file_lines,
               (SELECT count(*) FROM raw.{dataset.name} r
                 WHERE r.{DELIVERY_DATE} = d.delivery_date) AS rows_loaded,
               (SELECT count(*) FROM quarantine.rejected_rows q
                 WHERE q.dataset = d.dataset AND q.stage = 'load'
                   AND q.delivery_date = d.delivery_date) AS rows_quarantined
        FROM meta.deliveries d
        WHERE d.dataset = ? AND d.run_id = ?
        ORDER BY d.delivery_date""",
        params=[dataset.name, run_id],
    ).pl()
    unbalanced = per_delivery.filter(
        pl.col("rows_read") != pl.col("rows_loaded") + pl.col("rows_quarantined")
    )
    rows_read = int(per_delivery["rows_read"].sum())
    rows_rejected = int(per_delivery["rows_quarantined"].sum())
    file_lines = int(per_delivery["rejected_file_lines"].sum())

    duplicates = duplicate_keys(connection, dataset, per_delivery["delivery_date"].to_list())
    key = ", ".join(dataset.key)

    failures = failure_cases(connection, dataset, run_id)
    return [
        CheckOutcome(
            "rows_balance",
            unbalanced.is_empty(),
            "rows read = rows loaded + rows quarantined, for every delivery loaded",
            {
                "deliveries": MetadataValue.md(markdown_table(per_delivery)),
                "rows_read": rows_read,
                "rows_quarantined": rows_rejected,
            },
        ),
        CheckOutcome(
            "key_unique",
            duplicates.is_empty(),
            f"({key}) is unique within each delivery in raw",
            {"duplicates": MetadataValue.md(markdown_table(duplicates))},
        ),
        reject_ratio_check(
            rows_read + file_lines,
            rows_rejected + file_lines,
            settings,
            {
                "rows_rejected": rows_rejected,
                "rejected_file_lines": file_lines,
                "failure_cases": MetadataValue.md(markdown_table(failures)),
                "top_reason": (
                    f"{failures['reason'][0]} ({failures['rows'][0]:,} rows, e.g. "
                    f"{failures['example'][0]})"
                    if failures.height
                    else ""
                ),
            },
        ),
    ] + (
        [snapshot_drop_check(connection, dataset, run_id, settings)]
        if dataset.kind == "snapshot"
        else []
    )


def snapshot_drop_check(
    connection: duckdb.DuckDBPyConnection, dataset: Dataset, run_id: str, settings: PipelineSettings
) -> CheckOutcome:
    """The blocking check that a snapshot loaded in this run did not lose more than
    `max_snapshot_drop` of the rows of the delivery loaded before it: a CRM export cut
    short, or a header alone, would otherwise publish a book without its accounts.
    Rows are the data lines delivered (a rejected file's count too: the reject ratio
    says what is wrong with it). Applies when the delivery before held
    `min_rows_for_reject_ratio` rows or more."""
    drops = connection.sql(
        """
        WITH delivered AS (
            SELECT delivery_date, run_id, rows_read + rejected_file_lines AS rows,
                   lag(delivery_date) OVER by_date AS date_before,
                   lag(rows_read + rejected_file_lines) OVER by_date AS rows_before
            FROM meta.deliveries
            WHERE dataset = $dataset
            WINDOW by_date AS (ORDER BY delivery_date)
        )
        SELECT delivery_date, rows, date_before, rows_before,
               round(1 - rows / rows_before, 6) AS drop
        FROM delivered
        WHERE run_id = $run_id AND rows_before >= $min_rows
        ORDER BY drop DESC, delivery_date""",
        params={
            "dataset": dataset.name,
            "run_id": run_id,
            "min_rows": settings.min_rows_for_reject_ratio,
        },
    ).pl()
    worst = drops.row(0, named=True) if drops.height else None
    return CheckOutcome(
        "snapshot_drop",
        worst is None or worst["drop"] <= settings.max_snapshot_drop,
        f"a snapshot has at least {1 - settings.max_snapshot_drop:.0%} of the rows of the "
        f"delivery before it (from {settings.min_rows_for_reject_ratio} rows before)",
        {
            "snapshot_drop": worst["drop"] if worst else 0.0,
            "max_snapshot_drop": settings.max_snapshot_drop,
            "deliveries": MetadataValue.md(markdown_table(drops)),
            **(
                {
                    "delivery": str(worst["delivery_date"]),
                    "rows": worst["rows"],
                    "delivery_before": str(worst["date_before"]),
                    "rows_before": worst["rows_before"],
                }
                if worst
                else {}
            ),
        },
    )


def reject_ratio_check(
    rows_counted: int, rows_rejected: int, settings: PipelineSettings, metadata: dict
) -> CheckOutcome:
    """The blocking check on the share of the rows read in a run that were rejected (a
    rejected file counts as its data lines), from `min_rows_for_reject_ratio` rows."""
    ratio = rows_rejected / rows_counted if rows_counted else 0.0
    applies = rows_counted >= settings.min_rows_for_reject_ratio
    return CheckOutcome(
        "reject_ratio",
        not applies or ratio <= settings.max_reject_ratio,
        f"rejected share of rows read <= {settings.max_reject_ratio} "
        f"(from {settings.min_rows_for_reject_ratio} rows read)",
        {"reject_ratio": round(ratio, 6), "rows_counted": rows_counted, **metadata},
    )


def duplicate_keys(
    connection: duckdb.DuckDBPyConnection, dataset: Dataset, days: list[dt.date]
) -> pl.DataFrame:
    """Keys found more than once in one of the deliveries `days` in raw (20 at most).
    Their files are read for the key's hashes first: a cold load's 47M event ids take
    1.7 s and 0.8 GB that way, 4.3 s grouped exactly in DuckDB, which runs only when
    hashes repeat."""
    key = list(dataset.key)
    none = pl.DataFrame(
        schema={"delivery_date": pl.Date, **raw_schema(dataset), "copies": pl.Int64}
    ).select("delivery_date", *key, "copies")
    if not days:
        return none
    folder = lake_dir(connection) / dataset.name
    files = [path for day in days if (path := folder / f"{day}.parquet").exists()]
    if files:
        # One file at a time: only the hashes of every file are held (8 bytes a row).
        hashes = pl.concat(
            [pl.read_parquet(path, columns=key).select(key_hash(key)).to_series() for path in files]
        )
        if hashes.n_unique() == hashes.len():
            return none
    return connection.sql(
        f"""
        SELECT {DELIVERY_DATE} AS delivery_date, {", ".join(key)}, count(*) AS copies
        FROM raw.{dataset.name}
        WHERE {DELIVERY_DATE} IN ?
        GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL LIMIT 20""",
        params=[days],
    ).pl()


def failure_cases(
    connection: duckdb.DuckDBPyConnection, dataset: Dataset, run_id: str
) -> pl.DataFrame:
    """The run's rejections of a dataset, one line per reason, with an example row."""
    return connection.sql(
        """
        SELECT reason, count(*) AS rows, min(source_file || ':' || row_number) AS example
        FROM (SELECT unnest(reasons) AS reason, source_file, row_number
              FROM quarantine.rejected_rows WHERE dataset = ? AND run_id = ?)
        GROUP BY reason
        UNION ALL
        SELECT 'file rejected: ' || message, line_count, source_file
        FROM quarantine.rejected_files WHERE dataset = ? AND run_id = ?
        ORDER BY rows DESC, reason LIMIT 50""",
        params=[dataset.name, run_id, dataset.name, run_id],
    ).pl()


def invariant_check(asset_key: AssetKey, check_name: str, problems: pl.DataFrame):
    """A blocking check's result from the rows that break an invariant (none: passed),
    with the first of them as a table a person reads."""
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=problems.is_empty(),
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "failing_rows": len(problems),
            "examples": MetadataValue.md(markdown_table(problems)),
        },
    )


def markdown_table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_none_"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    text = [
        pl.col(c).list.join(", ") if isinstance(dtype, pl.List) else pl.col(c).cast(pl.String)
        for c, dtype in frame.schema.items()
    ]
    rows = frame.select(
        pl.concat_str(
            [column.fill_null("").str.replace_all(r"\|", r"\|") for column in text], separator=" | "
        )
    )
    return "\n".join([header, rule, *("| " + line + " |" for line in rows.to_series())])


# --- Dagster assets ----------------------------------------------------------------------

BLOCKING_CHECKS = {"reject_ratio", "snapshot_drop"}


def check_names(dataset: Dataset) -> list[str]:
    """The checks of run_checks, in its order: snapshot_drop for a snapshot only."""
    names = ["rows_balance", "key_unique", "reject_ratio"]
    return names + ["snapshot_drop"] if dataset.kind == "snapshot" else names


def build_ingest_asset(dataset: Dataset, partitions_def: PartitionsDefinition):
    key = AssetKey(["raw", dataset.name])
    check_specs = [
        AssetCheckSpec(name, asset=key, blocking=name in BLOCKING_CHECKS)
        for name in check_names(dataset)
    ]

    @asset(
        key=key,
        group_name="ingest",
        partitions_def=partitions_def,
        check_specs=check_specs,
        kinds={"duckdb", "polars"},
        pool="duckdb_writer",
        description=f"`{dataset.name}` ({dataset.kind}) extracts for the as-of date, "
        "validated against the contract and loaded into raw; rejects go "
        "to quarantine.",
    )
    def ingest(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        settings = warehouse.settings()
        with warehouse.connect() as connection:
            report = load_dataset(
                connection, dataset, warehouse.extracts_path, as_of, context.run.run_id, settings
            )
            outcomes = run_checks(connection, dataset, context.run.run_id, settings)
            total = sql.scalar(
                connection,
                f"SELECT count(*) FROM raw.{dataset.name} WHERE {DELIVERY_DATE} <= ?",
                [as_of],
            )
        yield MaterializeResult(
            metadata={
                "delivered": report.delivered,
                "deliveries_in_force": len(report.in_force),
                "deliveries_loaded": [str(day) for day in report.loaded],
                "deliveries_unchanged": len(report.skipped),
                "raw_rows_up_to_as_of": total,
                "not_read": report.not_read,
            }
        )
        for outcome in outcomes:
            yield AssetCheckResult(
                check_name=outcome.name,
                passed=outcome.passed,
                severity=AssetCheckSeverity.ERROR,
                description=outcome.description,
                metadata=outcome.metadata,
            )

    return ingest


def build_ingest_assets(partitions_def: PartitionsDefinition) -> list:
    return [build_ingest_asset(dataset, partitions_def) for dataset in DATASETS.values()]
