"""Retention layer: MRR movements per account and month, and revenue and logo retention
per period, segment and CSM, in `mart.mrr_movements` and `mart.retention`.

Both come from `core.billing_subscriptions` in USD, in one pass of `sql/retention.sql`
over all accounts and months. They are latest-only tables: a run replaces them only
when its as-of date is not older than the one they hold, so a backfill of past dates
leaves the newest figures alone.
"""

import datetime as dt

import duckdb
import polars as pl
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)

import sql
from assets.ingest import invariant_check, markdown_table
from pipelines.resources import Warehouse
from pipelines.settings import RetentionTargets

MRR_MOVEMENTS = AssetKey(["mart", "mrr_movements"])
RETENTION = AssetKey(["mart", "retention"])
UPSTREAM = [
    AssetKey(["core", name]) for name in ("billing_subscriptions", "crm_accounts", "fx_rates")
]


def newest_as_of(connection: duckdb.DuckDBPyConnection, table: str) -> dt.date | None:
    """The as-of date a latest-only table holds (None when empty)."""
    return sql.scalar(connection, f"SELECT max(as_of_date) FROM {table}")


def build_retention(
    connection: duckdb.DuckDBPyConnection, as_of: dt.date, targets: RetentionTargets
) -> bool:
    """Compute retention for `as_of` and keep its portfolio KPIs (main.retention_kpis),
    then replace mrr_movements and retention, in one transaction, unless they already
    hold a newer as-of date. True when they were replaced."""
    newest = newest_as_of(connection, "mart.mrr_movements")
    latest = newest is None or as_of >= newest
    parameters = {
        "as_of": as_of,
        **{f"grr_{group}": target for group, target in targets.grr.model_dump().items()},
        "nrr_target": targets.nrr,
        "logo_target": targets.logo_retention,
    }
    with sql.transaction(connection):
        sql.run(connection, sql.load("retention"), parameters)
        if latest:
            sql.run(connection, sql.load("retention_marts"))
    return latest


def retention_problems(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Rows that break the retention identities (there should be none): ending MRR not
    starting + expansion - contraction - churned, ratios out of range, segments or CSMs
    not adding up to the whole book, an account month twice."""
    return connection.sql("""
        WITH book AS (
            SELECT grain, period_start, starting_mrr, ending_mrr, starting_logos
            FROM mart.retention WHERE group_by = 'all'
        ),
        parts AS (
            SELECT grain, period_start, group_by, sum(starting_mrr) AS starting_mrr,
                   sum(ending_mrr) AS ending_mrr, sum(starting_logos) AS starting_logos
            FROM mart.retention WHERE group_by <> 'all' GROUP BY ALL
        )
        SELECT grain, period_start, group_by, group_value, 'identity or range' AS problem
        FROM mart.retention
        WHERE abs(starting_mrr + expansion_mrr - contraction_mrr - churned_mrr - ending_mrr)
                > 0.005
           OR NOT (grr BETWEEN 0 AND 1 + 1e-9) OR nrr < grr - 1e-9
           OR NOT (logo_retention BETWEEN 0 AND 1) OR starting_logos = 0
        UNION ALL
        SELECT parts.grain, parts.period_start, parts.group_by, NULL,
               'groups do not add up to the book'
        FROM parts JOIN book USING (grain, period_start)
        WHERE abs(parts.starting_mrr - book.starting_mrr) > 0.005
           OR abs(parts.ending_mrr - book.ending_mrr) > 0.005
           OR parts.starting_logos <> book.starting_logos
        UNION ALL
        SELECT 'month', month, 'account', account_id, 'account month twice in mrr_movements'
        FROM mart.mrr_movements GROUP BY ALL HAVING count(*) > 1
        ORDER BY ALL LIMIT 20""").pl()


def latest_figures(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The whole book's newest month, quarter and ttm periods, for run metadata."""
    return connection.sql("""
        SELECT grain, period_start, period_end, round(starting_mrr) AS starting_mrr,
               round(grr, 3) AS grr, round(nrr, 3) AS nrr,
               round(logo_retention, 3) AS logo_retention, grr_target, nrr_target
        FROM mart.retention
        WHERE group_by = 'all'
        QUALIFY period_end = max(period_end) OVER (PARTITION BY grain)
        ORDER BY period_end - period_start""").pl()


def movement_counts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Accounts and MRR change per movement in the newest month, for run metadata."""
    return connection.sql("""
        SELECT coalesce(movement, 'unchanged') AS movement, count(*) AS accounts,
               round(sum(mrr_change), 2) AS mrr_change
        FROM mart.mrr_movements
        WHERE month = (SELECT max(month) FROM mart.mrr_movements)
        GROUP BY ALL ORDER BY accounts DESC""").pl()


def build_retention_asset(partitions_def: PartitionsDefinition):
    specs = [
        AssetSpec(
            MRR_MOVEMENTS,
            deps=UPSTREAM,
            group_name="retention",
            kinds={"duckdb", "sql"},
            description="Latest as-of date only: MRR per account and month with its "
            "movement (new, expansion, contraction, churn, reactivation).",
        ),
        AssetSpec(
            RETENTION,
            deps=UPSTREAM,
            group_name="retention",
            kinds={"duckdb", "sql"},
            description="Latest as-of date only: GRR, NRR and logo retention by "
            "month, quarter and trailing twelve months, for the book, "
            "each segment and each CSM, with the playbook targets.",
        ),
    ]
    checks = [
        AssetCheckSpec(
            "retention_consistent",
            asset=RETENTION,
            blocking=True,
            description="Ending MRR = starting + expansion - contraction "
            "- churned; ratios in range; segments and CSMs add "
            "up to the book; one row per account and month.",
        )
    ]

    @multi_asset(
        specs=specs,
        check_specs=checks,
        partitions_def=partitions_def,
        pool="duckdb_writer",
        name="retention_marts",
    )
    def retention_marts(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        targets = warehouse.settings().retention_targets
        with warehouse.connect() as connection:
            rebuilt = build_retention(connection, as_of, targets)
            held = newest_as_of(connection, "mart.mrr_movements")
            movements = sql.scalar(connection, "SELECT count(*) FROM mart.mrr_movements")
            periods = sql.scalar(connection, "SELECT count(*) FROM mart.retention")
            figures = latest_figures(connection)
            counts = movement_counts(connection)
            problems = retention_problems(connection)
        status = {"rebuilt": rebuilt, "as_of_date_held": str(held) if held else None}
        yield MaterializeResult(
            asset_key=MRR_MOVEMENTS,
            metadata={
                **status,
                "rows": movements,
                "newest_month": MetadataValue.md(markdown_table(counts)),
            },
        )
        yield MaterializeResult(
            asset_key=RETENTION,
            metadata={
                **status,
                "rows": periods,
                "whole_book": MetadataValue.md(markdown_table(figures)),
            },
        )
        yield invariant_check(RETENTION, "retention_consistent", problems)

    return retention_marts
