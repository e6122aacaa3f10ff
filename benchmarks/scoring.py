"""Scoring benchmark on the 20,000-account book: build_health against a hand-written query.

    .venv/bin/python benchmarks/scoring.py [--scorecard four_component] [--repeat 3]
                                           [--rounds 1]

Scores every account for the book's last day D with the real code path and compares it
with one hand-written DuckDB query that computes the product-usage measures straight from
the core layer. Each phase runs in its own process so its peak RSS is its own:
  setup     - a working database with the whole book ingested and the core layer built
              for D, in benchmarks/.cache/scoring-bench/ (git-ignored); reused while its
              marker file says it is complete;
  scoring   - build_health for D, --repeat times (a rerun replaces the date's rows);
  reference - the REFERENCE query, --repeat times, then compared with the usage measures
              that scoring wrote to mart.health_measures.
Each run has a fresh connection with the pipeline's session settings. --rounds n runs n
scoring and reference processes, alternating: a shared machine has slow spells of tens of
seconds, and alternating puts both sides in them. No time is asserted: the figures are
printed beside their targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `benchmarks` is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.ingest import CACHE, END, make_book  # noqa: E402

WORK = CACHE / "scoring-bench"
DATABASE = WORK / "work.duckdb"
MARKER = WORK / ".complete"
TARGET_RATIO = 1.5  # scoring / reference
TARGET_SECONDS = 15
TARGET_RSS_MB = 4096

# The product-usage measures of both scorecards for every account whose contract has
# started, from the core layer alone. W(n) is the n UTC days ending on D. Written for
# speed as one would by hand: events are rolled up to user-days, then users, then
# accounts (one GROUP BY with five count(DISTINCT ...) is 1.5-2x slower).
REFERENCE = """
CREATE OR REPLACE TEMP TABLE reference AS
WITH events AS (  -- W(30); occurred_at is UTC wall-clock time
    SELECT account_id, user_id, event_name, CAST(occurred_at AS DATE) AS day
    FROM core.product_events
    WHERE occurred_at >= CAST(DATE '{w30_first}' AS TIMESTAMP)
      AND occurred_at < CAST(DATE '{after_d}' AS TIMESTAMP)
),
user_days AS (
    SELECT account_id, user_id, day, count(*) AS events,
           count(*) FILTER (WHERE event_name = 'login') AS logins
    FROM events
    GROUP BY account_id, user_id, day
),
users AS (  -- the active users of W(30); the W(28) sums are null for those not in W(28)
    SELECT account_id, user_id, count(*) AS active_days,
           sum(events) FILTER (WHERE day >= DATE '{w28_first}') AS events_w28,
           sum(logins) FILTER (WHERE day >= DATE '{w28_first}') AS logins_w28
    FROM user_days
    GROUP BY account_id, user_id
),
usage AS (
    SELECT account_id, count(*) AS active_users, sum(active_days) AS user_days,
           count(events_w28) AS active_users_w28, sum(events_w28) AS events_w28,
           sum(logins_w28) AS logins_w28
    FROM users
    GROUP BY account_id
),
features AS (  -- catalog features used in W(30)
    SELECT used.account_id, count(*) AS features_used,
           count(*) FILTER (WHERE catalog.is_core) AS core_features_used
    FROM (SELECT DISTINCT account_id, event_name FROM events) AS used
    JOIN core.feature_catalog AS catalog ON catalog.feature = used.event_name
    GROUP BY used.account_id
),
catalog AS (
    SELECT count(*) AS features, count(*) FILTER (WHERE is_core) AS core_features
    FROM core.feature_catalog
)
SELECT
    account.account_id,
    account.licensed_seats,
    coalesce(usage.active_users, 0) AS active_users,
    coalesce(features.features_used, 0) / nullif(catalog.features, 0) AS feature_breadth,
    coalesce(usage.logins_w28, 0) AS logins,
    usage.user_days / 30 / nullif(usage.active_users, 0) AS dau_mau,
    coalesce(features.core_features_used, 0) / nullif(catalog.core_features, 0)
        AS core_feature_adoption,
    usage.events_w28 / usage.active_users_w28 / (28 / 7) AS events_per_user_week
FROM core.crm_accounts AS account
CROSS JOIN catalog
LEFT JOIN usage USING (account_id)
LEFT JOIN features USING (account_id)
WHERE account.contract_start_date <= DATE '{d}'
"""

# The reference's columns as the raw_value of the scorer's measures, where the scorecard's
# window is the reference's (30 days, logins 28): the two must agree.
REFERENCE_AS_MEASURES = {
    "seat_utilisation": "active_users / licensed_seats",
    "feature_breadth": "feature_breadth",
    "login_rate": "logins / (28 / 7) / licensed_seats",
    "dau_mau": "dau_mau",
    "core_feature_adoption": "core_feature_adoption",
}


def reference_sql(day: dt.date) -> str:
    return REFERENCE.format(
        d=day,
        after_d=day + dt.timedelta(days=1),
        w30_first=day - dt.timedelta(days=29),
        w28_first=day - dt.timedelta(days=27),
    )


def connect(database: Path, settings):
    """A connection opened as Warehouse.connect opens one."""
    import duckdb

    from pipelines.resources import prepare_connection

    connection = duckdb.connect(str(database))
    prepare_connection(connection, settings.duckdb_memory_limit, settings.segments)
    return connection


def peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def timed_runs(work, repeat: int, settings, last=None) -> tuple[dict, object]:
    """Wall and CPU (user + sys, all threads) seconds of `repeat` calls of `work(connection)`
    and the last call's result. Each call has a fresh connection, as each materialisation
    in the pipeline has: it is cold for DuckDB's buffers (the OS page cache is warm), and
    a second call on one connection is not always like the first. Opening and closing are
    not timed; `last(connection)` runs untimed before the last connection closes. CPU
    seconds vary less than wall seconds on a shared machine."""
    wall, cpu, result = [], [], None
    for run in range(repeat):
        connection = connect(DATABASE, settings)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        result = work(connection)
        wall.append(round(time.perf_counter() - started, 3))
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append(round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 3))
        if last and run == repeat - 1:
            result = last(connection)
        connection.close()
    return {"runs": wall, "cpu_runs": cpu}, result


def summary(runs: list[dict]) -> dict:
    """The rounds of one phase together: min and median over every run."""
    wall = [s for one in runs for s in one["runs"]]
    cpu = [s for one in runs for s in one["cpu_runs"]]
    return {
        **runs[-1],
        "runs": wall,
        "cpu_runs": cpu,
        "first": [one["runs"][0] for one in runs],
        "min": min(wall),
        "median": statistics.median(wall),
        "cpu_min": min(cpu),
        "cpu_median": statistics.median(cpu),
        "peak_rss_mb": max(one["peak_rss_mb"] for one in runs),
    }


def setup_phase(book: Path, day: dt.date) -> dict:
    """Ingest every delivery up to `day` into an empty database and build core for it."""
    import sql
    from assets.core import build_core
    from assets.ingest import load_dataset
    from pipelines.settings import load_settings
    from schemas.extracts import DATASETS

    settings = load_settings()
    connection = connect(DATABASE, settings)
    sql.run(connection, sql.load("warehouse_schema"))
    sql.run(connection, sql.load("health_tables"))
    started = time.perf_counter()
    for dataset in DATASETS.values():
        load_dataset(connection, dataset, book, day, "bench", settings)
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    counts = build_core(connection, day, "bench")
    core_seconds = time.perf_counter() - started
    connection.close()
    return {
        "ingest_seconds": round(ingest_seconds, 1),
        "core_seconds": round(core_seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "core_rows": counts,
    }


def scoring_phase(day: dt.date, scorecard: str, repeat: int) -> dict:
    """build_health for `day`, `repeat` times in one process."""
    import sql
    from assets.health import build_health
    from pipelines.scorecards import scorecards_by_segment
    from pipelines.settings import load_settings

    settings = load_settings()
    by_segment = scorecards_by_segment(scorecard, settings.scorecard_by_segment)
    figures, scored = timed_runs(
        lambda connection: build_health(connection, day, by_segment), repeat, settings
    )
    peak = peak_rss_mb()
    connection = connect(DATABASE, settings)
    events = sql.scalar(connection, "SELECT count(*) FROM core.product_events")
    connection.close()
    return {
        **figures,
        "peak_rss_mb": peak,
        "product_events": events,
        "accounts_scored": scored["accounts_scored"],
        "tiers": scored["tiers"],
    }


def agreement(connection, day: dt.date) -> dict:
    """How the reference's columns compare with the raw values scoring wrote for `day`."""
    import sql

    found = {"accounts": sql.scalar(connection, "SELECT count(*) FROM reference")}
    for measure, expression in REFERENCE_AS_MEASURES.items():
        compared, differ = connection.execute(
            f"""
            SELECT count(*), count(*) FILTER (WHERE NOT (
                       (measured.raw_value IS NULL AND expected IS NULL)
                       OR abs(measured.raw_value - expected) <= 1e-9))
            FROM mart.health_measures AS measured
            JOIN (SELECT account_id, {expression} AS expected FROM reference) USING (account_id)
            WHERE measured.as_of_date = ? AND measured.measure = ?""",
            [day, measure],
        ).fetchall()[0]
        if compared:
            found[measure] = {"compared": compared, "differ": differ}
    return found


def reference_phase(day: dt.date, repeat: int) -> dict:
    """The REFERENCE query, `repeat` times; then its agreement with mart.health_measures."""
    from pipelines.settings import load_settings

    query = reference_sql(day)
    figures, found = timed_runs(
        lambda connection: connection.execute(query),
        repeat,
        load_settings(),
        last=lambda c: agreement(c, day),
    )
    accounts = found.pop("accounts")
    return {**figures, "peak_rss_mb": peak_rss_mb(), "accounts": accounts, "agreement": found}


def run_phase(name: str, *options: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--phase", name, *options],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def ensure_database(book: Path) -> dict:
    """The setup phase's figures: from the marker when the database is complete."""
    if MARKER.exists() and DATABASE.exists():
        figures = json.loads(MARKER.read_text())
        if figures.get("book") == book.name and figures.get("as_of") == str(END):
            return {**figures, "reused": True}
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    started = time.perf_counter()
    figures = run_phase("setup", "--book", str(book))
    figures = {
        "book": book.name,
        "as_of": str(END),
        "seconds": round(time.perf_counter() - started, 1),
        **figures,
    }
    MARKER.write_text(json.dumps(figures, indent=2))
    return {**figures, "reused": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument(
        "--scorecard",
        default=None,
        help="score every account with this scorecard (default: settings)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per process")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="pairs of scoring and reference processes, alternating",
    )
    parser.add_argument("--phase", choices=["setup", "scoring", "reference"])
    parser.add_argument("--book")
    args = parser.parse_args()
    if args.phase:
        if args.phase == "setup":
            result = setup_phase(Path(args.book), END)
        elif args.phase == "scoring":
            result = scoring_phase(END, args.scorecard, args.repeat)
        else:
            result = reference_phase(END, args.repeat)
        print(json.dumps(result))
        return

    from pipelines.settings import load_settings

    scorecard = args.scorecard or load_settings().scorecard
    book = make_book(args.accounts, args.days)
    setup = ensure_database(book)
    how = "reused" if setup["reused"] else "built"
    print(f"book: {args.accounts:,} accounts, {args.days} days ({book})")
    print(
        f"setup ({how} {DATABASE}): {setup['seconds']:.1f} s - ingest "
        f"{setup['ingest_seconds']:.1f} s, core for {END} {setup['core_seconds']:.1f} s, "
        f"peak RSS {setup['peak_rss_mb']:,} MB"
    )
    options = ["--scorecard", scorecard, "--repeat", str(args.repeat)]
    scoring_rounds, reference_rounds = [], []
    for _ in range(args.rounds):  # alternating, so a slow spell of the machine hits both
        scoring_rounds.append(run_phase("scoring", *options))
        reference_rounds.append(run_phase("reference", *options))
    scoring, reference = summary(scoring_rounds), summary(reference_rounds)

    ratio = scoring["min"] / reference["min"]
    rows = [
        (
            "scoring s, min / median",
            f"{scoring['min']:.2f} / {scoring['median']:.2f}",
            f"< {TARGET_SECONDS}",
            scoring["min"] < TARGET_SECONDS,
        ),
        (
            "reference s, min / median",
            f"{reference['min']:.2f} / {reference['median']:.2f}",
            "",
            None,
        ),
        (
            "ratio scoring / reference, min / median",
            f"{ratio:.2f} / {scoring['median'] / reference['median']:.2f}",
            f"<= {TARGET_RATIO}",
            ratio <= TARGET_RATIO,
        ),
        (
            "CPU s (all threads) scoring / reference, median",
            f"{scoring['cpu_median']:.1f} / {reference['cpu_median']:.1f}",
            f"(ratio {scoring['cpu_median'] / reference['cpu_median']:.2f})",
            None,
        ),
        (
            "first run of each process s, scoring / reference",
            f"{statistics.median(scoring['first']):.2f} / "
            f"{statistics.median(reference['first']):.2f}",
            "",
            None,
        ),
        (
            "peak RSS scoring MB",
            f"{scoring['peak_rss_mb']:,}",
            f"< {TARGET_RSS_MB:,}",
            scoring["peak_rss_mb"] < TARGET_RSS_MB,
        ),
        (
            "peak RSS reference MB",
            f"{reference['peak_rss_mb']:,}",
            f"< {TARGET_RSS_MB:,}",
            reference["peak_rss_mb"] < TARGET_RSS_MB,
        ),
        (
            "accounts scored",
            f"{scoring['accounts_scored']:,}",
            f"(reference rows {reference['accounts']:,})",
            None,
        ),
        ("rows in core.product_events", f"{scoring['product_events']:,}", "", None),
    ]
    print(
        f"scoring {END} with scorecard {scorecard}: {args.rounds} round(s) of a scoring "
        f"and a reference process, {args.repeat} runs each; verdicts on the min"
    )
    print(f"  {'':<48} {'value':>15}  target")
    for label, value, target, met in rows:
        verdict = "" if met is None else ("met" if met else "NOT met")
        print(f"  {label:<48} {value:>15}  {target:<24} {verdict}".rstrip())
    print(f"  runs s: scoring {scoring['runs']}, reference {reference['runs']}")
    print(f"  tiers {scoring['tiers']}")
    for measure, counts in reference["agreement"].items():
        print(
            f"  reference vs mart.health_measures.raw_value of {measure}: "
            f"{counts['compared']:,} accounts compared, {counts['differ']:,} differ"
        )
    results = {"setup": setup, "scoring": scoring, "reference": reference}
    (WORK / f"results-{scorecard}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
