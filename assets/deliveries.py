"""Read one delivery folder of one dataset into typed rows and quarantined rows.

Everything here is polars over whole columns: a file is read with every value as it
stands, each column is cast once with `strict=False`, and a value that did not cast
becomes a per-row reason instead of failing the column. Pandera then checks the
rules of the contract lazily, so every rule a row breaks is reported.
"""

from __future__ import annotations

import datetime as dt
import difflib
import gzip
import hashlib
import io
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandera.errors as pandera_errors
import polars as pl

from schemas.extracts import DATASETS, DELIVERY_DATE, Dataset

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ROW_NUMBER = "_row_number"
SOURCE_FILE = "_source_file"
EXTRA = "_extra"
REASONS = "reasons"

FAILURE_SCHEMA = {
    "position": pl.Int64,
    "column": pl.String,
    "reason": pl.String,
    "null_check": pl.Boolean,
}
CAST_SCHEMA = {
    "position": pl.Int64,
    "column": pl.String,
    "reason": pl.String,
    "cast_failed": pl.Boolean,
}

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


class FileRejected(Exception):
    """A file that cannot be read as a whole, or lacks a required column."""


@dataclass(frozen=True)
class Delivery:
    dataset: str
    delivery_date: dt.date
    folder: Path

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file() and is_extract(p))

    def fingerprint(self, salt: str = "") -> str:
        """Names, sizes and modification times of the folder's files: a changed
        folder is loaded again, an unchanged one is skipped."""
        digest = hashlib.sha256(salt.encode())
        for path in sorted(self.folder.iterdir()):
            if path.is_file():
                stat = path.stat()
                digest.update(os.fsencode(path.name))  # a name need not be UTF-8
                digest.update(f"|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


@dataclass
class ParsedBatch:
    """The outcome of reading some deliveries: every row read is in `valid` or `rejected`
    (both carry the delivery date), every unreadable file in `rejected_files`."""

    valid: pl.DataFrame
    rejected: pl.DataFrame  # _delivery_date, source_file, row_number, record, reasons
    rejected_files: pl.DataFrame  # _delivery_date, source_file, message, lines
    rows_read: dict[dt.date, int] = field(default_factory=dict)
    rows_loaded: dict[dt.date, int] = field(default_factory=dict)
    extra_columns: dict[dt.date, list[str]] = field(default_factory=dict)


def is_hidden(path: Path) -> bool:
    """A name tools keep for themselves (.DS_Store, _SUCCESS): never read, never said."""
    return path.name.startswith((".", "_"))


def has_utf8_name(path: Path) -> bool:
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_extract(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES) and not is_hidden(path) and has_utf8_name(path)


def shown(path: Path) -> str:
    """The path as text, a name that is not UTF-8 with its odd bytes escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def find_deliveries(
    extracts_dir: Path, dataset: str, as_of: dt.date
) -> tuple[list[Delivery], list[tuple[Path, str]]]:
    """Delivery folders dated on or before `as_of`, oldest first; beside them, what the
    dataset's folder (and those deliveries) hold that is never read, each with why: a
    folder whose name is not a date, a file outside a dated folder, a file that is not an
    extract, a folder inside a delivery."""
    root = extracts_dir / dataset
    if not root.is_dir():
        return [], []
    deliveries, unread = [], []
    for path in sorted(p for p in root.iterdir() if not is_hidden(p)):
        if not path.is_dir():
            unread.append((path, "not in a dated delivery folder (<dataset>/YYYY-MM-DD/)"))
            continue
        try:
            date = dt.date.fromisoformat(path.name) if DATE_FOLDER.match(path.name) else None
        except ValueError:
            date = None
        if date is None:
            unread.append((path, "folder name is not a delivery date (YYYY-MM-DD)"))
        elif date <= as_of:
            deliveries.append(Delivery(dataset, date, path))
            unread += stray_paths(path)
    return deliveries, unread


def strays_beside_datasets(extracts_dir: Path, dataset: str) -> list[tuple[Path, str]]:
    """What the extracts folder holds besides the dataset folders, each with why, for
    the dataset whose name it is nearest to (a misspelled `support_ticket/` for
    support_tickets); what is like no dataset for crm_accounts, which every run reads."""
    if not extracts_dir.is_dir():
        return []
    strays = []
    for path in sorted(p for p in extracts_dir.iterdir() if not is_hidden(p)):
        if path.name in DATASETS:
            continue
        nearest = difflib.get_close_matches(path.name.lower(), DATASETS, n=1, cutoff=0.6)
        if (nearest[0] if nearest else "crm_accounts") != dataset:
            continue
        where = "not a dataset folder" if path.is_dir() else "not in a dataset folder"
        if nearest:
            strays.append((path, f"{where} (did you mean {nearest[0]}/?)"))
        else:
            strays.append((path, f"{where} (the datasets: {', '.join(DATASETS)})"))
    return strays


def stray_paths(folder: Path) -> list[tuple[Path, str]]:
    """What a delivery folder holds besides its extract files, each with why it is not
    read."""
    stray = []
    for path in sorted(p for p in folder.iterdir() if not is_hidden(p)):
        if path.is_dir():
            stray.append((path, "a folder inside a delivery"))
        elif not has_utf8_name(path):
            stray.append((path, "file name is not UTF-8"))
        elif not is_extract(path):
            stray.append((path, f"not an extract file ({', '.join(SUFFIXES)})"))
    return stray


# --- reading -------------------------------------------------------------------------


def read_file(path: Path) -> pl.DataFrame:
    """The file's rows as they stand (CSV: every value a string; empty = null)."""
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            frame = pl.read_csv(path, infer_schema=False, raise_if_empty=False)
            return frame.with_columns(pl.col(pl.String).replace("", None))
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
        raw = path.read_bytes()
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        if not raw.strip():
            return pl.DataFrame()
        return pl.read_ndjson(io.BytesIO(raw), infer_schema_length=None)
    except Exception as exc:  # noqa: BLE001 - any parser failure rejects the file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileRejected(f"{path}: cannot be parsed: {without_content(first_line)}") from exc


def without_content(message: str) -> str:
    """A parser's message with the file content it quotes (between backticks) withheld:
    it may be a person's name or email, and quarantine.rejected_files is published."""
    return re.sub(r"`[^`]*(`|$)", "`...`", message)


def count_lines(path: Path) -> int:
    """What a rejected file counts for in the reject ratio: its data lines (a Parquet
    file's rows). A file that is cut short counts the lines that can be read: a
    truncated gzip of 5,000 rows is not one line."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        try:
            return max(pl.scan_parquet(path).select(pl.len()).collect().item(), 1)
        except Exception:  # noqa: BLE001 - not Parquet after all: its bytes' lines
            pass
    # gzip members decompressed as far as they go (wbits 47: a gzip or zlib header).
    unpack = zlib.decompressobj(47) if name.endswith(".gz") else None
    lines, last = 0, b"\n"
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                data = unpack.decompress(chunk) if unpack else chunk
                lines += data.count(b"\n")
                last = data[-1:] or last
    except (OSError, zlib.error):
        pass  # what was read before the break counts
    lines += 0 if last == b"\n" else 1
    header = 1 if name.endswith((".csv", ".csv.gz")) else 0
    return max(lines - header, 1)


# --- casting -------------------------------------------------------------------------

AWARE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
)
NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")


def timestamps_from_text(text: pl.Series) -> pl.Series:
    """ISO-8601 text to UTC: an offset is applied, `Z` or no offset means UTC, a bare
    date is midnight. Layouts are tried in turn, only while some value is still
    unparsed: a file written in one layout costs one parse."""
    text = text.str.strip_chars().str.strip_suffix("Z").str.strip_suffix("z")
    parse = {"time_unit": "us", "strict": False}
    layouts = [lambda t, f=f: t.str.to_datetime(f, time_zone="UTC", **parse) for f in AWARE_FORMATS]
    layouts += [
        lambda t, f=f: t.str.to_datetime(f, **parse).dt.replace_time_zone("UTC")
        for f in NAIVE_FORMATS
    ]
    layouts.append(
        lambda t: (
            t.str.to_date("%Y-%m-%d", strict=False)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
        )
    )
    result = pl.repeat(None, len(text), dtype=pl.Datetime("us", "UTC"), eager=True).alias(text.name)
    for layout in layouts:
        unparsed = result.is_null() & text.is_not_null()
        if not unparsed.any():
            break
        result = result.fill_null(layout(text))
    return result


def _cast(name: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Cast one column to its contract type; values that do not fit become null."""
    column = pl.col(name)
    if source == target:
        return column
    if isinstance(target, pl.Datetime) and isinstance(source, pl.Datetime):
        zone = source.time_zone
        column = column.dt.replace_time_zone("UTC") if zone is None else column
        return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if isinstance(target, pl.Datetime) and source == pl.Date:
        return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    text = column if source == pl.String else column.cast(pl.String, strict=False)
    if target == pl.String:
        return text
    text = text.str.strip_chars()
    if target == pl.Date:
        return text.str.to_date("%Y-%m-%d", strict=False)
    if target == pl.Boolean:
        lower = text.str.to_lowercase()
        return (
            pl.when(lower.is_in(TRUE_WORDS))
            .then(True)
            .when(lower.is_in(FALSE_WORDS))
            .then(False)
            .otherwise(None)
        )
    if target == pl.Int64:
        # "12.0" from a spreadsheet is 12; "12.5" is not an integer.
        number = text.cast(pl.Float64, strict=False)
        return pl.when(number == number.round()).then(number.cast(pl.Int64, strict=False))
    return text.cast(target, strict=False)


TYPE_WORDS = {
    pl.String: "string",
    pl.Date: "date (YYYY-MM-DD)",
    pl.Int64: "integer",
    pl.Float64: "decimal",
    pl.Boolean: "boolean (true/false, 1/0, yes/no)",
}


def _type_word(dtype: pl.DataType) -> str:
    return "timestamp (ISO-8601)" if isinstance(dtype, pl.Datetime) else TYPE_WORDS[dtype]


def type_rows(
    frame: pl.DataFrame, dataset: Dataset, source_file: str, delivery_date: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The file's rows in contract types with lineage and `_extra` (JSON of the columns
    the contract lacks); beside them, one (row_number, column, reason) per value that
    did not cast."""
    dtypes = dataset.dtypes
    missing = [name for name in dataset.required_columns if name not in frame.columns]
    if missing:
        raise FileRejected(f"{source_file}: missing required column(s) {', '.join(missing)}")
    extra = [name for name in frame.columns if name not in dtypes]
    # Timestamps in text are parsed eagerly, one layout at a time (see above).
    parsed = {
        name: _timestamps_of(frame, name, source_file).alias(f"_parsed_{name}")
        for name, target in dtypes.items()
        if isinstance(target, pl.Datetime)
        and name in frame.columns
        and not frame.schema[name].is_temporal()
    }
    frame = frame.with_columns(parsed.values()) if parsed else frame
    casts, failed = [], {}
    for name, target in dtypes.items():
        column = dataset.columns[name]
        default = (column.metadata or {}).get("default")
        if name not in frame.columns:
            casts.append(pl.lit(default, dtype=target).alias(name))
            continue
        typed = (
            pl.col(f"_parsed_{name}") if name in parsed else _cast(name, frame.schema[name], target)
        )
        if name == "currency":
            typed = typed.str.strip_chars().str.to_uppercase()
        if default is not None:
            typed = typed.fill_null(pl.lit(default, dtype=target))
        casts.append(typed.alias(name))
        if frame.schema[name] != target:
            failed[name] = (pl.col(name).is_not_null() & typed.is_null()).alias(f"_bad_{name}")
    extra_json = pl.struct(extra).struct.json_encode() if extra else pl.lit(None, dtype=pl.String)
    try:
        typed = frame.with_row_index(ROW_NUMBER, offset=1).select(
            *casts,
            pl.lit(source_file).alias(SOURCE_FILE),
            pl.lit(delivery_date).alias(DELIVERY_DATE),
            pl.col(ROW_NUMBER).cast(pl.Int64),
            extra_json.alias(EXTRA),
            *failed.values(),
        )
    except pl.exceptions.PolarsError as exc:
        # A column of a kind no value of which can become its contract type (a list
        # or a duration in a Parquet file, say): the file is rejected, the column named.
        raise FileRejected(f"{source_file}: {_uncastable(frame, casts, extra_json)}") from exc
    cast_failures = pl.concat(
        [
            _empty_cast_failures(),
            *(
                typed.filter(pl.col(f"_bad_{name}")).select(
                    ROW_NUMBER,
                    pl.lit(name).alias("column"),
                    pl.lit(f"{name}: not a valid {_type_word(dtypes[name])}").alias("reason"),
                )
                for name in failed
            ),
        ]
    )
    return typed.drop(f"_bad_{name}" for name in failed), cast_failures, extra


def _timestamps_of(frame: pl.DataFrame, name: str, source_file: str) -> pl.Series:
    """A timestamp column held as text, or as anything else that is not a date: a number
    (epoch seconds, say) is read as its text, so each such value is not a valid
    timestamp, row by row."""
    try:
        text = frame[name].cast(pl.String, strict=False)
    except pl.exceptions.PolarsError as exc:
        raise FileRejected(
            f"{source_file}: column {name} is {frame.schema[name]}, which cannot be read as "
            "a timestamp"
        ) from exc
    return timestamps_from_text(text)


def _uncastable(frame: pl.DataFrame, casts: list[pl.Expr], extra_json: pl.Expr) -> str:
    """Which column of the file cannot be cast at all, and its type. Runs only for a
    file about to be rejected: one try per column."""
    for expression in [*casts, extra_json]:
        try:
            frame.select(expression)
        except pl.exceptions.PolarsError:
            name = expression.meta.output_name()
            if name in frame.columns:
                return f"column {name} is {frame.schema[name]}, which cannot be read as its type"
            return f"columns outside the contract ({name}) cannot be kept as JSON"
    return "its columns cannot be read as their types"


# --- validation ----------------------------------------------------------------------


def rule_failures(typed: pl.DataFrame, dataset: Dataset, plan_tiers: list[str]) -> pl.DataFrame:
    """(position, column, reason) for every contract rule a row breaks, from Pandera's
    failure cases of a lazy validation."""
    try:
        dataset.schema(plan_tiers).validate(typed, lazy=True)
    except pandera_errors.SchemaErrors as errors:
        cases = errors.failure_cases.filter(pl.col("index").is_not_null())
    else:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    reason = (
        pl.when(pl.col("schema_context") == "Column")
        .then(
            pl.col("column") + ": " + pl.col("check").replace("not_nullable", "must not be empty")
        )
        .otherwise(pl.col("check"))
    )
    return cases.select(
        pl.col("index").cast(pl.Int64).alias("position"),
        pl.col("column"),
        reason.alias("reason"),
        (pl.col("check") == "not_nullable").alias("null_check"),
    )


def key_hash(key: list[str]) -> pl.Expr:
    """A 64-bit hash of the key. As many distinct hashes as rows prove the keys distinct
    within every delivery among the rows: the common case is decided on one integer
    column; a key in several deliveries (a newer version) needs the exact check."""
    return pl.col(key[0]).hash() if len(key) == 1 else pl.struct(key).hash()


def duplicate_positions(rows: pl.DataFrame, key: list[str]) -> pl.Series:
    """Positions of rows whose key appears more than once in their delivery."""
    if rows.select(key_hash(key).n_unique()).item() == rows.height:
        return pl.Series("position", [], dtype=pl.Int64)
    identity = pl.struct(DELIVERY_DATE, *key)
    repeated = identity.is_duplicated() & pl.all_horizontal(pl.col(k).is_not_null() for k in key)
    return rows.select(repeated.arg_true().cast(pl.Int64).alias("position")).to_series()


def parse_deliveries(
    deliveries: list[Delivery], dataset: Dataset, plan_tiers: list[str]
) -> ParsedBatch:
    """Read every file of some deliveries and split their rows into valid and rejected,
    with every reason. Validation runs once over the whole batch; reasons are built only
    for the rows that have one."""
    typed_frames, failures, as_read, rejected_files = [], [], {}, []
    rows_read: dict[dt.date, int] = {}
    extra_columns: dict[dt.date, list[str]] = {}
    offset = 0
    for delivery in deliveries:
        rows_read[delivery.delivery_date] = 0
        extras: set[str] = set()
        for path in delivery.files:
            source_file = str(path)
            try:
                frame = read_file(path)
                typed, cast_failures, extra = type_rows(
                    frame, dataset, source_file, delivery.delivery_date
                )
            except FileRejected as exc:
                rejected_files.append(
                    {
                        DELIVERY_DATE: delivery.delivery_date,
                        "source_file": source_file,
                        "message": str(exc),
                        "lines": count_lines(path),
                    }
                )
                continue
            typed_frames.append(typed)
            failures.append(
                cast_failures.select(
                    (pl.col(ROW_NUMBER) - 1 + offset).alias("position"),
                    "column",
                    "reason",
                    pl.lit(True).alias("cast_failed"),
                )
            )
            as_read[source_file] = frame
            extras.update(extra)
            rows_read[delivery.delivery_date] += typed.height
            offset += typed.height
        extra_columns[delivery.delivery_date] = sorted(extras)

    rows = pl.concat([_empty_typed(dataset), *typed_frames], how="vertical_relaxed")
    cast = pl.concat([pl.DataFrame(schema=CAST_SCHEMA), *failures])
    rules = rule_failures(rows, dataset, plan_tiers)
    # A value that did not cast is reported once, not again as "must not be empty".
    rules = rules.join(
        cast.select("position", "column", "cast_failed"), on=["position", "column"], how="left"
    ).filter(~(pl.col("null_check") & pl.col("cast_failed").fill_null(False)))
    duplicates = (
        duplicate_positions(rows, list(dataset.key))
        .to_frame()
        .with_columns(pl.lit("duplicate_key").alias("reason"))
    )
    reasons = (
        pl.concat(
            [cast.select("position", "reason"), rules.select("position", "reason"), duplicates]
        )
        .group_by("position", maintain_order=True)
        .agg(pl.col("reason").unique(maintain_order=True).alias(REASONS))
        .sort("position")
    )
    bad = pl.Series(np.zeros(rows.height, dtype=bool))
    bad[reasons["position"].to_numpy()] = True
    rejected = pl.concat(
        [
            rows[reasons["position"]].select(DELIVERY_DATE, SOURCE_FILE, ROW_NUMBER),
            reasons.select(REASONS),
        ],
        how="horizontal",
    )
    valid = rows.filter(~bad)
    rejected_per_delivery = dict(rejected.group_by(DELIVERY_DATE).len().iter_rows())
    return ParsedBatch(
        valid=valid,
        rejected=_records(rejected, as_read),
        rejected_files=pl.DataFrame(
            rejected_files,
            schema={
                DELIVERY_DATE: pl.Date,
                "source_file": pl.String,
                "message": pl.String,
                "lines": pl.Int64,
            },
        ),
        rows_read=rows_read,
        rows_loaded={
            day: read - rejected_per_delivery.get(day, 0) for day, read in rows_read.items()
        },
        extra_columns=extra_columns,
    )


def _records(rejected: pl.DataFrame, as_read: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Attach each rejected row as it was read, as JSON."""
    parts = [_empty_rejected()]
    for source_file, keys in rejected.partition_by(SOURCE_FILE, as_dict=True).items():
        frame = as_read[source_file[0]].with_row_index(ROW_NUMBER, offset=1)
        columns = [c for c in frame.columns if c != ROW_NUMBER]
        records = frame.with_columns(pl.col(ROW_NUMBER).cast(pl.Int64)).join(
            keys, on=ROW_NUMBER, how="inner"
        )
        parts.append(
            records.select(
                DELIVERY_DATE,
                pl.col(SOURCE_FILE).alias("source_file"),
                pl.col(ROW_NUMBER).alias("row_number"),
                pl.struct(columns).struct.json_encode().alias("record"),
                pl.col(REASONS).alias("reasons"),
            )
        )
    return pl.concat(parts)


def _empty_typed(dataset: Dataset) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            **dataset.dtypes,
            SOURCE_FILE: pl.String,
            DELIVERY_DATE: pl.Date,
            ROW_NUMBER: pl.Int64,
            EXTRA: pl.String,
        }
    )


def _empty_cast_failures() -> pl.DataFrame:
    return pl.DataFrame(schema={ROW_NUMBER: pl.Int64, "column": pl.String, "reason": pl.String})


def _empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            DELIVERY_DATE: pl.Date,
            "source_file": pl.String,
            "row_number": pl.Int64,
            "record": pl.String,
            "reasons": pl.List(pl.String),
        }
    )
