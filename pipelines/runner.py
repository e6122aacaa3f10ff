"""Run the nightly job for one as-of date, in process, and say plainly what happened."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from dagster import DagsterEventType, DagsterInstance, RunsFilter
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from assets.deliveries import find_deliveries
from assets.publish import PUBLISHED, close_ended_runs, record_run
from pipelines.jobs import NIGHTLY_JOB, build_definitions, keys_before_publish
from pipelines.resources import Warehouse
from pipelines.settings import REPO_ROOT

PID_TAG = "cshealth/pid"
KILLED = "killed: its process ended before the run finished"
PUBLISH_STEP = PUBLISHED.to_python_identifier()  # the step key of the publish asset


class RunError(Exception):
    """A run that cannot start or did not finish, with one line that says why."""


@dataclass
class RunOutcome:
    as_of: dt.date
    run_id: str
    success: bool
    problems: list[str] = field(default_factory=list)
    published: bool = False  # the publish step succeeded (reports may still have failed)
    deferred_to: dt.date | None = None  # not published: the run of this date publishes it


def prepare_dagster_home() -> None:
    """Dagster reads dagster.yaml from $DAGSTER_HOME only, as an absolute path."""
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ["DAGSTER_HOME"] = str(Path(os.environ["DAGSTER_HOME"]).resolve())
    storage = os.environ.setdefault("CSHEALTH_DAGSTER_STORAGE", str(REPO_ROOT / ".dagster"))
    os.environ["CSHEALTH_DAGSTER_STORAGE"] = str(Path(storage).resolve())


def preflight(warehouse: Warehouse, as_of: dt.date) -> None:
    """Fail early, with one line, on what would otherwise fail deep inside a run."""
    warehouse.scorecards()
    warehouse.operations()
    extracts = warehouse.extracts_path
    if not extracts.is_dir():
        raise RunError(f"extracts directory not found: {extracts}")
    deliveries, _ = find_deliveries(extracts, "crm_accounts", as_of)
    if not deliveries:
        raise RunError(
            f"no crm_accounts delivery dated on or before {as_of} in "
            f"{extracts / 'crm_accounts'} (crm_accounts is required)"
        )
    if warehouse.work_path == warehouse.published_path:
        raise RunError(
            f"the working database and the published file are one file ({warehouse.work_path}): "
            "the published file is replaced whole at the end of a run, never written in place"
        )
    for path in (warehouse.published_path, warehouse.work_path):
        if path.is_dir():
            raise RunError(f"the warehouse path {path} is a folder, not a DuckDB file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe = path.parent / f".cshealth-write-test-{uuid.uuid4().hex}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise RunError(f"cannot write the warehouse at {path}: {exc.strerror or exc}") from None
    try:
        with warehouse.connect():
            pass
    except duckdb.Error as exc:
        raise RunError(
            f"cannot open the working database {warehouse.work_path}: {str(exc).splitlines()[0]}"
        ) from None


def _problems(result) -> list[str]:
    """Failed steps and failed checks, one line each, without tracebacks."""
    problems = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            cause = error.cause or error
            while cause.cause is not None:
                cause = cause.cause
            if cause.cls_name == "DagsterAssetCheckFailedError":
                continue  # the failed check has its own line
            message = cause.message.strip().splitlines()[0] if cause.message else ""
            problems.append(f"step {event.step_key} failed: {message}")
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed:
                problems.append(_failed_check(evaluation))
    return problems


def _failed_check(evaluation) -> str:
    """A failed check in one line: for the reject ratio, the share, the commonest reason
    and where the rows are; for a snapshot's drop, the deliveries and their rows."""
    key = "/".join(evaluation.asset_key.path)
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    line = f"check {evaluation.check_name} failed on {key}"
    if "reject_ratio" in metadata:
        line += (
            f": {metadata['reject_ratio']:.1%} of {metadata['rows_counted']:,} rows "
            f"rejected, limit: {evaluation.description}"
        )
        if metadata.get("top_reason"):
            line += f"; most often {metadata['top_reason']}"
        line += "; every row with its reasons is in quarantine.rejected_rows of the work DB"
    elif "snapshot_drop" in metadata:
        line += (
            f": the {metadata['delivery']} delivery has {metadata['rows']:,} rows, "
            f"{metadata['snapshot_drop']:.0%} fewer than the {metadata['rows_before']:,} of "
            f"{metadata['delivery_before']}; limit max_snapshot_drop "
            f"{metadata['max_snapshot_drop']}"
        )
    elif "failing_rows" in metadata:
        line += f": {metadata['failing_rows']} failing rows"
    return line


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_runs(instance: DagsterInstance) -> None:
    """A `cshealth run` killed outright leaves its Dagster run STARTED, holding its slot
    of the duckdb_writer pool (limit 1): every later run would wait for it for ever.
    Mark the runs of such dead processes failed (meta.runs follows: close_ended_runs)
    and free their slots."""
    for record in instance.get_run_records(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES)):
        run = record.dagster_run
        pid = run.tags.get(PID_TAG)
        if pid and not process_alive(int(pid)):
            instance.report_run_failed(run, message=KILLED)
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def run_as_of(
    warehouse: Warehouse,
    as_of: dt.date,
    verbose: bool = False,
    in_range: tuple[dt.date, dt.date] | None = None,
) -> RunOutcome:
    """Materialise every asset for `as_of` through Dagster; record it in meta.runs.

    `as_of` of a range (first, last) that is not its last date stops before the publish:
    its marts wait in the working database, and the run of the last date publishes the
    whole range at once and renders its reports, once. Each publish copies only what
    changed but still costs seconds, and analysts see the range whole or not at all."""
    prepare_dagster_home()
    preflight(warehouse, as_of)
    run_id = str(uuid.uuid4())
    job = build_definitions(warehouse, include_date=as_of).resolve_job_def(NIGHTLY_JOB)
    deferred_to = in_range[1] if in_range and as_of != in_range[1] else None
    tags = {PID_TAG: str(os.getpid())}
    run_config = (
        None if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    )
    with DagsterInstance.get() as instance:
        release_dead_runs(instance)
        with warehouse.connect() as connection:
            close_ended_runs(connection, instance)
            record_run(connection, run_id, as_of, "running")
        result = job.execute_in_process(
            partition_key=as_of.isoformat(),
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
            run_config=run_config,
            tags=tags,
            asset_selection=keys_before_publish(job) if deferred_to else None,
        )
    published = any(
        event.event_type == DagsterEventType.STEP_SUCCESS and event.step_key == PUBLISH_STEP
        for event in result.all_events
    )
    outcome = RunOutcome(as_of, run_id, result.success, _problems(result), published, deferred_to)
    if result.success and deferred_to:
        with warehouse.connect() as connection:
            record_run(
                connection,
                run_id,
                as_of,
                "computed",
                message=f"waits for the publish of its range's last date, {deferred_to}",
            )
    if not result.success:
        message = "; ".join(outcome.problems) or "run failed"
        if published:
            message = f"published, then {message}"
        with warehouse.connect() as connection:
            record_run(connection, run_id, as_of, "failed", message=message)
    return outcome
