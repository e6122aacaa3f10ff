"""Dagster from the outside: one partition through `materialize()`, the sensor with its
cursor, the schedule, the command-line tools, and the Parquet export."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import D1, D2, D3, rows_of, write_delivery
from dagster import (
    AssetSelection,
    DagsterInstance,
    RunRequest,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from pipelines.cli import main
from pipelines.jobs import build_definitions
from pipelines.resources import Warehouse
from pipelines.settings import REPO_ROOT

BIN = Path(sys.executable).parent


@pytest.fixture
def book(tmp_path) -> Path:
    """crm_accounts delivered on D1 and D2; D3 marked ready with a _READY file."""
    root = tmp_path / "extracts"
    for day in (D1, D2):
        write_delivery(root, "crm_accounts", day, rows_of("crm_accounts", 2))
    (root / D3.isoformat()).mkdir(parents=True)
    (root / D3.isoformat() / "_READY").touch()
    (root / "crm_accounts" / "notes").mkdir()  # not a date: ignored
    return root


@pytest.fixture
def warehouse(tmp_path, book) -> Warehouse:
    return Warehouse(extracts_dir=str(book), warehouse=str(tmp_path / "w.duckdb"))


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(tmp_path / "dagster"))
    (tmp_path / "instance").mkdir()
    # Not entered as a context manager: entering sets a context variable that pytest's
    # teardown cannot reset, and later definitions would reach the closed instance.
    local = DagsterInstance.local_temp(str(tmp_path / "instance"))
    yield local
    local.dispose()


def triggers(warehouse: Warehouse):
    repository = build_definitions(warehouse).get_repository_def()
    return repository.get_sensor_def("new_deliveries"), repository.get_schedule_def(
        "nightly_schedule"
    )


def materialize_day(warehouse: Warehouse, instance, day: dt.date):
    definitions = build_definitions(warehouse)
    return materialize(
        list(definitions.assets),
        partition_key=day.isoformat(),
        instance=instance,
        resources={"warehouse": warehouse},
    )


def test_one_partition_materialises_and_publishes(warehouse, instance):
    result = materialize_day(warehouse, instance, D1)
    assert result.success
    with duckdb.connect(str(warehouse.published_path), read_only=True) as published:
        assert published.execute(
            "SELECT DISTINCT as_of_date FROM mart.account_health"
        ).fetchall() == [(D1,)]


def test_the_sensor_requests_each_ready_day_once_with_its_cursor(warehouse, instance, book):
    sensor, _ = triggers(warehouse)
    first = sensor(build_sensor_context(instance=instance, resources={"warehouse": warehouse}))
    assert isinstance(first, SensorResult)
    assert [(r.partition_key, r.run_key) for r in first.run_requests] == [
        (D1.isoformat(), f"nightly-{D1}"),
        (D2.isoformat(), f"nightly-{D2}"),
        (D3.isoformat(), f"nightly-{D3}"),
    ]
    assert first.cursor == D3.isoformat()

    again = sensor(
        build_sensor_context(
            instance=instance, cursor=first.cursor, resources={"warehouse": warehouse}
        )
    )
    assert isinstance(again, SkipReason)

    day4 = D3 + dt.timedelta(days=1)
    write_delivery(book, "crm_accounts", day4, rows_of("crm_accounts", 1))
    later = sensor(
        build_sensor_context(
            instance=instance, cursor=first.cursor, resources={"warehouse": warehouse}
        )
    )
    assert [r.partition_key for r in later.run_requests] == [day4.isoformat()]
    assert later.cursor == day4.isoformat()


def test_a_day_that_succeeded_is_not_requested_again(warehouse, instance):
    assert materialize_day(warehouse, instance, D1).success
    sensor, schedule = triggers(warehouse)
    result = sensor(build_sensor_context(instance=instance, resources={"warehouse": warehouse}))
    assert [r.partition_key for r in result.run_requests] == [D2.isoformat(), D3.isoformat()]
    # The schedule at 02:00 on D1 finds D1 ready, but it already succeeded.
    at = dt.datetime(D1.year, D1.month, D1.day, 2, tzinfo=dt.UTC)
    skipped = schedule(
        build_schedule_context(
            instance=instance, scheduled_execution_time=at, resources={"warehouse": warehouse}
        )
    )
    assert isinstance(skipped, SkipReason) and "already succeeded" in skipped.skip_message


def test_the_schedule_runs_the_newest_ready_day_at_its_hour(warehouse, instance):
    _, schedule = triggers(warehouse)
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    at = dt.datetime(D2.year, D2.month, D2.day, 2, tzinfo=dt.UTC)
    request = schedule(
        build_schedule_context(
            instance=instance, scheduled_execution_time=at, resources={"warehouse": warehouse}
        )
    )
    assert isinstance(request, RunRequest)
    assert (request.partition_key, request.run_key) == (D2.isoformat(), f"nightly-{D2}")


def test_the_schedule_hour_and_zone_come_from_the_settings(tmp_path, book):
    settings = tmp_path / "pipeline.yaml"
    settings.write_text("schedule_hour: 5\nschedule_timezone: Europe/Berlin\n")
    warehouse = Warehouse(
        extracts_dir=str(book), warehouse=str(tmp_path / "w.duckdb"), settings_file=str(settings)
    )
    _, schedule = triggers(warehouse)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 5 * * *", "Europe/Berlin")


def dagster_environment(tmp_path: Path, book: Path) -> dict[str, str]:
    """The repository's dagster.yaml, in a home of its own (the CLI writes beside it)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CSHEALTH_DAGSTER_STORAGE": str(tmp_path / "dagster"),
        "CSHEALTH_EXTRACTS_DIR": str(book),
        "CSHEALTH_WAREHOUSE": str(tmp_path / "cli.duckdb"),
    }


def test_the_dagster_command_line_validates_and_materialises(tmp_path, book):
    environment = dagster_environment(tmp_path, book)
    validate = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "pipelines.definitions"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert validate.returncode == 0, validate.stderr[-2000:]
    run = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "pipelines.definitions",
            "--select",
            "*",
            "--partition",
            D1.isoformat(),
        ],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    with duckdb.connect(str(tmp_path / "cli.duckdb"), read_only=True) as published:
        assert published.execute("SELECT max(as_of_date) FROM mart.account_health").fetchall() == [
            (D1,)
        ]


def test_export_writes_every_mart_as_parquet(tmp_path, book, monkeypatch):
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(tmp_path / "dagster"))
    for name in ("CSHEALTH_EXTRACTS_DIR", "CSHEALTH_WAREHOUSE", "CSHEALTH_EXPORT_DIR"):
        monkeypatch.delenv(name, raising=False)
    export, published = tmp_path / "export", tmp_path / "w.duckdb"
    arguments = [
        "run",
        "--extracts",
        str(book),
        "--warehouse",
        str(published),
        "--export",
        str(export),
    ]
    assert main([*arguments, "--as-of", D1.isoformat()]) == 0
    assert main([*arguments, "--as-of", D2.isoformat()]) == 0
    assert main([*arguments, "--as-of", D2.isoformat()]) == 0  # again: nothing doubles
    assert sorted(path.name for path in (export / "account_health").iterdir()) == [
        f"as_of_date={D1}",
        f"as_of_date={D2}",
    ]
    assert (export / "risk_register.parquet").exists()
    with duckdb.connect(str(published), read_only=True) as connection:
        for table in ("account_health", "health_measures", "portfolio_kpis"):
            columns = ", ".join(
                row[0]
                for row in connection.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'mart' "
                    "AND table_name = ?",
                    [table],
                ).fetchall()
            )
            exported = connection.execute(
                f"SELECT {columns} FROM read_parquet('{export}/{table}/*/*.parquet', "
                "hive_partitioning = true) ORDER BY ALL"
            ).fetchall()
            assert (
                exported
                == connection.execute(f"SELECT {columns} FROM mart.{table} ORDER BY ALL").fetchall()
            ), table
        for table in ("risk_register", "retention", "health_alerts"):
            assert (
                connection.execute(f"SELECT count(*) FROM '{export}/{table}.parquet'").fetchall()
                == connection.execute(f"SELECT count(*) FROM mart.{table}").fetchall()
            )


def test_a_failed_run_is_recorded_in_meta_runs(tmp_path, instance):
    from pipelines.sensors import record_failed_runs

    root = tmp_path / "bad"
    write_delivery(root, "crm_accounts", D1, rows_of("crm_accounts", 2))
    tickets = rows_of("support_tickets", 20)
    for ticket in tickets[:5]:
        ticket["priority"] = "whenever"  # 25% rejected: publishing is blocked
    write_delivery(root, "support_tickets", D1, tickets)
    warehouse = Warehouse(extracts_dir=str(root), warehouse=str(tmp_path / "bad.duckdb"))
    definitions = build_definitions(warehouse)
    result = materialize(
        list(definitions.assets),
        partition_key=D1.isoformat(),
        instance=instance,
        resources={"warehouse": warehouse},
        raise_on_error=False,
    )
    assert not result.success
    context = build_run_status_sensor_context(
        sensor_name="record_failed_runs",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"warehouse": warehouse},
    ).for_run_failure()
    record_failed_runs(context)
    with duckdb.connect(str(warehouse.work_path), read_only=True) as work:
        rows = work.execute("SELECT run_id, as_of_date, status, message FROM meta.runs").fetchall()
    assert [(run_id, day, status) for run_id, day, status, _ in rows] == [
        (result.run_id, D1, "failed")
    ]
    assert rows[0][3]
    assert not warehouse.published_path.exists()


def test_runs_that_ended_without_publishing_are_closed_by_the_next_run(warehouse, instance):
    """A run of the ingest and core assets only (as from the UI) succeeds in Dagster
    without reaching the publish step; another is canceled. The next run's core step
    closes their lines: the first `computed` (then published by the next publish), the
    second `failed`."""
    definitions = build_definitions(warehouse)
    partial = []
    for _ in range(2):
        partial.append(
            materialize(
                list(definitions.assets),
                selection=AssetSelection.groups("ingest", "core"),
                partition_key=D1.isoformat(),
                instance=instance,
                resources={"warehouse": warehouse},
            )
        )
    instance.report_run_canceled(partial[1].dagster_run)
    with duckdb.connect(str(warehouse.work_path), read_only=True) as work:
        # The second run's core step already closed the first.
        assert work.execute(
            "SELECT run_id, status FROM meta.runs ORDER BY started_at"
        ).fetchall() == [
            (partial[0].run_id, "computed"),
            (partial[1].run_id, "running"),
        ]
    final = materialize_day(warehouse, instance, D2)
    with duckdb.connect(str(warehouse.work_path), read_only=True) as work:
        runs = dict(
            (run_id, (day, status, message, published_by))
            for run_id, day, status, message, published_by in work.execute(
                "SELECT run_id, as_of_date, status, message, published_by_run FROM meta.runs"
            ).fetchall()
        )
    assert runs[partial[0].run_id][:2] == (D1, "success")
    assert runs[partial[0].run_id][3] == final.run_id
    assert runs[partial[1].run_id][:2] == (D1, "failed")
    assert "canceled" in runs[partial[1].run_id][2]
    assert runs[final.run_id][1] == "success"


def test_the_export_rewrites_the_later_dates_each_published_date_refreshed(tmp_path):
    """A run that published a and a+1 (its own date and a computed run it carried, as
    the last run of a range does) refreshed the deltas of a+7 (sql/health_history.sql):
    its export rewrites a+7 too; a run that published a+1 alone would not."""
    from assets.export import export_marts

    a = dt.date(2026, 3, 2)
    published, target = tmp_path / "p.duckdb", tmp_path / "export"
    with duckdb.connect(str(published)) as connection:
        connection.execute("CREATE SCHEMA mart")
        connection.execute(
            "CREATE TABLE mart.account_health AS SELECT unnest(?::DATE[]) AS as_of_date, "
            "1.0 AS score_delta_7d",
            [[a, a + dt.timedelta(days=1), a + dt.timedelta(days=7)]],
        )
        connection.execute("CREATE SCHEMA meta")
        connection.execute(
            "CREATE TABLE meta.runs AS SELECT * FROM (VALUES "
            "('week', ?::DATE + 7, 'week'), ('alone', ?::DATE + 1, 'alone'), "
            "('computed', ?::DATE, 'last'), ('last', ?::DATE + 1, 'last')) "
            "AS runs (run_id, as_of_date, published_by_run)",
            [a] * 4,
        )
    export_marts(published, target, "week")
    with duckdb.connect(str(published)) as connection:
        connection.execute("UPDATE mart.account_health SET score_delta_7d = 2.0")

    def exported() -> list[tuple]:
        with duckdb.connect() as connection:
            return connection.execute(
                f"SELECT as_of_date, score_delta_7d FROM read_parquet('{target}/account_health/"
                "*/*.parquet', hive_partitioning = true) ORDER BY 1"
            ).fetchall()

    export_marts(published, target, "alone")
    assert exported() == [
        (a, 1.0),
        (a + dt.timedelta(days=1), 2.0),
        (a + dt.timedelta(days=7), 1.0),
    ]
    export_marts(published, target, "last")
    assert [delta for _, delta in exported()] == [2.0, 2.0, 2.0]


def test_a_step_that_raises_leaves_the_working_database_closed(tmp_path):
    """The failed step's traceback (kept here by pytest, by Dagster in a run) holds the
    connection, but Warehouse.connect closed it: the file opens read-only at once."""
    warehouse = Warehouse(extracts_dir=str(tmp_path), warehouse=str(tmp_path / "w.duckdb"))
    with pytest.raises(RuntimeError) as failure, warehouse.connect() as connection:
        connection.execute("CREATE TABLE meta.probe AS SELECT 1 AS one")
        raise RuntimeError("step failed")
    assert failure.traceback  # the frames, and the connection in them, are still alive
    with duckdb.connect(str(warehouse.work_path), read_only=True) as reader:
        assert reader.execute("SELECT one FROM meta.probe").fetchall() == [(1,)]
