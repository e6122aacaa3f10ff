"""The published file: readers never see half a run, a run killed while publishing
changes nothing, a date run twice gives the same marts, every mart is documented and
holds no personal data.

One demo book (8 accounts, 10 days) is run once for D1 (`baseline`); each test works on
a copy of that warehouse (`site`) and runs D2, or D1 again. Faults are injected through
`assets.publish.after_step` (see its module docstring): replaced in process to raise,
or, in a `cshealth run` subprocess, to stop at a step so that the test kills it with
SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import rows_of, work_database, write_delivery

import assets.publish
from assets.publish import publish, record_run
from pipelines.cli import main
from pipelines.demo_book import BookShape, generate_book
from pipelines.runner import KILLED
from schemas.extracts import DATASETS

REPO = Path(__file__).resolve().parents[1]
SHAPE = BookShape(accounts=8, days=10, seed=5, last_day=dt.date(2026, 5, 10))
D1, D2 = SHAPE.last_day - dt.timedelta(days=1), SHAPE.last_day
PERSONAL = sorted({name for dataset in DATASETS.values() for name in dataset.personal})


def clean_environment(monkeypatch: pytest.MonkeyPatch, dagster: Path) -> None:
    for name in [name for name in os.environ if name.startswith("CSHEALTH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(dagster))


def run(extracts: Path, warehouse: Path, as_of: dt.date) -> int:
    return main(
        [
            "run",
            "--extracts",
            str(extracts),
            "--warehouse",
            str(warehouse),
            "--as-of",
            as_of.isoformat(),
        ]
    )


def add_personal_canaries(extracts: Path) -> None:
    """Contacts and survey comments with unmistakable values, valid and rejected (so
    they reach core and quarantine), in the deliveries D1 reads."""
    contacts_day = max(
        day
        for day in (dt.date.fromisoformat(p.name) for p in (extracts / "crm_contacts").iterdir())
        if day <= D1
    )
    contacts = rows_of("crm_contacts", 2, account_id="ACC-00001")
    contacts[0].update(
        contact_id="C-CANARY-1",
        full_name="Grace Canaryfield",
        email="grace.canaryfield@example.org",
    )
    contacts[1].update(
        contact_id="C-CANARY-2",
        full_name="Alan Canarysmith",
        email="alan.canarysmith@example.org",
        role="overlord",
    )  # rejected
    write_delivery(extracts, "crm_contacts", contacts_day, contacts, name="canaries")
    surveys = rows_of(
        "surveys",
        2,
        account_id="ACC-00001",
        contact_id="C-CANARY-1",
        responded_at=f"{D1}T09:00:00Z",
    )
    surveys[0].update(response_id="R-CANARY-1", comment="Canary says: Grace hates the new UI")
    surveys[1].update(
        response_id="R-CANARY-2",
        score="11",  # rejected: nps is 0..10
        comment="Canary says: call Alan at home on 555-0100",
    )
    write_delivery(extracts, "surveys", D1, surveys, name="canaries")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """The demo book, run for D1: extracts/, w.duckdb, w.work.duckdb, w.work_raw/."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)  # as conftest.no_stale_dagster_instance, which runs later
    root = tmp_path_factory.mktemp("baseline")
    generate_book(root / "extracts", SHAPE)
    add_personal_canaries(root / "extracts")
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_environment(monkeypatch, root / "dagster")
        assert run(root / "extracts", root / "w.duckdb", D1) == 0
    return root


@dataclass
class Site:
    extracts: Path
    warehouse: Path
    dagster: Path

    @property
    def work(self) -> Path:
        return self.warehouse.with_name("w.work.duckdb")

    def staging_files(self) -> list[str]:
        return sorted(path.name for path in self.warehouse.parent.glob(".w.duckdb.*"))

    def run(self, as_of: dt.date) -> int:
        return run(self.extracts, self.warehouse, as_of)


@pytest.fixture
def site(baseline, tmp_path, monkeypatch) -> Site:
    """A copy of the baseline warehouse (published file, working database, raw Parquet),
    reading the baseline's extracts, with its own Dagster storage."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("w.duckdb", "w.work.duckdb"):
        shutil.copy2(baseline / name, out / name)
    shutil.copytree(baseline / "w.work_raw", out / "w.work_raw")
    clean_environment(monkeypatch, tmp_path / "dagster")
    return Site(baseline / "extracts", out / "w.duckdb", tmp_path / "dagster")


def published(path: Path, query: str, *parameters):
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(query, list(parameters)).fetchall()


def mart_tables(path: Path) -> list[str]:
    return [
        name
        for (name,) in published(
            path, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'mart' ORDER BY 1"
        )
    ]


# -- 1. a reader in another process while a run publishes ---------------------------------

# What a reader looks at, statement by statement: two marts and meta.runs must agree.
READER_QUERIES = [
    "SELECT max(as_of_date)::VARCHAR, count(*) FROM mart.account_health",
    "SELECT r.as_of_date::VARCHAR, count(*), count(h.account_id) FROM mart.risk_register r "
    "LEFT JOIN mart.account_health h ON h.account_id = r.account_id "
    "AND h.as_of_date = r.as_of_date GROUP BY ALL",
    "SELECT max(as_of_date)::VARCHAR, count(*) FROM meta.runs WHERE status = 'success'",
]

# `hold`: one connection for the whole test, as an analyst's notebook;
# `reconnect`: a new connection for every round, as a BI tool's pool.
READER = r"""
import json, os, sys, time
import duckdb

path, queries, progress, stop, out, mode = sys.argv[1:]
queries = json.loads(queries)

def observe(connection):
    return [connection.execute(query).fetchall() for query in queries]

rounds = []
held = duckdb.connect(path, read_only=True) if mode == "hold" else None
with open(progress, "ab", buffering=0) as tick:
    while not os.path.exists(stop):
        started = time.time()
        try:
            if held is not None:
                result = observe(held)
            else:
                with duckdb.connect(path, read_only=True) as connection:
                    result = observe(connection)
            error = None
        except Exception as exc:
            result, error = None, f"{type(exc).__name__}: {exc}"
        rounds.append([started, time.time(), result, error])
        tick.write(b".")  # one byte per round: the test reads progress as the file size
reconnected = None
if held is not None:
    held.close()
    with duckdb.connect(path, read_only=True) as connection:
        reconnected = observe(connection)
with open(out, "w") as file:
    json.dump({"rounds": rounds, "reconnected": reconnected}, file)
"""


def observe(path: Path):
    """What a new connection sees, in the readers' JSON shape."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return json.loads(
            json.dumps([connection.execute(query).fetchall() for query in READER_QUERIES])
        )


class Reader:
    def __init__(self, folder: Path, warehouse: Path, mode: str):
        self.progress, self.out = folder / f"{mode}.progress", folder / f"{mode}.json"
        self.progress.touch()
        self.stop = folder / "stop"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                READER,
                str(warehouse),
                json.dumps(READER_QUERIES),
                str(self.progress),
                str(self.stop),
                str(self.out),
                mode,
            ]
        )

    def rounds_done(self) -> int:
        return self.progress.stat().st_size

    def result(self) -> dict:
        assert self.process.wait(timeout=60) == 0
        return json.loads(self.out.read_text())


def wait_for(readers: list[Reader], rounds: int, timeout: float = 60) -> None:
    """Until every reader has made `rounds` more rounds."""
    targets = {reader: reader.rounds_done() + rounds for reader in readers}
    deadline = time.monotonic() + timeout
    while any(reader.rounds_done() < target for reader, target in targets.items()):
        assert all(reader.process.poll() is None for reader in readers), "a reader died"
        assert time.monotonic() < deadline, "the readers stalled"
        time.sleep(0.005)


def test_readers_in_another_process_see_one_whole_run_while_the_next_publishes(
    site, tmp_path, monkeypatch
):
    before = observe(site.warehouse)
    assert before[0][0][0] == D1.isoformat()
    readers = [
        Reader(tmp_path, site.warehouse, "hold"),
        Reader(tmp_path, site.warehouse, "reconnect"),
    ]
    # The run stops at points of the publish until each reader made 20 more rounds:
    # while the staging file is new, half copied, complete, and just after the rename.
    times: dict[str, float] = {}

    def hold_readers_at(step: str) -> None:
        if step in ("attached", "copied mart.health_measures", "synced", "replaced"):
            times[step] = time.time()
            wait_for(readers, 20)
            times[f"{step} done"] = time.time()

    monkeypatch.setattr(assets.publish, "after_step", hold_readers_at)
    try:
        wait_for(readers, 5)
        assert site.run(D2) == 0
        wait_for(readers, 5)
    finally:
        readers[0].stop.touch()
    held, pooled = (reader.result() for reader in readers)

    after = observe(site.warehouse)  # a new connection sees the new date, whole
    assert after[0][0][0] == D2.isoformat() and after[2][0][0] == D2.isoformat()
    assert after[1][0][1] == after[1][0][2] > 0  # every risk-register account is scored
    assert after != before
    renamed_after, renamed_before = times["synced done"], times["replaced"]
    for reader in (held, pooled):
        assert [r for r in reader["rounds"] if r[3] is not None] == []  # no reader error
        during = [
            r
            for r in reader["rounds"]
            if r[0] >= times["attached"] and r[1] <= times["replaced done"]
        ]
        assert len(during) >= 60, "the reader did not overlap the publish"

    # The held connection: every round, before, during and after the publish, saw the
    # old run whole; closing and opening again shows the new one.
    assert len(held["rounds"]) >= 90
    assert {json.dumps(r[2]) for r in held["rounds"]} == {json.dumps(before)}
    assert held["reconnected"] == after

    # A connection per round: the old run whole until the rename, the new one whole
    # after it, never anything else, never back.
    assert sum(r[1] <= renamed_after for r in pooled["rounds"]) >= 60
    assert sum(r[0] >= renamed_before for r in pooled["rounds"]) >= 20
    assert all(r[2] == before for r in pooled["rounds"] if r[1] <= renamed_after)
    assert all(r[2] == after for r in pooled["rounds"] if r[0] >= renamed_before)
    seen = [r[2] for r in pooled["rounds"]]
    switch = seen.index(after)
    assert seen[:switch] == [before] * switch and seen[switch:] == [after] * (len(seen) - switch)
    assert site.staging_files() == []


# -- 2. faults while publishing -----------------------------------------------------------


class Fault(Exception):
    pass


def test_publish_failing_after_any_step_leaves_the_published_file_as_it_was(
    site, tmp_path, monkeypatch
):
    """publish() itself, on the working database: a fault after each of its steps (every
    table copied is a step), with stale staging files of a killed run lying about."""
    steps: list[str] = []
    monkeypatch.setattr(assets.publish, "after_step", steps.append)
    with work_database(site.work) as connection:
        publish(connection, tmp_path / "probe.duckdb", "probe")
        assert steps[0] == "attached" and steps[-3:] == ["commented", "synced", "replaced"]
        assert len([step for step in steps if step.startswith("copied mart.")]) >= 10

        original = site.warehouse.read_bytes()
        stale = [
            site.warehouse.with_name(".w.duckdb.killed-run.tmp"),
            site.warehouse.with_name(".w.duckdb.killed-run.tmp.wal"),
        ]
        for n, failing in enumerate(steps):

            def fail_at(step: str, failing: str = failing) -> None:
                if step == failing:
                    raise Fault(step)

            for path in stale:
                path.write_bytes(b"left by a run killed while publishing")
            monkeypatch.setattr(assets.publish, "after_step", fail_at)
            run_id = f"run-{n}"
            record_run(connection, run_id, D1, "running")
            with pytest.raises(Fault):
                publish(connection, site.warehouse, run_id)
            assert site.staging_files() == [], failing
            assert connection.execute(
                "SELECT count(*) FROM duckdb_databases() WHERE database_name = 'published'"
            ).fetchall() == [(0,)]
            if failing != "replaced":
                assert site.warehouse.read_bytes() == original, failing
        # The fault after the rename: the new file is in place, whole.
        assert published(
            site.warehouse, "SELECT status FROM meta.runs WHERE run_id = ?", f"run-{len(steps) - 1}"
        ) == [("success",)]

        monkeypatch.setattr(assets.publish, "after_step", lambda step: None)
        record_run(connection, "clean", D1, "running")
        counts, _ = publish(connection, site.warehouse, "clean")
        # The staged copy says success; the working database still says running (the
        # asset marks it success once publish() returned).
        assert connection.execute(
            "SELECT status FROM meta.runs WHERE run_id = 'clean'"
        ).fetchall() == [("running",)]
    assert published(
        site.warehouse,
        "SELECT status, finished_at IS NOT NULL FROM meta.runs WHERE run_id = 'clean'",
    ) == [("success", True)]
    for table in mart_tables(site.warehouse):
        assert published(site.warehouse, f"SELECT count(*) FROM mart.{table}") == [
            (counts[f"mart.{table}"],)
        ]
    assert site.staging_files() == []


def test_a_wal_left_beside_the_published_file_does_not_break_the_new_one(site):
    """Someone opened the published file read-write, wrote to it and was killed: the WAL
    left beside it belongs to the old file, and DuckDB refuses to open any other file
    with it ("WAL does not match database file")."""
    crash = (
        "import duckdb, os, signal, sys\n"
        "connection = duckdb.connect(sys.argv[1])\n"
        "connection.execute(\"SET checkpoint_threshold = '1GB'\")\n"
        "connection.execute('CREATE TABLE main.scratch AS SELECT 1 AS x')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(site.warehouse)], check=False)
    wal = site.warehouse.with_name("w.duckdb.wal")
    assert wal.exists()
    with work_database(site.work) as connection:
        publish(connection, site.warehouse, "after-a-crash")
    assert not wal.exists()
    assert published(site.warehouse, "SELECT max(as_of_date) FROM mart.account_health") == [(D1,)]


# Runs `cshealth run` with assets.publish.after_step stopping the process at one step
# (it writes the marker file, then sleeps) so that the test can kill it there.
STOPPED_RUN = r"""
import os, sys, time
from pathlib import Path
import assets.publish
from pipelines.cli import main
from pipelines.runner import KILLED

step, marker = sys.argv[1], Path(sys.argv[2])

def stop_at(reached):
    if reached == step:
        marker.write_text(str(os.getpid()))
        time.sleep(600)

assets.publish.after_step = stop_at
sys.exit(main(sys.argv[3:]))
"""


def kill_run_at(site: Site, step: str, as_of: dt.date, tmp_path: Path) -> None:
    """`cshealth run` in a subprocess, killed with SIGKILL once it reached `step`."""
    marker, log = tmp_path / "stopped", tmp_path / "stopped.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                STOPPED_RUN,
                step,
                str(marker),
                "run",
                "--extracts",
                str(site.extracts),
                "--warehouse",
                str(site.warehouse),
                "--as-of",
                as_of.isoformat(),
            ],
            cwd=REPO,
            stdout=output,
            stderr=output,
        )
    deadline = time.monotonic() + 300
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended before {step}: {log.read_text()}")
        assert time.monotonic() < deadline, f"the run never reached {step}"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.parametrize(
    ("step", "then_a_failing_run"), [("copied mart.health_measures", True), ("synced", False)]
)
def test_a_run_killed_while_publishing_changes_nothing_and_the_next_runs_clean_up(
    site, tmp_path, monkeypatch, capsys, step, then_a_failing_run
):
    """SIGKILL half-way through the copy (the staging file and its WAL on disk) or just
    before the rename (the staging file complete): the published file is byte for byte
    the same. The next run deletes the leftovers, even when it fails itself; a run
    after it publishes."""
    original = site.warehouse.read_bytes()
    kill_run_at(site, step, D2, tmp_path)
    assert site.warehouse.read_bytes() == original
    left = site.staging_files()
    killed = left[0].removeprefix(".w.duckdb.").removesuffix(".tmp")
    assert left[0] == f".w.duckdb.{killed}.tmp"
    wal = [] if step == "synced" else [f".w.duckdb.{killed}.tmp.wal"]
    assert left == [f".w.duckdb.{killed}.tmp", *wal]

    def fail_before_rename(reached: str) -> None:
        if reached == "synced":
            raise Fault("disk on fire")

    if then_a_failing_run:
        monkeypatch.setattr(assets.publish, "after_step", fail_before_rename)
        assert site.run(D2) == 1
        err = capsys.readouterr().err
        assert "step publish__warehouse failed: test_publish.Fault: disk on fire" in err
        assert "Traceback" not in err
        assert site.warehouse.read_bytes() == original
        assert site.staging_files() == []  # its own staging file and the killed run's
        monkeypatch.setattr(assets.publish, "after_step", lambda reached: None)

    assert site.run(D2) == 0
    assert site.staging_files() == []
    assert published(site.warehouse, "SELECT max(as_of_date) FROM mart.account_health") == [(D2,)]
    runs = dict(
        published(
            site.warehouse,
            "SELECT status, count(*) FROM meta.runs WHERE as_of_date = ? GROUP BY ALL",
            D2,
        )
    )
    # The killed run never published: the next run recorded it as failed.
    assert runs == {"failed": 2 if then_a_failing_run else 1, "success": 1}
    assert published(
        site.warehouse, "SELECT status, message FROM meta.runs WHERE run_id = ?", killed
    ) == [("failed", KILLED)]


def test_a_run_killed_with_sigkill_does_not_block_the_next_one(site, tmp_path, monkeypatch):
    """The killed run keeps its slot of the duckdb_writer pool (limit 1); the next
    `cshealth run` releases it instead of waiting for it for ever."""
    from dagster._core.execution.plan.instance_concurrency_context import (
        InstanceConcurrencyContext,
    )

    kill_run_at(site, "attached", D2, tmp_path)
    claim = InstanceConcurrencyContext.claim

    def claim_or_give_up(self, *args, **kwargs) -> bool:
        """Fail the run where Dagster would wait for the slot for ever."""
        if not claim(self, *args, **kwargs):
            raise RuntimeError("waiting for a slot of the duckdb_writer pool")
        return True

    monkeypatch.setattr(InstanceConcurrencyContext, "claim", claim_or_give_up)
    assert site.run(D2) == 0


# -- 3. the same date twice ---------------------------------------------------------------


def test_the_same_date_run_twice_publishes_the_same_marts_without_duplicates(site):
    def marts() -> dict[str, list]:
        return {
            table: published(site.warehouse, f"SELECT * FROM mart.{table} ORDER BY ALL")
            for table in mart_tables(site.warehouse)
        }

    first = marts()
    assert len(first) >= 10 and first["account_health"]
    assert site.run(D1) == 0
    assert marts() == first
    for table in first:
        assert published(
            site.warehouse,
            f"SELECT count(*) - (SELECT count(*) FROM "
            f"(SELECT DISTINCT * FROM mart.{table})) "
            f"FROM mart.{table}",
        ) == [(0,)], table
    assert published(
        site.warehouse,
        "SELECT count(*), count(DISTINCT (account_id, as_of_date)) FROM mart.account_health",
    )[0] == (len(first["account_health"]), len(first["account_health"]))
    assert published(site.warehouse, "SELECT status FROM meta.runs ORDER BY started_at") == [
        ("success",),
        ("success",),
    ]


# -- 4. the nightly publish copies the published file and adds the new date ---------------


def published_tables(path: Path) -> dict[str, list]:
    """Every published table's rows, sorted; of meta.runs only run id and status (a
    staged copy's end time is the publish's, the working database's a moment later)."""
    names = published(
        path,
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE schema_name IN ('mart', 'quarantine', 'meta') ORDER BY 1",
    )
    return {
        name: published(
            path,
            f"SELECT {'run_id, status' if name == 'meta.runs' else '*'} FROM {name} ORDER BY ALL",
        )
        for (name,) in names
    }


def published_catalog(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return assets.publish.catalog(
            connection, connection.execute("SELECT current_database()").fetchone()[0]
        )


@pytest.fixture
def publish_modes(monkeypatch) -> list[bool]:
    """Whether each publish of the test started from a copy of the published file."""
    modes: list[bool] = []
    attach = assets.publish.attach_copy_of_last_publish

    def recording(*args):
        modes.append(attach(*args))
        return modes[-1]

    monkeypatch.setattr(assets.publish, "attach_copy_of_last_publish", recording)
    return modes


def full_publish(site: Site, tmp_path: Path) -> Path:
    """The working database published from nothing, beside the test's files."""
    full = tmp_path / "full.duckdb"
    with work_database(site.work) as connection:
        connection.execute("DELETE FROM main.last_publish")
        assert publish(connection, full, "full-check")[1] == "full"
    return full


def test_a_publish_on_top_of_the_last_one_equals_a_publish_from_nothing(
    site, tmp_path, publish_modes
):
    """D2 on top of D1 copies the published file and adds D2; a date changed since the
    last publish (by a run that failed before publishing) is published with the next
    run; the file ends equal, table for table and COMMENT for COMMENT, to one written
    from nothing."""
    assert site.run(D2) == 0
    with work_database(site.work) as connection:
        # What a run of D1 leaves when it fails after scoring: new scores, a mark.
        connection.execute(
            "UPDATE mart.account_health SET health_score = 1.5 WHERE as_of_date = ?", [D1]
        )
        connection.execute(
            "INSERT OR IGNORE INTO main.unpublished_dates VALUES ('mart.account_health', ?)",
            [D1],
        )
    assert site.run(D2) == 0
    assert publish_modes == [True, True]
    assert published(
        site.warehouse,
        "SELECT DISTINCT health_score FROM mart.account_health WHERE as_of_date = ?",
        D1,
    ) == [(1.5,)]
    full = full_publish(site, tmp_path)
    incremental = published_tables(site.warehouse)
    assert incremental == published_tables(full)
    assert {
        date
        for (date,) in published(
            site.warehouse, "SELECT DISTINCT as_of_date FROM mart.health_measures"
        )
    } == {D1, D2}
    assert published_catalog(site.warehouse) == published_catalog(full)
    with work_database(site.work) as connection:
        assert connection.execute("SELECT * FROM main.unpublished_dates").fetchall() == []


def test_an_older_date_run_after_a_newer_one_republishes_the_deltas_it_changed(
    site, tmp_path, publish_modes
):
    """Running D1 - 7 after D1 gives D1 its 7-day deltas in the working database
    (sql/health_history.sql): the publish on top of the last one carries them too."""
    week_before = D1 - dt.timedelta(days=7)
    deltas = "SELECT count(score_delta_7d) FROM mart.account_health WHERE as_of_date = ?"
    assert published(site.warehouse, deltas, D1) == [(0,)]
    assert site.run(week_before) == 0
    assert publish_modes == [True]
    assert published(site.warehouse, deltas, D1)[0][0] > 0
    assert published_tables(site.warehouse) == published_tables(full_publish(site, tmp_path))


def test_a_publish_keeps_history_days_of_health_measures_on_top_of_the_last_one(
    site, publish_modes
):
    assert site.run(D2) == 0
    with work_database(site.work) as connection:
        run_id = connection.execute("SELECT run_id FROM main.last_publish").fetchone()[0]
        counts, mode = publish(connection, site.warehouse, "trim", history_days=1)
    assert mode == "incremental" and run_id
    assert published(site.warehouse, "SELECT DISTINCT as_of_date FROM mart.health_measures") == [
        (D2,)
    ]
    assert counts["mart.health_measures"] > 0
    assert published(
        site.warehouse, "SELECT count(DISTINCT as_of_date) FROM mart.account_health"
    ) == [(2,)]


@pytest.mark.parametrize("change", ["garbage", "deleted", "new_table", "other_run"])
def test_a_published_file_that_is_not_the_last_publish_is_written_from_nothing(
    site, tmp_path, publish_modes, change
):
    """The published file replaced by something else, deleted, published by a run this
    working database did not record (killed just after the rename), or a working
    database with a new mart table: the publish starts from nothing and is right."""
    if change == "garbage":
        site.warehouse.write_bytes(b"not a database")
    elif change == "deleted":
        site.warehouse.unlink()
    with work_database(site.work) as connection:
        if change == "new_table":
            connection.execute("CREATE TABLE mart.notes AS SELECT 'a note' AS note")
            connection.execute("COMMENT ON COLUMN mart.notes.note IS 'A new column'")
        if change == "other_run":
            connection.execute("UPDATE main.last_publish SET run_id = 'a-run-never-seen'")
    assert site.run(D2) == 0
    assert publish_modes == [False]
    assert published_tables(site.warehouse) == published_tables(full_publish(site, tmp_path))
    if change == "new_table":
        assert published(
            site.warehouse,
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'notes'",
        ) == [("A new column",)]
    assert site.staging_files() == []


# -- 5. documented, and no personal data --------------------------------------------------


def personal_values(extracts: Path) -> pl.DataFrame:
    """Every personal value the extracts hold (contacts' names and e-mails, survey
    comments), read from the CSV files the demo book wrote."""
    values = []
    for dataset in ("crm_contacts", "surveys"):
        fields = DATASETS[dataset].personal
        for file in sorted((extracts / dataset).glob("*/*.csv")):
            frame = pl.read_csv(file, infer_schema=False)
            values += [value for field in fields for value in frame[field].drop_nulls()]
    return pl.DataFrame({"value": sorted(set(values))})


def test_every_mart_table_and_column_is_documented(baseline):
    warehouse = baseline / "w.duckdb"
    tables = published(
        warehouse,
        "SELECT schema_name, table_name, comment FROM duckdb_tables()"
        " WHERE schema_name IN ('mart', 'quarantine', 'meta')",
    )
    assert len([t for t in tables if t[0] == "mart"]) >= 10
    assert [t[:2] for t in tables if not (t[2] or "").strip()] == []
    columns = published(
        warehouse,
        "SELECT schema_name, table_name, column_name, comment "
        "FROM duckdb_columns() "
        "WHERE schema_name IN ('mart', 'quarantine', 'meta')",
    )
    assert len(columns) >= 100
    assert [c[:3] for c in columns if not (c[3] or "").strip()] == []


def test_no_personal_data_is_published(baseline):
    """Every column of every published table, as text, holds none of the personal values
    of the extracts; quarantined records carry them redacted; no mart column is named
    like a personal field."""
    personal = personal_values(baseline / "extracts")
    for canary in (
        "Grace Canaryfield",
        "alan.canarysmith@example.org",
        "Canary says: call Alan at home on 555-0100",
    ):
        assert canary in personal["value"].to_list()
    assert personal.height > 40
    connection = duckdb.connect()
    connection.execute(f"ATTACH '{baseline / 'w.duckdb'}' AS w (READ_ONLY)")
    connection.register("personal", personal)
    columns = connection.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = 'w' ORDER BY ALL"
    ).fetchall()
    text_columns = [c for c in columns if "VARCHAR" in c[3] or c[3] == "JSON"]
    assert ("mart", "risk_register", "recommended_actions", "VARCHAR[]") in text_columns
    assert ("quarantine", "rejected_rows", "record", "VARCHAR") in text_columns
    found = []
    for schema, table, column, _ in columns:
        found += connection.execute(
            f"SELECT DISTINCT ?, p.value FROM w.{schema}.{table} t, personal p "
            f'WHERE contains(CAST(t."{column}" AS VARCHAR), p.value)',
            [f"{schema}.{table}.{column}"],
        ).fetchall()
    assert found == []
    # The rejected canaries are there, redacted: a contact (role) and a survey (score).
    redacted = connection.execute(
        "SELECT dataset, record->>'full_name', record->>'email', record->>'comment' "
        "FROM w.quarantine.rejected_rows WHERE record LIKE '%CANARY%' ORDER BY 1"
    ).fetchall()
    assert redacted == [
        ("crm_contacts", "<redacted>", "<redacted>", None),
        ("surveys", None, None, "<redacted>"),
    ]
    assert [
        c for c in columns if c[0] == "mart" and any(field in c[2].lower() for field in PERSONAL)
    ] == []
    assert PERSONAL == ["comment", "email", "full_name"]
