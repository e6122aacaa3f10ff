"""Consistency check at scale: the same dates, run in another order or run again, must
publish the same marts.

    .venv/bin/python benchmarks/consistency.py [--accounts 5000] [--dates 10]

On a demo book cached in benchmarks/.cache/ (as benchmarks/e2e.py makes it), with D its
last day and the `--dates` days ending on D:
  in_order     - one `cshealth run --from .. --to D` on an empty warehouse;
  newest_first - one `cshealth run --as-of` per date, D first, on another empty warehouse;
  rerun        - `cshealth run --as-of D` again on the in_order warehouse.
Every table of `mart` is compared row for row (EXCEPT ALL both ways) between in_order and
newest_first, and between in_order before and after the rerun. The small tests run on
one thread and cannot see what depends on the order DuckDB's threads meet rows, or on
the order dates run in a large book: this does. Exits 1 when a table differs. Work
folders: benchmarks/.cache/consistency/<accounts>/ (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `benchmarks` is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.e2e import Warehouse  # noqa: E402
from benchmarks.ingest import CACHE, END, make_book  # noqa: E402


def differing_rows(first: Path, second: Path) -> dict[str, tuple[int, int, int]]:
    """Per mart table: its rows in `first`, rows only in `first`, rows only in `second`."""
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"ATTACH '{first}' AS first (READ_ONLY)")
    connection.execute(f"ATTACH '{second}' AS second (READ_ONLY)")
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = 'first' AND schema_name = 'mart' ORDER BY 1"
        ).fetchall()
    ]
    found = {}
    for table in tables:
        one, two = f"first.mart.{table}", f"second.mart.{table}"
        found[table] = tuple(
            connection.execute(query).fetchone()[0]
            for query in (
                f"SELECT count(*) FROM {one}",
                f"SELECT count(*) FROM (FROM {one} EXCEPT ALL FROM {two})",
                f"SELECT count(*) FROM (FROM {two} EXCEPT ALL FROM {one})",
            )
        )
    connection.close()
    return found


def report(title: str, found: dict[str, tuple[int, int, int]]) -> bool:
    print(f"\n{title}")
    print(f"  {'table':<28} {'rows':>10} {'only first':>11} {'only second':>12}")
    for table, (rows, only_first, only_second) in found.items():
        mark = "" if only_first == only_second == 0 else "  <-- differs"
        print(f"  {table:<28} {rows:>10,} {only_first:>11,} {only_second:>12,}{mark}")
    return all(only_first == only_second == 0 for _, only_first, only_second in found.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=120, help="days in the book")
    parser.add_argument("--dates", type=int, default=10, help="as-of dates ending on D")
    args = parser.parse_args()
    if not 2 <= args.dates < args.days:
        parser.error("--dates must be at least 2 and below --days")

    book = make_book(args.accounts, args.days)
    dates = [END - dt.timedelta(days=n) for n in range(args.dates)]  # newest first
    work = CACHE / "consistency" / str(args.accounts)
    in_order = Warehouse(work / "in_order", book)
    newest_first = Warehouse(work / "newest_first", book)
    for warehouse in (in_order, newest_first):
        warehouse.reset()

    print(f"{args.accounts:,} accounts, {dates[-1]} .. {dates[0]}")
    runs = [(in_order, "in_order", ["--from", str(dates[-1]), "--to", str(dates[0])])]
    runs += [(newest_first, f"newest_first {day}", ["--as-of", str(day)]) for day in dates]
    for warehouse, name, options in runs:
        print(f"  {name} ...", flush=True)
        if not warehouse.run(name.replace(" ", "_"), options, None)["ok"]:
            sys.exit(1)
    same_order = report(
        "in_order (first) against newest_first (second):",
        differing_rows(in_order.published, newest_first.published),
    )

    before = work / "in_order_before_rerun.duckdb"
    shutil.copy(in_order.published, before)
    print(f"\n  rerun {dates[0]} on in_order ...", flush=True)
    if not in_order.run("rerun", ["--as-of", str(dates[0])], None)["ok"]:
        sys.exit(1)
    same_rerun = report(
        "in_order before (first) and after (second) the rerun:",
        differing_rows(before, in_order.published),
    )
    sys.exit(0 if same_order and same_rerun else 1)


if __name__ == "__main__":
    main()
