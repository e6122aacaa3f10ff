"""The one resource every asset uses: where the extracts, the working database and the
published file are, and the pipeline settings."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

import sql
from pipelines.operations import Operations, load_operations
from pipelines.scorecards import Scorecard, scorecards_by_segment
from pipelines.settings import PipelineSettings, SegmentThresholds, load_settings


def work_db_for(warehouse: Path) -> Path:
    """The pipeline's own working database: a separate file beside the published one,
    so analysts holding the published file open never block a run."""
    return warehouse.with_name(f"{warehouse.stem}.work{warehouse.suffix or '.duckdb'}")


def lake_dir_for(work_db: Path) -> Path:
    """Where raw rows live: Parquet files in a folder beside the working database."""
    return work_db.with_name(work_db.stem + "_raw")


def prepare_connection(
    connection: duckdb.DuckDBPyConnection,
    memory_limit: str | None = None,
    segments: SegmentThresholds | None = None,
) -> None:
    """Session settings every step relies on (UTC dates, the `segment_of` macro of the
    configured segments, sql/session_macros.sql), and every schema and table of the
    working database in place (idempotent)."""
    connection.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        connection.execute(f"SET memory_limit = '{memory_limit}'")
    segments = segments or SegmentThresholds()
    sql.run(
        connection,
        sql.load(
            "segments",
            enterprise_above=sql.literal(segments.enterprise_above),
            mid_market_from=sql.literal(segments.mid_market_from),
        ),
    )
    sql.run(connection, sql.load("session_macros"))
    ensure_schema(connection)


SCHEMA_SCRIPTS = ("warehouse_schema", "health_tables", "retention_tables", "operations_tables")


def ensure_schema(connection: duckdb.DuckDBPyConnection) -> None:
    """Run the schema scripts when the database has not seen this version of them.

    Every step opens its own connection, and running some 150 idempotent statements
    (COMMENTs included) costs 0.15 s each time: the digest of the scripts, kept in
    `main.schema_digest` (not published), says when they have run already."""
    text = "\n".join(sql.load(name) for name in SCHEMA_SCRIPTS)
    digest = hashlib.sha256(text.encode()).hexdigest()
    connection.execute("CREATE TABLE IF NOT EXISTS main.schema_digest (digest VARCHAR)")
    if sql.scalar(connection, "SELECT count(*) FROM main.schema_digest WHERE digest = ?", [digest]):
        return
    sql.run(connection, text)
    connection.execute("DELETE FROM main.schema_digest")
    connection.execute("INSERT INTO main.schema_digest VALUES (?)", [digest])


# Each Warehouse field, the environment variable it comes from, and its default.
ENVIRONMENT = {
    "extracts_dir": ("CSHEALTH_EXTRACTS_DIR", "data/extracts"),
    "warehouse": ("CSHEALTH_WAREHOUSE", "data/warehouse.duckdb"),
    "work_db": ("CSHEALTH_WORK_DB", ""),
    "settings_file": ("CSHEALTH_SETTINGS", ""),
    "scorecard": ("CSHEALTH_SCORECARD", ""),
    "operations_file": ("CSHEALTH_OPERATIONS", ""),
    "export_dir": ("CSHEALTH_EXPORT_DIR", ""),
}


class Warehouse(ConfigurableResource):
    """Extracts in, DuckDB out. Values come from CSHEALTH_* environment variables
    (ENVIRONMENT)."""

    extracts_dir: str
    warehouse: str
    work_db: str = ""  # <warehouse>.work.duckdb beside the published file unless set
    settings_file: str = ""  # config/pipeline.yaml unless set
    scorecard: str = ""  # overrides the settings' default scorecard
    operations_file: str = ""  # config/operations.yaml unless set
    export_dir: str = ""  # where the marts are exported as Parquet; none when empty

    @classmethod
    def from_environment(cls, **overrides: str | None) -> Warehouse:
        """A Warehouse with every value read now from the environment, a non-empty
        override winning; the extracts and warehouse paths made absolute."""
        values = {
            field: overrides.get(field) or os.environ.get(variable, default)
            for field, (variable, default) in ENVIRONMENT.items()
        }
        for field in ("extracts_dir", "warehouse"):
            values[field] = str(Path(values[field]).expanduser().resolve())
        return cls(**values)

    @property
    def extracts_path(self) -> Path:
        return Path(self.extracts_dir).expanduser().resolve()

    @property
    def published_path(self) -> Path:
        return Path(self.warehouse).expanduser().resolve()

    @property
    def export_path(self) -> Path | None:
        return Path(self.export_dir).expanduser().resolve() if self.export_dir else None

    @property
    def work_path(self) -> Path:
        if self.work_db:
            return Path(self.work_db).expanduser().resolve()
        return work_db_for(self.published_path)

    def settings(self) -> PipelineSettings:
        return load_settings(self.settings_file or None)

    def scorecards(self) -> dict[str, Scorecard]:
        """Each segment's scorecard: the settings' choice, `scorecard` overriding the
        default. Raises ConfigError naming the key of a bad file."""
        settings = self.settings()
        return scorecards_by_segment(
            self.scorecard or settings.scorecard, settings.scorecard_by_segment
        )

    def operations(self) -> Operations:
        """Alert, work-list and scoreboard config. Raises ConfigError naming the key."""
        return load_operations(self.operations_file or None)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the working database, with every schema in place. Closed also
        when the body raises (DuckDBResource closes it only on success, and a traceback
        kept by Dagster would hold the file open)."""
        self.work_path.parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=str(self.work_path)).get_connection() as connection:
            try:
                settings = self.settings()
                prepare_connection(connection, settings.duckdb_memory_limit, settings.segments)
                yield connection
            finally:
                connection.close()
