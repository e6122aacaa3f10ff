"""End-to-end benchmark: `cshealth run` on books of 1,000, 5,000 and 20,000 accounts.

    .venv/bin/python benchmarks/e2e.py [--sizes 1000 5000 20000] [--days 120]
                                       [--backfill-days 30] [--json PATH]
                                       [--phases backfill nightly compare cold]
                                       [--nightly-repeats N] [--timeout SECONDS]

Each book is generated once with the demo generator (`make_book` of benchmarks/ingest.py,
last day END, about 2.4k product events per account) into benchmarks/.cache/ (git-ignored)
and reused; generating is not timed. For each size, with D = END, every timed phase is one
child process, and its wall time, CPU time (user + sys, every thread) and peak RSS are its
own (os.wait4 on that child):
  backfill    - `cshealth run --from D-30 --to D-1` on an empty warehouse: one process,
                one Dagster run per as-of date (the first loads every delivery up to D-30);
  nightly     - `cshealth run --as-of D` on top of the backfilled warehouse: one new day;
  compare     - on the nightly warehouse once that run has finished:
                  steps       - every step's duration in the nightly run (and each backfill
                                run's), from the Dagster event log (STEP_START to
                                STEP_SUCCESS/STEP_FAILURE), read in a child process;
                  reference   - the hand-written REFERENCE query of benchmarks/scoring.py,
                                which recomputes the usage measures from core.product_events,
                                against the working database (<warehouse>.work.duckdb),
                                opened as the pipeline opens it; its values are compared
                                with mart.health_measures (untimed);
                  single_pass - one query over raw.product_events for the 30 days ending on
                                D that reads account_id, user_id, event_name and occurred_at
                                and aggregates trivially (the floor for the usage measures);
  cold        - `cshealth run --as-of D` on a fresh, empty warehouse.
--nightly-repeats N runs nightly (and compare after it) N times, each on the backfilled
warehouse as the backfill left it (a copy kept beside it, put back before each repeat):
one nightly step is one sample on a machine whose speed wanders, N give a median.
Work folders: benchmarks/.cache/e2e/<accounts>/{nightly,cold}/, each with its own
DAGSTER_HOME (a copy of dagster.yaml, storage under it). A failed `cshealth run` is shown
(its stderr's last lines) and marked failed in the JSON; the next phase runs anyway.
--timeout kills a `cshealth run` that takes longer (marked timed out). Nothing is asserted:
the figures are printed beside their targets (the time targets are for 20,000 accounts)
and written as JSON (default benchmarks/.cache/e2e/results.json, rewritten after every
phase). RSS is in GiB (the `GB` of the table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `benchmarks` is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.ingest import CACHE, END, make_book  # noqa: E402

WORK = CACHE / "e2e"
PHASES = ("backfill", "nightly", "compare", "cold")
TARGET_SECONDS = {"nightly": 30, "cold": 90, "backfill": 600}  # at TARGET_ACCOUNTS
TARGET_ACCOUNTS = 20_000
TARGET_RSS_GB = 4  # every pipeline phase, every size
TARGET_GROWTH = 4.5  # nightly wall time, 5,000 -> 20,000 accounts
TARGET_VS_REFERENCE = 1.0  # the scoring step is faster than the reference query
TARGET_VS_SINGLE_PASS = 3.0  # and within 3x of a single pass over W(30)
STDERR_LINES = 15

# The columns the usage measures read, for the 30 days ending on D, from the raw events
# (a view over one Parquet file per delivery); max() of the ids makes DuckDB read them.
SINGLE_PASS = """
SELECT count(*) AS events, sum(length(event_name)) AS name_chars,
       max(account_id) AS max_account, max(user_id) AS max_user
FROM raw.product_events
WHERE occurred_at >= CAST(DATE '{w30_first}' AS TIMESTAMP)
  AND occurred_at < CAST(DATE '{after_d}' AS TIMESTAMP)
"""


# --- child phases: run as `e2e.py --phase NAME`, print one line of JSON --------------------


def timed(work) -> tuple[float, float, object]:
    """Wall and CPU seconds (user + sys, every thread of this process) of `work()`."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = work()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return round(wall, 3), round(cpu, 3), result


def reference_phase(database: Path, day: dt.date) -> dict:
    """The REFERENCE query on a fresh connection with the pipeline's session settings
    (connecting is not timed); then its agreement with mart.health_measures."""
    import sql
    from benchmarks.scoring import agreement, connect, reference_sql
    from pipelines.settings import load_settings

    connection = connect(database, load_settings())
    query = reference_sql(day)
    wall, cpu, _ = timed(lambda: connection.execute(query))
    accounts = sql.scalar(connection, "SELECT count(*) FROM reference")
    found = agreement(connection, day)
    found.pop("accounts", None)
    connection.close()
    return {"query_s": wall, "query_cpu_s": cpu, "accounts": accounts, "agreement": found}


def single_pass_phase(database: Path, day: dt.date) -> dict:
    """SINGLE_PASS over W(30) on a fresh connection (connecting is not timed)."""
    import sql
    from benchmarks.scoring import connect
    from pipelines.settings import load_settings

    connection = connect(database, load_settings())
    query = SINGLE_PASS.format(
        w30_first=day - dt.timedelta(days=29), after_d=day + dt.timedelta(days=1)
    )
    wall, cpu, row = timed(lambda: connection.execute(query).fetchone())
    # Not timed: how far the daily rollup compresses W(30), which bounds what reading it
    # can save over the raw events.
    user_days = sql.scalar(
        connection,
        "SELECT count(*) FROM core.product_user_days WHERE day BETWEEN ? AND ?",
        [day - dt.timedelta(days=29), day],
    )
    connection.close()
    return {"query_s": wall, "query_cpu_s": cpu, "events": row[0], "rollup_user_days": user_days}


def events_phase() -> dict:
    """Every run of the instance at $DAGSTER_HOME: its partition, status, duration and each
    step's duration, from the event log's timestamps."""
    from dagster import DagsterEventType, DagsterInstance

    wanted = {
        DagsterEventType.RUN_START,
        DagsterEventType.RUN_SUCCESS,
        DagsterEventType.RUN_FAILURE,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
    }
    runs = []
    with DagsterInstance.get() as instance:
        for record in instance.get_run_records():
            run = record.dagster_run
            started, ended, steps = None, None, {}
            for entry in instance.all_logs(run.run_id, of_type=wanted):
                kind = entry.dagster_event.event_type
                if kind == DagsterEventType.RUN_START:
                    started = entry.timestamp
                elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
                    ended = entry.timestamp
                elif kind == DagsterEventType.STEP_START:
                    steps[entry.step_key] = {"start": entry.timestamp}
                else:
                    step = steps.setdefault(entry.step_key, {"start": None})
                    step["end"] = entry.timestamp
                    step["ok"] = kind == DagsterEventType.STEP_SUCCESS
            ordered = sorted(steps.items(), key=lambda item: item[1]["start"] or 0)
            runs.append(
                {
                    "run_id": run.run_id,
                    "partition": run.tags.get("dagster/partition"),
                    "status": run.status.value,
                    "run_s": round(ended - started, 3) if started and ended else None,
                    "steps": {
                        key: {
                            "seconds": round(step["end"] - step["start"], 3)
                            if step.get("end") and step["start"]
                            else None,
                            "ok": step.get("ok", False),
                        }
                        for key, step in ordered
                    },
                }
            )
    runs.sort(key=lambda run: (run["partition"] or "", run["run_id"]))
    return {"runs": runs}


# --- the parent: child processes measured with os.wait4 -----------------------------------


def measure(command: list[str], env: dict, logs: Path, name: str, timeout: float | None) -> dict:
    """Run `command` as a child process; its wall time, CPU time and peak RSS (its own
    resource usage, from os.wait4). stdout and stderr go to files under `logs`."""
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{name}.stdout", logs / f"{name}.stderr"
    killed = threading.Event()
    with out_path.open("w") as out, err_path.open("w") as err:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=REPO_ROOT)

        def kill() -> None:
            killed.set()
            process.kill()

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if timer:
            timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    figures = {
        "ok": process.returncode == 0 and not killed.is_set(),
        "returncode": process.returncode,
        "timed_out": killed.is_set(),
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
        "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 3),  # ru_maxrss is in KiB
        "load_1min_before": round(load, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "command": command,
        "stdout": str(out_path),
        "stderr": str(err_path),
    }
    if not figures["ok"]:
        why = "timed out" if killed.is_set() else f"exit code {process.returncode}"
        print(f"  ! {name} failed ({why}) after {wall:.1f} s; last lines of {err_path}:")
        lines = err_path.read_text(errors="replace").splitlines()[-STDERR_LINES:]
        for line in lines or ["(empty)"]:
            print(f"      {line}")
    return figures


def json_phase(
    name: str, options: list[str], env: dict, logs: Path, log_name: str | None = None
) -> dict:
    """A child phase of this script: its process figures and the JSON it printed."""
    figures = measure(
        [sys.executable, str(Path(__file__).resolve()), "--phase", name, *options],
        env,
        logs,
        log_name or name,
        None,
    )
    if figures["ok"]:
        lines = Path(figures["stdout"]).read_text().strip().splitlines()
        figures["result"] = json.loads(lines[-1])
    return figures


class Warehouse:
    """One warehouse folder: the published file, its working database and raw lake
    beside it, a DAGSTER_HOME, logs; and the environment of a `cshealth run` on it."""

    def __init__(self, folder: Path, book: Path):
        from pipelines.resources import work_db_for

        self.folder, self.book = folder, book
        self.published = folder / "warehouse.duckdb"
        self.work_db = work_db_for(self.published)
        self.dagster_home = folder / "dagster"
        self.logs = folder / "logs"

    def reset(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        shutil.rmtree(self.kept, ignore_errors=True)
        self.dagster_home.mkdir(parents=True)
        shutil.copy(REPO_ROOT / "dagster.yaml", self.dagster_home / "dagster.yaml")

    @property
    def kept(self) -> Path:
        return self.folder.with_name(self.folder.name + ".kept")

    def keep(self) -> None:
        """Copy everything but the logs aside, to be put back by `restore`. The copy
        goes back to the same path: the databases name their files by absolute path."""
        shutil.rmtree(self.kept, ignore_errors=True)
        shutil.copytree(self.folder, self.kept, ignore=shutil.ignore_patterns("logs"))
        os.sync()  # the copy's gigabytes written out now, not during the next run

    def restore(self) -> None:
        for path in self.folder.iterdir():
            if path == self.logs:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        shutil.copytree(self.kept, self.folder, dirs_exist_ok=True)
        os.sync()

    def env(self) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("CSHEALTH_") and key != "DAGSTER_HOME"
        }
        env.update(
            CSHEALTH_EXTRACTS_DIR=str(self.book),
            CSHEALTH_WAREHOUSE=str(self.published),
            DAGSTER_HOME=str(self.dagster_home),
            CSHEALTH_DAGSTER_STORAGE=str(self.dagster_home / "storage"),
        )
        return env

    def run(self, name: str, dates: list[str], timeout: float | None) -> dict:
        cshealth = Path(sys.executable).with_name("cshealth")
        command = [
            str(cshealth if cshealth.exists() else shutil.which("cshealth")),
            "run",
            *dates,
            "--extracts",
            str(self.book),
            "--warehouse",
            str(self.published),
        ]
        return measure(command, self.env(), self.logs, name, timeout)

    def runs(self) -> list[dict]:
        """Every Dagster run of this folder, with its steps (see events_phase)."""
        figures = json_phase("events", [], self.env(), self.logs)
        return figures["result"]["runs"] if figures["ok"] else []


def step_breakdown(run: dict) -> dict:
    steps = {key: step["seconds"] for key, step in run["steps"].items()}
    in_steps = sum(seconds or 0 for seconds in steps.values())
    return {
        "run_id": run["run_id"],
        "partition": run["partition"],
        "status": run["status"],
        "run_s": run["run_s"],
        "steps_s": round(in_steps, 3),
        "steps": steps,
    }


def scoring_seconds(steps: dict) -> tuple[str | None, float | None]:
    """The scoring step: the one whose key contains 'health'."""
    keys = [key for key in steps if "health" in key]
    if not keys:
        return None, None
    return "+".join(keys), round(sum(steps[key] or 0 for key in keys), 3)


def backfill_summary(backfill_runs: list[dict]) -> dict:
    seconds = [run["run_s"] for run in backfill_runs if run["run_s"] is not None]
    return {
        "runs": len(backfill_runs),
        "failed": sum(run["status"] != "SUCCESS" for run in backfill_runs),
        "first_run_s": backfill_runs[0]["run_s"],
        "median_later_run_s": statistics.median(seconds[1:]) if seconds[1:] else None,
        "max_later_run_s": max(seconds[1:]) if seconds[1:] else None,
        "run_s": {run["partition"]: run["run_s"] for run in backfill_runs},
        "later_scoring_s": [
            scoring_seconds(step_breakdown(run)["steps"])[1] for run in backfill_runs[1:]
        ],
        "first_run_steps": step_breakdown(backfill_runs[0])["steps"],
        "last_run_steps": step_breakdown(backfill_runs[-1])["steps"],
    }


def bench_size(accounts: int, args: argparse.Namespace, results: dict, save) -> None:
    day = END
    first = day - dt.timedelta(days=args.backfill_days)
    entry = results["sizes"].setdefault(str(accounts), {"accounts": accounts, "phases": {}})
    phases = entry["phases"]

    started = time.perf_counter()
    cached = (CACHE / f"book-{accounts}-{args.days}" / ".complete").exists()
    book = make_book(accounts, args.days)
    counts = json.loads((book / ".complete").read_text())
    entry["book"] = {
        "path": str(book),
        "cached": cached,
        "seconds": round(time.perf_counter() - started, 1),
        "product_events": counts.get("product_events"),
        "rows": counts,
    }
    print(
        f"\n== {accounts:,} accounts: book {book.name} "
        f"({'cached' if cached else 'generated'} in {entry['book']['seconds']:.1f} s, "
        f"{counts.get('product_events', 0):,} product events), D = {day}"
    )
    save()

    nightly = Warehouse(WORK / str(accounts) / "nightly", book)
    if "backfill" in args.phases:
        nightly.reset()
        print(f"  backfill {first} .. {day - dt.timedelta(days=1)} on an empty warehouse ...")
        figures = nightly.run(
            "backfill",
            ["--from", str(first), "--to", str(day - dt.timedelta(days=1))],
            args.timeout,
        )
        figures["days"] = args.backfill_days
        figures["seconds_per_day"] = round(figures["wall_s"] / args.backfill_days, 2)
        phases["backfill"] = figures
        save()
        if args.nightly_repeats > 1:
            nightly.keep()
    repeats = args.nightly_repeats if "nightly" in args.phases else 0
    entry["nightly_repeats"] = []
    for repeat in range(1, repeats + 1):
        suffix = f"-{repeat}" if repeats > 1 else ""
        if repeat > 1:
            nightly.restore()
        print(f"  nightly {day} on top{f' ({repeat} of {repeats})' if repeats > 1 else ''} ...")
        figures = nightly.run(f"nightly{suffix}", ["--as-of", str(day)], args.timeout)
        sample = {"wall_s": figures["wall_s"], "peak_rss_gb": figures["peak_rss_gb"]}
        if repeat == 1:
            phases["nightly"] = figures
        if "compare" in args.phases:
            print("  steps, reference query and single pass on the nightly warehouse ...")
            runs = nightly.runs()
            by_day = [run for run in runs if run["partition"] == str(day)]
            steps = step_breakdown(by_day[-1]) if by_day else {}
            sample["scoring_s"] = scoring_seconds(steps.get("steps", {}))[1]
            options = ["--database", str(nightly.work_db), "--as-of", str(day)]
            compared = {
                name: json_phase(name, options, nightly.env(), nightly.logs, name + suffix)
                for name in ("reference", "single_pass")
            }
            for name, found in compared.items():
                sample[f"{name}_s"] = found.get("result", {}).get("query_s")
            if repeat == 1:
                entry["nightly_steps"] = steps
                phases.update(compared)
                backfill_runs = [run for run in runs if run["partition"] != str(day)]
                if backfill_runs:
                    entry["backfill_runs"] = backfill_summary(backfill_runs)
        entry["nightly_repeats"].append(sample)
        save()
    if "cold" in args.phases:
        cold = Warehouse(WORK / str(accounts) / "cold", book)
        cold.reset()
        print(f"  cold {day} on a fresh, empty warehouse ...")
        phases["cold"] = cold.run("cold", ["--as-of", str(day)], args.timeout)
        runs = cold.runs()
        if runs:
            entry["cold_steps"] = step_breakdown(runs[-1])
        save()

    entry["comparison"] = comparison(entry)
    save()


def comparison(entry: dict) -> dict:
    """The nightly scoring step against the reference query and the single pass."""
    steps = entry.get("nightly_steps", {}).get("steps", {})
    key, scoring = scoring_seconds(steps)
    reference = entry["phases"].get("reference", {}).get("result", {})
    single = entry["phases"].get("single_pass", {}).get("result", {})
    found = {"scoring_step": key, "scoring_s": scoring}
    if reference:
        found["reference_s"] = reference["query_s"]
        found["reference_accounts"] = reference["accounts"]
        found["reference_agreement"] = reference["agreement"]
    if single:
        found["single_pass_s"] = single["query_s"]
        found["single_pass_events"] = single["events"]
        found["rollup_user_days"] = single.get("rollup_user_days")
    if scoring and reference.get("query_s"):
        found["scoring_vs_reference"] = round(scoring / reference["query_s"], 2)
    if scoring and single.get("query_s"):
        found["scoring_vs_single_pass"] = round(scoring / single["query_s"], 2)
    # One nightly step is one sample; the backfill's later dates give thirty of nearly the
    # same work, a steadier figure than one run on a machine whose speed wanders.
    later = [
        seconds for seconds in entry.get("backfill_runs", {}).get("later_scoring_s", []) if seconds
    ]
    if later:
        found["backfill_scoring_s"] = {
            "runs": len(later),
            "median": statistics.median(later),
            "min": min(later),
            "max": max(later),
        }
        if single.get("query_s"):
            found["backfill_scoring_median_vs_single_pass"] = round(
                statistics.median(later) / single["query_s"], 2
            )
    # Each repeated nightly run against its own single pass and reference query.
    samples = [
        sample
        for sample in entry.get("nightly_repeats", [])
        if sample.get("scoring_s") and sample.get("single_pass_s") and sample.get("reference_s")
    ]
    if len(samples) > 1:
        vs_single = [sample["scoring_s"] / sample["single_pass_s"] for sample in samples]
        vs_reference = [sample["scoring_s"] / sample["reference_s"] for sample in samples]
        found["nightly_repeats"] = {
            "runs": len(samples),
            "scoring_s": [sample["scoring_s"] for sample in samples],
            "single_pass_s": [sample["single_pass_s"] for sample in samples],
            "nightly_wall_s": [sample["wall_s"] for sample in samples],
            "scoring_vs_single_pass": [round(ratio, 2) for ratio in vs_single],
            "median_scoring_vs_single_pass": round(statistics.median(vs_single), 2),
            "max_scoring_vs_single_pass": round(max(vs_single), 2),
            "median_scoring_vs_reference": round(statistics.median(vs_reference), 2),
            "max_scoring_vs_reference": round(max(vs_reference), 2),
        }
    return found


# --- printing -----------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


def print_table(results: dict) -> None:
    print(
        f"\nEvery phase is one process (os.wait4); time targets are for "
        f"{TARGET_ACCOUNTS:,} accounts, RSS < {TARGET_RSS_GB} GB for every pipeline phase."
    )
    header = f"{'accounts':>8}  {'phase':<12} {'wall s':>8} {'CPU s':>8} {'peak RSS GB':>11}"
    print(f"{header}  {'target':<20} met")
    for entry in results["sizes"].values():
        accounts = entry["accounts"]
        for phase in ("backfill", "nightly", "cold", "reference", "single_pass"):
            figures = entry["phases"].get(phase)
            if not figures:
                continue
            pipeline = phase in TARGET_SECONDS
            targets, met = [], None
            if pipeline and accounts == TARGET_ACCOUNTS:
                targets.append(f"<= {TARGET_SECONDS[phase]} s")
                met = figures["wall_s"] <= TARGET_SECONDS[phase]
            if pipeline:
                targets.append(f"< {TARGET_RSS_GB} GB")
                rss_met = figures["peak_rss_gb"] < TARGET_RSS_GB
                met = rss_met if met is None else (met and rss_met)
            if not figures["ok"]:
                met = False
                targets.append("TIMED OUT" if figures["timed_out"] else "FAILED")
            print(
                f"{accounts:>8,}  {phase:<12} {figures['wall_s']:>8.1f} {figures['cpu_s']:>8.1f} "
                f"{figures['peak_rss_gb']:>11.2f}  {', '.join(targets):<20} {verdict(met)}"
            )
        backfill = entry["phases"].get("backfill")
        if backfill and backfill["ok"]:
            runs = entry.get("backfill_runs", {})
            detail = ""
            if runs.get("first_run_s") is not None and runs.get("median_later_run_s"):
                detail = (
                    f"; Dagster runs: first (loads everything up to its date) "
                    f"{runs['first_run_s']:.1f} s, later median {runs['median_later_run_s']:.1f}"
                    f" s, max {runs['max_later_run_s']:.1f} s"
                )
            print(
                f"{'':>8}  backfill: {backfill['days']} days, "
                f"{backfill['seconds_per_day']:.1f} s per day{detail}"
            )


def print_steps(results: dict) -> None:
    for entry in results["sizes"].values():
        nightly, cold = entry.get("nightly_steps"), entry.get("cold_steps")
        if not nightly and not cold:
            continue
        keys = list((nightly or {}).get("steps", {}))
        keys += [key for key in (cold or {}).get("steps", {}) if key not in keys]
        print(f"\nsteps of the runs for {END}, {entry['accounts']:,} accounts (event log, s):")
        print(f"  {'step':<36} {'nightly':>8} {'cold':>8}")

        def cell(run, key):
            seconds = (run or {}).get("steps", {}).get(key)
            return f"{seconds:>8.2f}" if seconds is not None else f"{'':>8}"

        for key in keys:
            print(f"  {key:<36} {cell(nightly, key)} {cell(cold, key)}")
        for label, field in (("sum of steps", "steps_s"), ("run (RUN_START..end)", "run_s")):
            values = [(run or {}).get(field) for run in (nightly, cold)]
            print(
                f"  {label:<36} "
                + " ".join(f"{v:>8.2f}" if v is not None else f"{'':>8}" for v in values)
            )
        process = [entry["phases"].get(name, {}).get("wall_s") for name in ("nightly", "cold")]
        print(
            f"  {'process wall (imports, setup, run)':<36} "
            + " ".join(f"{v:>8.2f}" if v is not None else f"{'':>8}" for v in process)
        )


def print_comparison(results: dict) -> None:
    if not any(entry.get("comparison", {}).get("scoring_s") for entry in results["sizes"].values()):
        return
    print(
        "\nnightly scoring step (event log) vs the reference query (scoring.py) and one pass "
        "over W(30) of raw.product_events, in-process query times:"
    )
    print(
        f"  {'accounts':>8} {'step':<14} {'scoring s':>9} {'reference s':>11} "
        f"{'single s':>8}  {'vs ref':>6} (< {TARGET_VS_REFERENCE:g})  "
        f"{'vs single':>9} (<= {TARGET_VS_SINGLE_PASS:g})  agreement"
    )
    for entry in results["sizes"].values():
        found = entry.get("comparison", {})
        if not found.get("scoring_s"):
            continue

        def number(key, width, found=found):
            value = found.get(key)
            return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"

        vs_ref, vs_single = found.get("scoring_vs_reference"), found.get("scoring_vs_single_pass")
        ref_met = None if vs_ref is None else vs_ref < TARGET_VS_REFERENCE
        single_met = None if vs_single is None else vs_single <= TARGET_VS_SINGLE_PASS
        differ = sum(m["differ"] for m in found.get("reference_agreement", {}).values())
        compared = sum(m["compared"] for m in found.get("reference_agreement", {}).values())
        print(
            f"  {entry['accounts']:>8,} {str(found.get('scoring_step')):<14} "
            f"{number('scoring_s', 9)} {number('reference_s', 11)} {number('single_pass_s', 8)}"
            f"  {number('scoring_vs_reference', 6)} {verdict(ref_met):<7} "
            f"{number('scoring_vs_single_pass', 9)} {verdict(single_met):<8} "
            f"{differ:,} of {compared:,} values differ"
        )
    for entry in results["sizes"].values():
        found = entry.get("comparison", {})
        later = found.get("backfill_scoring_s")
        if later:
            print(
                f"  {entry['accounts']:>8,}: the scoring step of the backfill's {later['runs']} "
                f"later runs: median {later['median']:.2f} s ({later['min']:.2f}-"
                f"{later['max']:.2f}), "
                f"{found.get('backfill_scoring_median_vs_single_pass', '-')}x the single pass"
            )
    for entry in results["sizes"].values():
        repeats = entry.get("comparison", {}).get("nightly_repeats")
        if repeats:
            print(
                f"  {entry['accounts']:>8,}: {repeats['runs']} nightly runs from the same "
                f"backfilled warehouse: scoring step {min(repeats['scoring_s']):.2f}-"
                f"{max(repeats['scoring_s']):.2f} s, single pass "
                f"{min(repeats['single_pass_s']):.2f}-{max(repeats['single_pass_s']):.2f} s; "
                f"scoring vs single pass median {repeats['median_scoring_vs_single_pass']}x "
                f"(max {repeats['max_scoring_vs_single_pass']}x), vs reference median "
                f"{repeats['median_scoring_vs_reference']}x "
                f"(max {repeats['max_scoring_vs_reference']}x); nightly run "
                f"{min(repeats['nightly_wall_s']):.1f}-{max(repeats['nightly_wall_s']):.1f} s"
            )
    for entry in results["sizes"].values():
        found = entry.get("comparison", {})
        events, user_days = found.get("single_pass_events"), found.get("rollup_user_days")
        if events and user_days:
            print(
                f"  {entry['accounts']:>8,}: W(30) holds {events:,} events and {user_days:,} "
                f"rows of the user-day rollup ({events / user_days:.2f} events per row)"
            )


def growth(results: dict) -> dict:
    nightly = {
        int(size): entry["phases"]["nightly"]["wall_s"]
        for size, entry in results["sizes"].items()
        if entry["phases"].get("nightly", {}).get("ok")
    }
    sizes = sorted(nightly)
    ratios = {
        f"{small}->{large}": round(nightly[large] / nightly[small], 2)
        for small, large in zip(sizes, sizes[1:], strict=False)
    }
    return {"nightly_wall_s": nightly, "ratios": ratios}


def print_growth(results: dict) -> None:
    found = results["growth"]
    ratios = ", ".join(
        f"{key} {ratio:.2f}x" for key, ratio in found["ratios"].items() if key != "5000->20000"
    )
    key = f"5000->{TARGET_ACCOUNTS}"
    if key in found["ratios"]:
        ratio = found["ratios"][key]
        main = f"{ratio:.2f}x (target <= {TARGET_GROWTH}x: {verdict(ratio <= TARGET_GROWTH)})"
    else:
        main = f"n/a (needs nightly runs of 5,000 and {TARGET_ACCOUNTS:,} in one run)"
    print(f"\nnightly wall time growth 5,000 -> {TARGET_ACCOUNTS:,} accounts: {main}")
    if ratios:
        print(f"  between the sizes measured: {ratios}")


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    parser.add_argument("--days", type=int, default=120, help="days in each book")
    parser.add_argument("--backfill-days", type=int, default=30)
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=PHASES,
        default=list(PHASES),
        help="nightly needs backfill, compare needs nightly (default: all)",
    )
    parser.add_argument(
        "--nightly-repeats",
        type=int,
        default=1,
        help="run nightly (and compare) this many times, each on the backfilled warehouse",
    )
    parser.add_argument(
        "--timeout", type=float, help="kill a `cshealth run` after this many seconds"
    )
    parser.add_argument("--phase", choices=["reference", "single_pass", "events"])
    parser.add_argument("--database", type=Path)
    parser.add_argument("--as-of", type=dt.date.fromisoformat)
    args = parser.parse_args()
    if args.phase:
        if args.phase == "events":
            result = events_phase()
        elif args.phase == "reference":
            result = reference_phase(args.database, args.as_of)
        else:
            result = single_pass_phase(args.database, args.as_of)
        print(json.dumps(result))
        return

    if "nightly" in args.phases and "backfill" not in args.phases:
        parser.error("--phases: nightly needs backfill (it runs on the backfilled warehouse)")
    if "compare" in args.phases and "nightly" not in args.phases:
        parser.error("--phases: compare needs nightly")
    if args.nightly_repeats < 1:
        parser.error("--nightly-repeats must be >= 1")
    if args.backfill_days < 1 or args.days <= args.backfill_days:
        parser.error("--backfill-days must be >= 1 and below --days")

    results = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "as_of": str(END),
        "days": args.days,
        "backfill_days": args.backfill_days,
        "phases": args.phases,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "targets": {
            "accounts": TARGET_ACCOUNTS,
            "seconds": TARGET_SECONDS,
            "peak_rss_gb": TARGET_RSS_GB,
            "nightly_growth_5000_to_20000": TARGET_GROWTH,
            "scoring_vs_reference": TARGET_VS_REFERENCE,
            "scoring_vs_single_pass": TARGET_VS_SINGLE_PASS,
        },
        "sizes": {},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        results["growth"] = growth(results)
        args.json.write_text(json.dumps(results, indent=2))

    for accounts in args.sizes:
        bench_size(accounts, args, results, save)
    results["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    save()

    print_table(results)
    print_steps(results)
    print_comparison(results)
    print_growth(results)
    print(f"\nJSON: {args.json}; logs of each process under {WORK}/<accounts>/*/logs/")


if __name__ == "__main__":
    main()
