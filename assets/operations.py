"""Operations layer: what a CSM acts on today, from the scores, the retention marts and the
core layer. One SQL file per mart:

- `sql/onboarding.sql`, `sql/renewals.sql`, `sql/expansion.sql`, `sql/risk_register.sql`
  build the latest-only work lists `mart.onboarding`, `mart.renewal_pipeline`,
  `mart.expansion_opportunities` and `mart.risk_register`;
- `sql/alert_conditions.sql` keeps each date's non-score alert conditions and
  `sql/health_alerts.sql` rebuilds `mart.health_alerts` (one row per episode) from the
  whole history, so dates run in any order end in the same alerts;
- `sql/portfolio_kpis.sql` writes the date's scoreboard;
- `sql/weekly_usage.sql` writes the week's `mart.weekly_usage` and
  `mart.feature_adoption`, which the QBR packs chart.

Thresholds, actions and targets come from `config/operations.yaml`.
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
from assets.health import config_frames, create_config_tables
from assets.ingest import invariant_check, lake_dir, markdown_table
from assets.retention import newest_as_of
from pipelines.operations import KPIS, Operations
from pipelines.resources import Warehouse
from pipelines.scorecards import Scorecard

LATEST_ONLY = ("onboarding", "renewal_pipeline", "expansion_opportunities", "risk_register")
MARTS = ("health_alerts", *LATEST_ONLY, "portfolio_kpis", "weekly_usage", "feature_adoption")
OPERATIONS_ASSETS = [AssetKey(["mart", name]) for name in MARTS]


def operations_frames(
    operations: Operations, by_segment: dict[str, Scorecard], plan_tiers: list[str]
) -> dict[str, pl.DataFrame]:
    """The config the operations SQL joins, as small tables."""
    alerts = operations.alerts.model_dump()
    playbooks = operations.playbooks.model_dump()
    targets = operations.portfolio.targets
    actions = pl.List(pl.String)
    return {
        "alert_types": pl.DataFrame(
            [
                (name, alert["severity"], alert["actions"], alert["tier_playbook"])
                for name, alert in alerts.items()
            ],
            schema={
                "alert_type": pl.String,
                "severity": pl.String,
                "actions": actions,
                "tier_playbook": pl.Boolean,
            },
            orient="row",
        ),
        "playbooks": pl.DataFrame(
            [(colour, book["first_steps"], book["actions"]) for colour, book in playbooks.items()],
            schema={"colour": pl.String, "first_steps": actions, "actions": actions},
            orient="row",
        ),
        "plan_tiers": pl.DataFrame(
            {"plan_tier": plan_tiers, "position": list(range(len(plan_tiers)))}
        ),
        "renewal_stages": pl.DataFrame(
            {
                "stage": list(operations.renewals.stages),
                "last_day": list(operations.renewals.stages.values()),
            },
            schema={"stage": pl.String, "last_day": pl.Int32},
        ),
        "scorecard_tiers": config_frames(by_segment)["scorecard_tiers"],
        "kpi_targets": pl.DataFrame(
            [
                (kpi, position, targets[kpi][0], float(targets[kpi][1]))
                for position, kpi in enumerate(KPIS)
            ],
            schema={
                "kpi": pl.String,
                "position": pl.Int32,
                "comparison": pl.String,
                "target": pl.Float64,
            },
            orient="row",
        ),
    }


def numbers(*sections) -> dict[str, float]:
    """Every number of the given config sections, by name: the `$parameters` of a step."""
    values = {}
    for section in sections:
        for name, value in section.model_dump().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[name] = value
    return values


def week_event_files(connection: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[str]:
    """The raw event files (one per delivery dated <= `as_of`) that hold events of the
    ISO week of `as_of`, as the rollups say; the empty schema file when there are none."""
    folder = lake_dir(connection) / "product_events"
    days = connection.execute(
        """SELECT DISTINCT delivery_date FROM rollup.feature_days
           WHERE day BETWEEN CAST(date_trunc('week', $as_of) AS DATE) AND $as_of
             AND delivery_date <= $as_of ORDER BY 1""",
        {"as_of": as_of},
    ).fetchall()
    return [str(folder / f"{day}.parquet") for (day,) in days] or [str(folder / "_schema.parquet")]


def build_operations(
    connection: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    operations: Operations,
    by_segment: dict[str, Scorecard],
    plan_tiers: list[str],
) -> bool:
    """Build every operations mart for `as_of` in one transaction. The latest-only work
    lists are replaced only when `as_of` is not older than the date they hold; True when
    they were."""
    newest = newest_as_of(connection, "mart.risk_register")
    latest = newest is None or as_of >= newest
    alerts = operations.alerts
    steps = [
        ("core_macros", {}),
        ("operations_inputs", numbers(alerts.payment_overdue)),
        ("onboarding", numbers(operations.onboarding)),
        ("renewals", numbers(operations.renewals)),
        ("expansion", numbers(operations.expansion)),
        ("alert_conditions", numbers(alerts.renewal_at_risk)),
        ("health_alerts", numbers(alerts.dropped_below_60, alerts.improved_20)),
        ("risk_register", {}),
        ("portfolio_kpis", numbers(operations.portfolio)),
        (
            "weekly_usage",
            {**numbers(operations.usage), "files": week_event_files(connection, as_of)},
        ),
    ]
    with sql.transaction(connection):
        create_config_tables(connection, operations_frames(operations, by_segment, plan_tiers))
        for name, values in steps:
            sql.run(
                connection,
                sql.load(name),
                {"as_of": as_of, "products": operations.expansion.products, **values},
            )
        if latest:
            connection.execute("DELETE FROM mart.renewal_pipeline")
            connection.execute(
                "INSERT INTO mart.renewal_pipeline SELECT * EXCLUDE (in_pipeline) "
                "FROM renewals_today WHERE in_pipeline"
            )
            for table in ("onboarding", "expansion_opportunities", "risk_register"):
                connection.execute(f"DELETE FROM mart.{table}")
                connection.execute(f"INSERT INTO mart.{table} SELECT * FROM {table}_today")
    return latest


def operations_problems(connection: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Rows that break the work lists' invariants (there should be none): ranks not 1..n,
    a scored account missing from the risk register, a renewal confidence outside
    0..100, an episode cleared before it was raised, or two open episodes of one alert
    type for an account. The register holds its date's accounts; an empty one was built
    for `as_of`, a date on which no account was scored."""
    return connection.sql(
        """
        SELECT 'risk_register' AS mart, account_id, 'rank not 1..n' AS problem
        FROM mart.risk_register
        QUALIFY rank <> row_number() OVER (ORDER BY rank)
        UNION ALL
        SELECT 'risk_register', health.account_id, 'scored account missing'
        FROM mart.account_health AS health
        WHERE health.as_of_date = coalesce((SELECT max(as_of_date) FROM mart.risk_register),
                                           $as_of)
          AND health.account_id NOT IN (SELECT account_id FROM mart.risk_register)
        UNION ALL
        SELECT 'renewal_pipeline', account_id, 'confidence outside 0..100'
        FROM mart.renewal_pipeline WHERE NOT (renewal_confidence BETWEEN 0 AND 100)
        UNION ALL
        SELECT 'health_alerts', account_id, 'cleared before raised'
        FROM mart.health_alerts WHERE cleared_on <= as_of_date
        UNION ALL
        SELECT 'health_alerts', account_id, 'two open episodes of ' || alert_type
        FROM mart.health_alerts WHERE cleared_on IS NULL
        GROUP BY account_id, alert_type HAVING count(*) > 1
        ORDER BY ALL LIMIT 20""",
        params={"as_of": as_of},
    ).pl()


def build_operations_asset(partitions_def: PartitionsDefinition, upstream: list[AssetKey]):
    descriptions = {
        "health_alerts": "Every alert ever raised, one row per episode, with severity, "
        "message, playbook actions and drivers.",
        "onboarding": "Latest date only: accounts in their first days (onboarding."
        "window_days), with time to first login and value, training, adoption, flags.",
        "renewal_pipeline": "Latest date only: renewals in the next days (renewals."
        "window_days) and those overdue (overdue_days), with stage, confidence, zone, "
        "ARR at risk.",
        "expansion_opportunities": "Latest date only: seat, tier, product and services "
        "opportunities of healthy accounts, with signals.",
        "risk_register": "Latest date only: every scored account, most urgent first, "
        "with alerts, renewal zone and recommended actions.",
        "portfolio_kpis": "The scoreboard per as-of date, for the book and each CSM, "
        "against the playbook targets.",
        "weekly_usage": "Per account and ISO week: active users against seats, user-days, "
        "events and the most active users (by product user id).",
        "feature_adoption": "Per account, ISO week and catalog feature: users of the "
        "feature among the week's active users.",
    }
    specs = [
        AssetSpec(
            AssetKey(["mart", name]),
            deps=upstream,
            group_name="operations",
            kinds={"duckdb", "sql"},
            description=descriptions[name],
        )
        for name in MARTS
    ]
    checks = [
        AssetCheckSpec(
            "work_lists_consistent",
            asset=AssetKey(["mart", "risk_register"]),
            blocking=True,
            description="Ranks 1..n over every scored account, "
            "confidence within 0..100, alert episodes "
            "cleared after they were raised and never two "
            "open at once.",
        )
    ]

    @multi_asset(
        specs=specs,
        check_specs=checks,
        partitions_def=partitions_def,
        pool="duckdb_writer",
        name="operations_marts",
    )
    def operations_marts(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        with warehouse.connect() as connection:
            latest = build_operations(
                connection,
                as_of,
                warehouse.operations(),
                warehouse.scorecards(),
                warehouse.settings().plan_tiers,
            )
            rows = {
                name: sql.scalar(connection, f"SELECT count(*) FROM mart.{name}") for name in MARTS
            }
            alerts = connection.sql(
                "SELECT alert_type, count(*) AS raised FROM mart.health_alerts "
                "WHERE as_of_date = ? GROUP BY ALL ORDER BY ALL",
                params=[as_of],
            ).pl()
            top = connection.sql(
                "SELECT rank, account_name, tier, health_score, arr, open_alerts "
                "FROM mart.risk_register ORDER BY rank LIMIT 10"
            ).pl()
            kpis = connection.sql(
                "SELECT kpi, round(value, 3) AS value, comparison, target, met "
                "FROM mart.portfolio_kpis WHERE as_of_date = ? AND group_by = 'all'",
                params=[as_of],
            ).pl()
            problems = operations_problems(connection, as_of)
        extra = {
            "health_alerts": {"raised_today": MetadataValue.md(markdown_table(alerts))},
            "risk_register": {"top_10": MetadataValue.md(markdown_table(top))},
            "portfolio_kpis": {"book": MetadataValue.md(markdown_table(kpis))},
        }
        for name in MARTS:
            yield MaterializeResult(
                asset_key=AssetKey(["mart", name]),
                metadata={
                    "rows": rows[name],
                    **extra.get(name, {}),
                    **({"refreshed": latest} if name in LATEST_ONLY else {}),
                },
            )
        yield invariant_check(
            AssetKey(["mart", "risk_register"]), "work_lists_consistent", problems
        )

    return operations_marts
