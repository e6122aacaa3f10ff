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
    JobDefinition,
    define_asset_job,
    in_process_executor,
)

from assets.core import CORE_ORDER, build_core_asset
from assets.export import build_export_asset
from assets.health import ACCOUNT_HEALTH, HEALTH_MEASURES, build_health_asset
from assets.ingest import build_ingest_assets
from assets.operations import OPERATIONS_ASSETS, build_operations_asset
from assets.publish import PUBLISHED, build_publish_asset
from assets.reports import build_report_assets
from assets.retention import MRR_MOVEMENTS, RETENTION, build_retention_asset
from pipelines.resources import ENVIRONMENT, Warehouse
from pipelines.sensors import build_triggers, record_failed_runs
from pipelines.settings import load_settings

NIGHTLY_JOB = "nightly"


def warehouse_from_environment() -> Warehouse:
    """The resource for `dagster dev`: paths stay EnvVars, so the UI shows where they come
    from; the other values are read now."""
    for field in ("extracts_dir", "warehouse"):
        variable, default = ENVIRONMENT[field]
        os.environ.setdefault(variable, default)
    values = Warehouse.from_environment().model_dump()
    return Warehouse(
        **{
            **values,
            "extracts_dir": EnvVar("CSHEALTH_EXTRACTS_DIR"),
            "warehouse": EnvVar("CSHEALTH_WAREHOUSE"),
        }
    )


def partitions_for(start: dt.date, include: dt.date | None = None) -> DailyPartitionsDefinition:
    """Daily UTC partitions from `start` up to today, stretched to hold `include`."""
    today = dt.datetime.now(dt.UTC).date()
    start = min(start, include) if include else start
    end_offset = max(1, (include - today).days + 1) if include else 1
    return DailyPartitionsDefinition(
        start_date=start.isoformat(), end_offset=end_offset, timezone="UTC"
    )


def build_definitions(
    warehouse: Warehouse | None = None, include_date: dt.date | None = None
) -> Definitions:
    warehouse = warehouse or warehouse_from_environment()
    settings = load_settings(warehouse.settings_file or None)
    warehouse.scorecards()  # a bad scorecard fails here, when the definitions load
    warehouse.operations()
    partitions = partitions_for(settings.partitions_start, include_date)
    ingest = build_ingest_assets(partitions)
    core = build_core_asset(partitions)
    health = build_health_asset(partitions)
    retention = build_retention_asset(partitions)
    operations = build_operations_asset(
        partitions,
        [
            ACCOUNT_HEALTH,
            HEALTH_MEASURES,
            MRR_MOVEMENTS,
            RETENTION,
            *(AssetKey(["core", name]) for name in CORE_ORDER),
        ],
    )
    publish = build_publish_asset(
        partitions, [ACCOUNT_HEALTH, HEALTH_MEASURES, MRR_MOVEMENTS, RETENTION, *OPERATIONS_ASSETS]
    )
    export = [build_export_asset(partitions)] if warehouse.export_dir else []
    reports = build_report_assets(partitions)
    nightly = define_asset_job(
        NIGHTLY_JOB,
        selection=AssetSelection.all(),
        executor_def=in_process_executor,
        description="Ingest, validate, build core, score, compute retention, build the "
        "work lists and publish for one as-of date; then write the reports.",
    )
    sensor, schedule = build_triggers(
        nightly, settings.partitions_start, settings.schedule_hour, settings.schedule_timezone
    )
    return Definitions(
        assets=[*ingest, core, health, retention, operations, publish, *export, *reports],
        jobs=[nightly],
        schedules=[schedule],
        sensors=[sensor, record_failed_runs],
        resources={"warehouse": warehouse},
    )


def keys_before_publish(job: JobDefinition) -> list[AssetKey]:
    """Every asset of `job` but the publish and what follows it (reports, export)."""
    following = AssetSelection.assets(PUBLISHED).downstream()
    selected = (AssetSelection.all() - following).resolve(job.asset_layer.asset_graph)
    return sorted(selected, key=lambda key: key.to_user_string())
