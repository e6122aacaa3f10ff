"""Ingestion benchmark on the 20,000-account book (about 50M product events).

    .venv/bin/python benchmarks/ingest.py [--accounts 20000] [--days 120]

The book is generated once into benchmarks/.cache/ (git-ignored) and reused. Each
phase runs in its own process so its peak RSS is its own:
  cold  - load every delivery up to the day before the last into an empty database;
  day   - load the last day's deliveries on top of that.
Validation (casting, Pandera rules, duplicate keys, quarantine) is included; the asset
checks are timed on their own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
END = dt.date(2026, 6, 30)  # a fixed last day, so the cached book is reused


def make_book(accounts: int, days: int) -> Path:
    from pipelines.demo_book import BookShape, generate_book

    book = CACHE / f"book-{accounts}-{days}"
    if (book / ".complete").exists():
        return book
    started = time.perf_counter()
    counts = generate_book(book, BookShape(accounts=accounts, days=days, seed=7, last_day=END))
    (book / ".complete").write_text(json.dumps(counts))
    print(f"generated {book} in {time.perf_counter() - started:.0f} s: {counts}")
    return book


def phase(book: Path, database: Path, as_of: dt.date) -> dict:
    """Load every dataset for `as_of`; print the figures as JSON."""
    import duckdb

    import sql
    from assets.ingest import load_dataset, run_checks
    from pipelines.settings import load_settings
    from schemas.extracts import DATASETS

    settings = load_settings()
    connection = duckdb.connect(str(database))
    sql.run(connection, sql.load("warehouse_schema"))
    connection.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    figures = {}
    started_all = time.perf_counter()
    for name, dataset in DATASETS.items():
        before = sql.scalar(
            connection,
            "SELECT coalesce(sum(rows_read), 0) FROM meta.deliveries WHERE dataset = ?",
            [name],
        )
        started = time.perf_counter()
        load_dataset(connection, dataset, book, as_of, f"bench-{as_of}", settings)
        seconds = time.perf_counter() - started
        rows = (
            sql.scalar(
                connection,
                "SELECT coalesce(sum(rows_read), 0) FROM meta.deliveries WHERE dataset = ?",
                [name],
            )
            - before
        )
        started = time.perf_counter()
        run_checks(connection, dataset, f"bench-{as_of}", settings)
        checks = time.perf_counter() - started
        figures[name] = {
            "rows": int(rows),
            "seconds": round(seconds, 3),
            "checks_seconds": round(checks, 3),
        }
    total = time.perf_counter() - started_all
    connection.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(total, 2), "peak_rss_mb": round(peak_mb), "datasets": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--phase", choices=["cold", "day"])
    parser.add_argument("--book")
    parser.add_argument("--database")
    args = parser.parse_args()
    if args.phase:
        as_of = END - dt.timedelta(days=1) if args.phase == "cold" else END
        print(json.dumps(phase(Path(args.book), Path(args.database), as_of)))
        return

    book = make_book(args.accounts, args.days)
    work = CACHE / "ingest-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    database = work / "work.duckdb"
    results = {}
    for name in ("cold", "day"):
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                name,
                "--book",
                str(book),
                "--database",
                str(database),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])

    cold, day = results["cold"], results["day"]
    events = cold["datasets"]["product_events"]
    all_rows = sum(d["rows"] for d in cold["datasets"].values())
    print(f"book: {args.accounts:,} accounts, {args.days} days ({book})")
    print(f"cold load, all deliveries up to {END - dt.timedelta(days=1)}:")
    print(
        f"  product_events  {events['rows']:>12,} rows  {events['seconds']:7.1f} s  "
        f"{events['rows'] / events['seconds'] / 1e6:5.2f} M rows/s"
    )
    print(f"  its asset checks (balance, key uniqueness, ratio) {events['checks_seconds']:7.1f} s")
    print(
        f"  all datasets    {all_rows:>12,} rows  {cold['seconds']:7.1f} s  "
        f"{all_rows / cold['seconds'] / 1e6:5.2f} M rows/s (checks included)"
    )
    print(f"  peak RSS        {cold['peak_rss_mb']:>12,} MB")
    day_rows = sum(d["rows"] for d in day["datasets"].values())
    print(f"one new day ({END}) on top:")
    print(f"  all datasets    {day_rows:>12,} rows  {day['seconds']:7.1f} s")
    print(f"  peak RSS        {day['peak_rss_mb']:>12,} MB")
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
