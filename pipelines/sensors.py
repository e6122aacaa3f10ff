"""When Dagster starts the nightly job by itself: a schedule at the configured hour and a
sensor that watches the extracts folder. Both ask for the same run key per day and
leave alone a day that already succeeded (its publish step is materialised); a person
can still run it from the UI.

A day is ready when `crm_accounts` and every dataset of `ready_datasets` have a folder
for it (`<extracts>/<dataset>/<YYYY-MM-DD>/`), or when `<extracts>/<YYYY-MM-DD>/_READY`
exists.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dagster import (
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    schedule,
    sensor,
)

from assets.publish import PUBLISHED, record_run
from pipelines.resources import Warehouse

READY_FILE = "_READY"
PARTITION_TAG = "dagster/partition"


def run_key(day: dt.date) -> str:
    return f"nightly-{day.isoformat()}"


def dated_folders(folder: Path) -> set[dt.date]:
    """The YYYY-MM-DD subfolders of `folder`."""
    days = set()
    if folder.is_dir():
        for child in folder.iterdir():
            try:
                day = dt.date.fromisoformat(child.name)
            except ValueError:
                continue
            if child.is_dir() and len(child.name) == 10:
                days.add(day)
    return days


def ready_days(extracts: Path, ready_datasets: list[str]) -> list[dt.date]:
    """Days whose delivery is complete, oldest first."""
    complete = set.intersection(*(dated_folders(extracts / name) for name in ready_datasets))
    marked = {
        day for day in dated_folders(extracts) if (extracts / day.isoformat() / READY_FILE).exists()
    }
    return sorted(complete | marked)


def succeeded(instance: DagsterInstance, day: dt.date) -> bool:
    """True when the day was published, by whichever run or job."""
    return day.isoformat() in instance.get_materialized_partitions(PUBLISHED)


def candidate_days(warehouse: Warehouse, first: dt.date, last: dt.date) -> list[dt.date]:
    """Ready days within the partitions' span [first, last]."""
    settings = warehouse.settings()
    return [
        day
        for day in ready_days(warehouse.extracts_path, settings.ready_datasets)
        if first <= day <= last
    ]


def build_triggers(job, partitions_start: dt.date, hour: int, timezone: str):
    """The nightly schedule and the new-delivery sensor of `job`."""

    @sensor(
        job=job,
        name="new_deliveries",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Starts the nightly job for each newly ready day of the extracts "
        "folder; the cursor is the newest day seen.",
    )
    def new_deliveries(context: SensorEvaluationContext, warehouse: Warehouse):
        seen = dt.date.fromisoformat(context.cursor) if context.cursor else None
        today = dt.datetime.now(dt.UTC).date()
        days = [
            day
            for day in candidate_days(warehouse, partitions_start, today)
            if seen is None or day > seen
        ]
        if not days:
            return SkipReason(f"no newly ready day in {warehouse.extracts_path}")
        requests = [
            RunRequest(run_key=run_key(day), partition_key=day.isoformat())
            for day in days
            if not succeeded(context.instance, day)
        ]
        return SensorResult(run_requests=requests, cursor=days[-1].isoformat())

    @schedule(
        job=job,
        name="nightly_schedule",
        cron_schedule=f"0 {hour} * * *",
        execution_timezone=timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Every day at {hour:02d}:00 {timezone}: runs the newest ready "
        "day up to today that has not succeeded yet.",
    )
    def nightly_schedule(context: ScheduleEvaluationContext, warehouse: Warehouse):
        # The local date, but never past today's UTC partition.
        today = min(context.scheduled_execution_time.date(), dt.datetime.now(dt.UTC).date())
        days = candidate_days(warehouse, partitions_start, today)
        if not days:
            return SkipReason(f"no ready day up to {today} in {warehouse.extracts_path}")
        day = days[-1]
        if succeeded(context.instance, day):
            return SkipReason(f"{day} already succeeded")
        return RunRequest(run_key=run_key(day), partition_key=day.isoformat())

    return new_deliveries, nightly_schedule


@run_failure_sensor(
    name="record_failed_runs",
    default_status=DefaultSensorStatus.RUNNING,
    description="Records a failed run of any job (the UI's included) in "
    "meta.runs; it reaches the published file with the next "
    "successful publish.",
)
def record_failed_runs(context: RunFailureSensorContext, warehouse: Warehouse):
    day = context.dagster_run.tags.get(PARTITION_TAG)
    if not day:
        return SkipReason("not a partitioned run: no as-of date to record")
    message = context.failure_event.message or "run failed"
    with warehouse.connect() as connection:
        record_run(
            connection,
            context.dagster_run.run_id,
            dt.date.fromisoformat(day),
            "failed",
            message=message.splitlines()[0],
        )
    return None
