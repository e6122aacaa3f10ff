"""The `cshealth` command line: `run`, `demo` and `report`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from pipelines.reports.data import ReportError
from pipelines.runner import RunError, RunOutcome, run_as_of
from pipelines.settings import ConfigError


class UsageError(Exception):
    """Bad arguments, said in one line."""


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: '{text}' is not a date (YYYY-MM-DD)") from None


def warehouse_for(args: argparse.Namespace):
    from pipelines.resources import Warehouse

    return Warehouse.from_environment(
        extracts_dir=args.extracts,
        warehouse=args.warehouse,
        scorecard=args.scorecard,
        export_dir=getattr(args, "export", None),
    )


def dates_to_run(args: argparse.Namespace) -> list[dt.date]:
    if args.as_of and (args.date_from or args.date_to):
        raise UsageError("give either --as-of or --from/--to, not both")
    if args.as_of:
        return [parse_date(args.as_of, "--as-of")]
    if args.date_from and args.date_to:
        first, last = parse_date(args.date_from, "--from"), parse_date(args.date_to, "--to")
        if last < first:
            raise UsageError(f"--to {last} is before --from {first}")
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    if args.date_from or args.date_to:
        raise UsageError("--from and --to go together")
    return [dt.datetime.now(dt.UTC).date()]


def report(outcome: RunOutcome, published: Path) -> None:
    if outcome.success and outcome.deferred_to:
        print(
            f"{outcome.as_of}: computed (run {outcome.run_id}), "
            f"to be published with {outcome.deferred_to}"
        )
        return
    if outcome.success:
        print(f"{outcome.as_of}: published {published} (run {outcome.run_id})")
        return
    if outcome.published:
        print(
            f"{outcome.as_of}: published {published}, then run {outcome.run_id} failed",
            file=sys.stderr,
        )
    else:
        print(
            f"{outcome.as_of}: run {outcome.run_id} failed; {published} left as it was",
            file=sys.stderr,
        )
    for problem in outcome.problems:
        print(f"  {problem}", file=sys.stderr)


def command_run(args: argparse.Namespace) -> int:
    warehouse = warehouse_for(args)
    dates = dates_to_run(args)
    for as_of in dates:
        outcome = run_as_of(warehouse, as_of, verbose=args.verbose, in_range=(dates[0], dates[-1]))
        report(outcome, warehouse.published_path)
        if not outcome.success:
            if as_of > dates[0] and not outcome.published:
                print(
                    f"  {dates[0]} .. {as_of - dt.timedelta(days=1)} computed, not published: "
                    "the next run that publishes carries them",
                    file=sys.stderr,
                )
            return 1
    return 0


def command_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import demo, replace_problem

    if args.accounts < 1 or args.days < 7 or args.history_days < 1:
        raise UsageError("--accounts must be >= 1, --days >= 7 and --history-days >= 1")
    warehouse = warehouse_for(args)
    problem = replace_problem(warehouse)
    if problem:
        raise UsageError(problem)
    return demo(args, warehouse)


def command_report(args: argparse.Namespace) -> int:
    from pipelines.reports import render
    from pipelines.resources import Warehouse

    warehouse = Warehouse.from_environment(warehouse=args.warehouse)
    published = warehouse.published_path
    out = Path(args.out).expanduser()
    if args.report == "qbr":
        as_of = parse_date(args.as_of, "--as-of") if args.as_of else None
        written = render.write_qbr(published, args.account, as_of, out)
    elif args.report == "monthly":
        written = [render.write_monthly(published, args.account, out)]
    else:
        written = [render.write_portfolio(published, out, operations=warehouse.operations())]
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cshealth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def locations(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--extracts", help="extracts folder ($CSHEALTH_EXTRACTS_DIR, default ./data/extracts)"
        )
        command.add_argument(
            "--warehouse",
            help="published DuckDB file ($CSHEALTH_WAREHOUSE, default ./data/warehouse.duckdb)",
        )
        command.add_argument(
            "--scorecard",
            metavar="NAME|FILE",
            help="scorecard for every account: five_dimension, "
            "four_component or a YAML file ($CSHEALTH_SCORECARD, "
            "default from config/pipeline.yaml)",
        )
        command.add_argument("--verbose", action="store_true", help="show Dagster's log")

    run = commands.add_parser("run", help="run the pipeline for an as-of date or a range")
    run.add_argument("--as-of", help="as-of date YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--from", dest="date_from", help="first as-of date of a range")
    run.add_argument("--to", dest="date_to", help="last as-of date of a range")
    run.add_argument(
        "--export",
        metavar="DIR",
        help="also write the marts as Parquet into DIR ($CSHEALTH_EXPORT_DIR)",
    )
    locations(run)
    run.set_defaults(handler=command_run)

    demo = commands.add_parser("demo", help="write a synthetic book and run it")
    demo.add_argument("--accounts", type=int, default=500)
    demo.add_argument("--days", type=int, default=120)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--history-days",
        type=int,
        default=8,
        help="how many of the last days to run (default 8, so the last day has a 7-day delta)",
    )
    demo.add_argument("--no-run", action="store_true", help="only write the book")
    locations(demo)
    demo.set_defaults(handler=command_demo)

    report = commands.add_parser(
        "report", help="write a QBR pack, a monthly update draft or the portfolio page"
    )
    kinds = report.add_subparsers(dest="report", required=True)

    def report_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--warehouse",
            help="published DuckDB file to read ($CSHEALTH_WAREHOUSE, "
            "default ./data/warehouse.duckdb)",
        )
        command.add_argument(
            "--out", default="data/reports", help="folder for the files (default ./data/reports)"
        )

    qbr = kinds.add_parser("qbr", help="an account's QBR pack, as Markdown and HTML")
    qbr.add_argument("--account", required=True, metavar="ID", help="CRM account id")
    qbr.add_argument("--as-of", help="as-of date YYYY-MM-DD (default: the newest published)")
    report_options(qbr)
    monthly = kinds.add_parser("monthly", help="an account's monthly update email, as text")
    monthly.add_argument("--account", required=True, metavar="ID", help="CRM account id")
    report_options(monthly)
    portfolio = kinds.add_parser("portfolio", help="the CS leader's page, one HTML file")
    report_options(portfolio)
    report.set_defaults(handler=command_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, RunError, ConfigError, ReportError) as exc:
        print(f"cshealth: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cshealth: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a bare traceback
        if os.environ.get("CSHEALTH_DEBUG"):
            raise
        print(
            f"cshealth: error: {type(exc).__name__}: {exc} "
            "(set CSHEALTH_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
