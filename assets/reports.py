"""The reports as Dagster assets (group "reports"), for the latest published date.

Design: the report assets share the nightly job's daily partitions and depend on
`publish/warehouse`, so they run right after a publish, in the same job, and read the file
it just published (read-only, `mart.*` only). They are optional outputs
(`output_required=False`): a partition that is not the newest published as-of date (a
backfill of an older day) renders nothing and records no materialisation, so the reports
on disk always describe the newest date, like the latest-only marts they read. A
materialisation's partition is therefore the date its reports are for. The dates of a
`cshealth run --from --to` range but the last stop before the publish (see
pipelines/runner.py), so a 30-day backfill renders its reports once, not 30 times.

Files go to `reports/` beside the published file (`data/reports` by default, the
`cshealth report` default too), under the as-of date:

- `reports/portfolio`: `<date>/portfolio.html`, the CS leader's page;
- `reports/account_packs`: a QBR pack (`<date>/qbr/<account>.md|.html|-*.png`) and a
  monthly update draft (`<date>/monthly/<account>.txt`) for each of the first
  ACCOUNT_PACKS accounts of the risk register: the accounts to call first. Any other
  account's pack is one `cshealth report qbr --account ID` away.
"""

import datetime as dt
from pathlib import Path

import duckdb
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, PartitionsDefinition, asset

import sql
from assets.publish import PUBLISHED
from pipelines.reports.render import write_portfolio, write_top_account_packs
from pipelines.resources import Warehouse

ACCOUNT_PACKS = 3


def reports_dir(warehouse: Warehouse) -> Path:
    return warehouse.published_path.parent / "reports"


def newest_published_date(published: Path) -> dt.date | None:
    """The as-of date of the published work lists (the newest run's date)."""
    with duckdb.connect(str(published), read_only=True) as connection:
        return sql.scalar(connection, "SELECT max(as_of_date) FROM mart.account_health")


def renders(context: AssetExecutionContext, warehouse: Warehouse) -> bool:
    """Whether this run renders reports: its date is the newest published one."""
    as_of = dt.date.fromisoformat(context.partition_key)
    newest = newest_published_date(warehouse.published_path)
    if newest != as_of:
        context.log.info(f"{as_of} is not the newest published date ({newest}): no reports")
    return newest == as_of


def build_report_assets(partitions_def: PartitionsDefinition) -> list:
    @asset(
        key=AssetKey(["reports", "portfolio"]),
        deps=[PUBLISHED],
        group_name="reports",
        partitions_def=partitions_def,
        output_required=False,
        kinds={"html"},
        description="The CS leader's portfolio page (one self-contained HTML file) for the "
        "newest published date: tiers, KPI scoreboard, retention, risk register, renewals.",
    )
    def portfolio_report(context: AssetExecutionContext, warehouse: Warehouse):
        if not renders(context, warehouse):
            return
        path = write_portfolio(
            warehouse.published_path, reports_dir(warehouse), operations=warehouse.operations()
        )
        yield MaterializeResult(metadata={"path": str(path)})

    @asset(
        key=AssetKey(["reports", "account_packs"]),
        deps=[PUBLISHED],
        group_name="reports",
        partitions_def=partitions_def,
        output_required=False,
        kinds={"html", "markdown"},
        description=f"QBR packs (Markdown and HTML) and monthly update drafts for the first "
        f"{ACCOUNT_PACKS} accounts of the risk register, for the newest published date.",
    )
    def account_packs(context: AssetExecutionContext, warehouse: Warehouse):
        if not renders(context, warehouse):
            return
        written = write_top_account_packs(
            warehouse.published_path, reports_dir(warehouse), ACCOUNT_PACKS
        )
        yield MaterializeResult(
            metadata={
                "folder": str(reports_dir(warehouse) / context.partition_key),
                "accounts": ", ".join(written),
                "files": sum(len(paths) for paths in written.values()),
            }
        )

    return [portfolio_report, account_packs]
