"""The nightly job, its assets, schedule and resources, built for a partition range."""

from __future__ import annotations

import datetime as dt
import os

from dagster import (
    AssetKey,
    AssetSelection,
    DailyPartitionsDefinition,
    Definitions,
    EnvVar,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
)

from assets.core import CORE_ORDER, build_core_asset
from assets.health import ACCOUNT_HEALTH, HEALTH_MEASURES, build_health_asset
from assets.ingest import build_ingest_assets
from assets.operations import OPERATIONS_ASSETS, build_operations_asset
from assets.publish import build_publish_asset
from assets.retention import MRR_MOVEMENTS, RETENTION, build_retention_asset
from pipelines.resources import Warehouse
from pipelines.settings import load_settings

DEFAULT_ENVIRONMENT = {
    "CSHEALTH_EXTRACTS_DIR": "data/extracts",
    "CSHEALTH_WAREHOUSE": "data/warehouse.duckdb",
}
NIGHTLY_JOB = "nightly"


def warehouse_from_environment() -> Warehouse:
    for name, default in DEFAULT_ENVIRONMENT.items():
        os.environ.setdefault(name, default)
    return Warehouse(
        extracts_dir=EnvVar("CSHEALTH_EXTRACTS_DIR"),
        warehouse=EnvVar("CSHEALTH_WAREHOUSE"),
        work_db=os.environ.get("CSHEALTH_WORK_DB", ""),
        settings_file=os.environ.get("CSHEALTH_SETTINGS", ""),
        scorecard=os.environ.get("CSHEALTH_SCORECARD", ""),
        operations_file=os.environ.get("CSHEALTH_OPERATIONS", ""),
    )


def partitions_for(start: dt.date, include: dt.date | None = None) -> DailyPartitionsDefinition:
    """Daily UTC partitions from `start` up to today, stretched to hold `include`."""
    today = dt.datetime.now(dt.UTC).date()
    start = min(start, include) if include else start
    end_offset = max(1, (include - today).days + 1) if include else 1
    return DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=end_offset,
                                     timezone="UTC")


def build_definitions(warehouse: Warehouse | None = None,
                      include_date: dt.date | None = None) -> Definitions:
    warehouse = warehouse or warehouse_from_environment()
    settings = load_settings(warehouse.settings_file or None)
    warehouse.scorecards()  # a bad scorecard fails here, when the definitions load
    warehouse.operations()
    partitions = partitions_for(settings.partitions_start, include_date)
    ingest = build_ingest_assets(partitions)
    core = build_core_asset(partitions)
    health = build_health_asset(partitions, [AssetKey(["core", name]) for name in CORE_ORDER])
    retention = build_retention_asset(partitions)
    operations = build_operations_asset(partitions, [
        ACCOUNT_HEALTH, HEALTH_MEASURES, MRR_MOVEMENTS, RETENTION,
        *(AssetKey(["core", name]) for name in CORE_ORDER)])
    publish = build_publish_asset(
        partitions, [ACCOUNT_HEALTH, HEALTH_MEASURES, MRR_MOVEMENTS, RETENTION,
                     *OPERATIONS_ASSETS])
    nightly = define_asset_job(
        NIGHTLY_JOB, selection=AssetSelection.all(), executor_def=in_process_executor,
        description="Ingest, validate, build core, score, compute retention, build the "
                    "work lists and publish for one as-of date.")
    schedule = build_schedule_from_partitioned_job(
        nightly, hour_of_day=settings.schedule_hour, minute_of_hour=0)
    return Definitions(
        assets=[*ingest, core, health, retention, operations, publish],
        jobs=[nightly],
        schedules=[schedule],
        resources={"warehouse": warehouse},
    )

