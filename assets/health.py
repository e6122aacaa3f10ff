"""Health layer: every scored account's measures, dimension scores, health score and tier
for the partition's date, in `mart.health_measures` and `mart.account_health`.

All accounts are scored at once in DuckDB: `sql/health_inputs.sql` builds the scored
accounts, `sql/usage_rollups.sql` rolls product events up by user and day, each measure
is one query in `sql/measures/`, `sql/health_scores.sql`
weighs them as the scorecard says and `sql/health_history.sql` derives deltas and
drivers from the snapshots of other dates. The scorecards (YAML) reach the SQL as small
tables: measures with weights, bands, tiers.
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
from assets.core import CORE_ORDER, update_last_days
from assets.ingest import invariant_check, markdown_table
from pipelines.resources import Warehouse
from pipelines.scorecards import MEASURES, Scorecard

ACCOUNT_HEALTH = AssetKey(["mart", "account_health"])
HEALTH_MEASURES = AssetKey(["mart", "health_measures"])

# The core tables scoring reads: the accounts, the subscriptions (ARR, churn) and every
# dataset a measure reads. Dagster looks up each one's latest materialisation when the
# step starts.
SCORED_FROM = [
    AssetKey(["core", name])
    for name in CORE_ORDER
    if name in {"crm_accounts", "billing_subscriptions"}
    or any(name in measure.datasets for measure in MEASURES.values())
]


def config_frames(by_segment: dict[str, Scorecard]) -> dict[str, pl.DataFrame]:
    """The scorecards in use as the tables the scoring SQL joins."""
    scorecards = {scorecard.name: scorecard for scorecard in by_segment.values()}
    measures, bands, tiers = [], [], []
    for name, scorecard in scorecards.items():
        for dimension, measure, dimension_weight, measure_weight, config in scorecard.measures():
            measures.append(
                (
                    name,
                    dimension,
                    float(dimension_weight),
                    measure,
                    float(measure_weight),
                    MEASURES[measure].banded or bool(config.bands),
                )
            )
            for position, band in enumerate(config.bands or []):
                comparison, bound = band.comparison
                bands.append(
                    (
                        name,
                        measure,
                        position,
                        band.band,
                        comparison,
                        bound,
                        float(scorecard.band_points[band.band]),
                    )
                )
        tiers += [
            (name, position, tier.name, float(tier.min_score), tier.colour, tier.review_cadence)
            for position, tier in enumerate(scorecard.tiers)
        ]

    def frame(rows, schema):
        return pl.DataFrame(rows, schema=schema, orient="row")

    return {
        "segment_scorecards": frame(
            [(segment, scorecard.name) for segment, scorecard in by_segment.items()],
            {"segment": pl.String, "scorecard": pl.String},
        ),
        "scorecard_measures": frame(
            measures,
            {
                "scorecard": pl.String,
                "dimension": pl.String,
                "dimension_weight": pl.Float64,
                "measure": pl.String,
                "measure_weight": pl.Float64,
                "banded": pl.Boolean,
            },
        ),
        "scorecard_bands": frame(
            bands,
            {
                "scorecard": pl.String,
                "measure": pl.String,
                "position": pl.Int32,
                "band": pl.String,
                "comparison": pl.String,
                "bound": pl.Float64,
                "points": pl.Float64,
            },
        ),
        "scorecard_tiers": frame(
            tiers,
            {
                "scorecard": pl.String,
                "position": pl.Int32,
                "tier": pl.String,
                "min_score": pl.Float64,
                "colour": pl.String,
                "review_cadence": pl.String,
            },
        ),
        "scorecard_settings": frame(
            [(name, scorecard.low_data_below) for name, scorecard in scorecards.items()],
            {"scorecard": pl.String, "low_data_below": pl.Float64},
        ),
    }


def create_config_tables(
    connection: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]
) -> None:
    """Each config frame as the temporary table of its name, for the SQL to join."""
    for name, frame in frames.items():
        connection.register("config_frame", frame.to_arrow())
        connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM config_frame")
        connection.unregister("config_frame")


def usage_days(by_segment: dict[str, Scorecard]) -> int:
    """The longest window of the product-event measures in use: how far back the
    events are rolled up."""
    windows = [
        config.parameters.get("window_days", 1)
        for scorecard in by_segment.values()
        for _, measure, _, _, config in scorecard.measures()
        if "product_events" in MEASURES[measure].datasets
    ]
    return int(max(windows, default=1))


def measure_values_sql(by_segment: dict[str, Scorecard], delivered: set[str]) -> str:
    """One query for every measure of every scorecard in use, each kept for the
    accounts of its scorecard (one semi-join over all of them). A measure whose dataset
    was never delivered is missing. Each measure file selects from scored_accounts, one
    row per account (a test holds every file to it): the weighting starts from these
    rows."""
    parts = []
    for scorecard in {scorecard.name: scorecard for scorecard in by_segment.values()}.values():
        for _, measure, _, _, config in scorecard.measures():
            definition = MEASURES[measure]
            if set(definition.datasets) <= delivered:
                query = sql.load(
                    definition.sql_file(measure),
                    **{name: sql.literal(value) for name, value in config.parameters.items()},
                )
            else:
                query = "SELECT account_id, NULL AS raw_value, NULL AS value FROM scored_accounts"
            parts.append(
                f"SELECT '{scorecard.name}' AS scorecard, account_id, '{measure}' AS measure, "
                "CAST(raw_value AS DOUBLE) AS raw_value, CAST(value AS DOUBLE) AS value\n"
                f"FROM (\n{query}\n) AS measured"
            )
    return (
        "CREATE OR REPLACE TEMP TABLE measure_values AS\n"
        + sql.load("usage_rollups", usage_days=str(usage_days(by_segment)))
        + "SELECT measured.* FROM (\n"
        + "\nUNION ALL\n".join(parts)
        + "\n) AS measured\nSEMI JOIN scored_accounts USING (account_id, scorecard)"
    )


def build_health(
    connection: duckdb.DuckDBPyConnection, as_of: dt.date, by_segment: dict[str, Scorecard]
) -> dict:
    """Score every account for `as_of` from the core layer, in one transaction, and
    refresh the history-derived columns it affects. Returns counts for run metadata."""
    delivered = {
        row[0]
        for row in connection.execute(
            "SELECT dataset FROM core.dataset_status WHERE delivered"
        ).fetchall()
    }
    parameters = {"as_of": as_of}
    # The core layer keeps them; a health rerun of an older date may find them dropped.
    update_last_days(connection, as_of)
    with sql.transaction(connection):
        create_config_tables(connection, config_frames(by_segment))
        sql.run(connection, sql.load("core_macros"))
        sql.run(connection, sql.load("health_inputs"), parameters)
        sql.run(connection, measure_values_sql(by_segment, delivered), parameters)
        sql.run(connection, sql.load("health_scores"), parameters)
        sql.run(connection, sql.load("health_history"), parameters)
    tiers = dict(
        connection.execute(
            "SELECT tier, count(*) FROM mart.account_health WHERE as_of_date = ? GROUP BY 1",
            [as_of],
        ).fetchall()
    )
    low_data = sql.scalar(
        connection,
        "SELECT count(*) FROM mart.account_health "
        "WHERE as_of_date = ? AND list_contains(flags, 'low_data')",
        [as_of],
    )
    return {"accounts_scored": sum(tiers.values()), "tiers": tiers, "low_data": low_data}


def score_problems(connection: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Rows of `as_of` that break the score invariants (there should be none)."""
    return connection.sql(
        """
        SELECT account_id, health_score, data_completeness,
               coalesce(usage_score, 0) + coalesce(engagement_score, 0)
               + coalesce(support_score, 0) + coalesce(satisfaction_score, 0)
               + coalesce(financial_score, 0) + coalesce(product_engagement_score, 0)
               + coalesce(relationship_score, 0) + coalesce(sentiment_score, 0)
                   AS dimension_total
        FROM mart.account_health
        WHERE as_of_date = $as_of
          AND (health_score NOT BETWEEN 0 AND 100 OR health_score IS NULL
               OR data_completeness NOT BETWEEN 0 AND 1
               OR abs(dimension_total - health_score) > 0.05 + 1e-9 OR tier IS NULL)
        ORDER BY account_id LIMIT 20""",
        params={"as_of": as_of},
    ).pl()


def build_health_asset(partitions_def: PartitionsDefinition):
    specs = [
        AssetSpec(
            ACCOUNT_HEALTH,
            deps=SCORED_FROM,
            group_name="health",
            kinds={"duckdb", "sql"},
            description="One row per scored account per as-of date: health score, "
            "tier, dimension scores, deltas and drivers.",
        ),
        AssetSpec(
            HEALTH_MEASURES,
            deps=SCORED_FROM,
            group_name="health",
            kinds={"duckdb", "sql"},
            description="Every measure behind every score: raw value, 0..1 value, "
            "weight and contribution in points.",
        ),
    ]
    checks = [
        AssetCheckSpec(
            "scores_consistent",
            asset=ACCOUNT_HEALTH,
            blocking=True,
            description="Scores within 0..100 with a tier, completeness "
            "within 0..1, dimension scores adding up to the "
            "score within 0.05.",
        )
    ]

    @multi_asset(
        specs=specs,
        check_specs=checks,
        partitions_def=partitions_def,
        pool="duckdb_writer",
        name="health_scores",
    )
    def health_scores(context: AssetExecutionContext, warehouse: Warehouse):
        as_of = dt.date.fromisoformat(context.partition_key)
        by_segment = warehouse.scorecards()
        with warehouse.connect() as connection:
            summary = build_health(connection, as_of, by_segment)
            measures = sql.scalar(
                connection,
                "SELECT count(*) FROM mart.health_measures WHERE as_of_date = ?",
                [as_of],
            )
            problems = score_problems(connection, as_of)
            tiers = connection.sql(
                """
                SELECT tier, colour, count(*) AS accounts,
                       round(100 * count(*) / sum(count(*)) OVER (), 1) AS percent,
                       round(avg(health_score), 1) AS average_score
                FROM mart.account_health WHERE as_of_date = ?
                GROUP BY ALL ORDER BY average_score DESC""",
                params=[as_of],
            ).pl()
            preview = connection.sql(
                """
                SELECT account_name, segment, health_score, tier, score_delta_7d, top_drivers
                FROM mart.account_health WHERE as_of_date = ?
                ORDER BY health_score LIMIT 5""",
                params=[as_of],
            ).pl()
        scorecards = {segment: scorecard.name for segment, scorecard in by_segment.items()}
        yield MaterializeResult(
            asset_key=ACCOUNT_HEALTH,
            metadata={
                "accounts_scored": summary["accounts_scored"],
                "tiers": MetadataValue.md(markdown_table(tiers)),
                "lowest_scores": MetadataValue.md(markdown_table(preview)),
                "low_data": summary["low_data"],
                "scorecard_by_segment": scorecards,
            },
        )
        yield MaterializeResult(asset_key=HEALTH_MEASURES, metadata={"rows": measures})
        yield invariant_check(ACCOUNT_HEALTH, "scores_consistent", problems)

    return health_scores
