"""`cshealth demo`: write the synthetic book, run its last days, show where to look."""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys

from pipelines.demo_book import BOOK_MARKER, BookShape, generate_book
from pipelines.demo_book import replace_problem as book_problem
from pipelines.resources import Warehouse, lake_dir_for
from pipelines.runner import run_as_of

EXAMPLE_QUERIES = """\
-- the accounts to call first: the risk register, with open alerts and the next action
SELECT rank, account_name, csm_owner, tier, health_score, arr, days_to_renewal,
       open_alerts, recommended_actions[1] AS next_action
FROM mart.risk_register ORDER BY rank LIMIT 10;

-- revenue retention over the last twelve months, by segment, against the targets
SELECT group_value AS segment, starting_logos, round(grr, 3) AS grr, grr_target,
       round(nrr, 3) AS nrr, nrr_target, round(logo_retention, 3) AS logo_retention
FROM mart.retention
WHERE grain = 'ttm' AND group_by IN ('all', 'segment')
  AND period_end = (SELECT max(period_end) FROM mart.retention WHERE grain = 'ttm')
ORDER BY starting_mrr DESC;

-- the data dictionary
SELECT schema_name, table_name, column_name, comment
FROM duckdb_columns() WHERE schema_name IN ('mart', 'quarantine', 'meta');"""


def replace_problem(warehouse: Warehouse) -> str | None:
    """Why the demo must not run on these paths. It replaces the extracts folder, deletes
    the working database and publishes over the warehouse: all of them must be a
    demo's, or new."""
    extracts = warehouse.extracts_path
    problem = book_problem(extracts)
    if problem or (extracts / BOOK_MARKER).is_file():
        return problem
    for path in (warehouse.published_path, warehouse.work_path):
        if path.exists():
            return f"{path} exists and was not built from a demo book: give --warehouse a new path"
    return None


def demo(args: argparse.Namespace, warehouse: Warehouse) -> int:
    shape = BookShape(accounts=args.accounts, days=args.days, seed=args.seed)
    extracts = warehouse.extracts_path
    counts = generate_book(extracts, shape)
    # The book replaced the extracts: what was built from earlier ones goes too.
    work = warehouse.work_path
    for path in (work, work.with_name(work.name + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(lake_dir_for(work), ignore_errors=True)
    print(
        f"wrote a book of {args.accounts} accounts over {args.days} days "
        f"({shape.first_day} .. {shape.last_day}) to {extracts}"
    )
    print("  " + ", ".join(f"{name} {rows:,}" for name, rows in sorted(counts.items())))
    if args.no_run:
        return 0
    history = max(1, min(args.history_days, args.days))
    first = shape.last_day - dt.timedelta(days=history - 1)
    for offset in range(history):
        as_of = first + dt.timedelta(days=offset)
        outcome = run_as_of(
            warehouse, as_of, verbose=args.verbose, in_range=(first, shape.last_day)
        )
        if not outcome.success:
            print(f"{as_of}: run failed", file=sys.stderr)
            for problem in outcome.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print(f"{as_of}: {'computed' if outcome.deferred_to else 'published'}")
    print(f"\nThe published warehouse: {warehouse.published_path}")
    print(f"Open it read-only:  duckdb -readonly {warehouse.published_path}")
    print("   or in Python:    duckdb.connect(path, read_only=True)\n")
    print("Three queries to try:\n")
    print(EXAMPLE_QUERIES)
    print_reports(warehouse, shape.last_day)
    return 0


def print_reports(warehouse: Warehouse, as_of: dt.date) -> None:
    """Where the nightly job's report assets (assets/reports.py) wrote the portfolio page
    and the QBR packs of the accounts to call first, for the newest date."""
    from assets.reports import ACCOUNT_PACKS, reports_dir
    from pipelines.reports.data import open_published, top_accounts
    from pipelines.reports.render import safe_name

    folder = reports_dir(warehouse) / as_of.isoformat()
    with open_published(warehouse.published_path) as connection:
        accounts = top_accounts(connection, ACCOUNT_PACKS)
    print(f"\nReports (cshealth report qbr|monthly|portfolio writes more) in {folder.parent}:")
    print(f"  portfolio page:  {folder / 'portfolio.html'}")
    for account_id in accounts:
        pack = folder / "qbr" / safe_name(account_id)
        print(f"  QBR {account_id}:  {pack}.md  {pack}.html")
