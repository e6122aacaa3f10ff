"""The figures behind the reports, read from the published warehouse.

Only the file analysts open is read, over a read-only connection, and only its `mart`
tables: SQL (sql/reports_*.sql) selects, polars shapes. Nothing here formats text; the
templates do.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import polars as pl

import sql
from pipelines.operations import Portfolio as OperationsPortfolio
from pipelines.reports.config import ReportConfig
from pipelines.scorecards import Scorecard, load_scorecard
from pipelines.settings import ConfigError

REQUIRED_TABLES = (
    "account_health",
    "health_measures",
    "health_alerts",
    "risk_register",
    "renewal_pipeline",
    "portfolio_kpis",
    "retention",
    "mrr_movements",
    "expansion_opportunities",
    "onboarding",
    "weekly_usage",
    "feature_adoption",
)
# Days until an action item is due, by the severity of its alert or the account's cadence.
DUE_DAYS_BY_SEVERITY = {"critical": 1, "high": 7, "medium": 14, "info": 30}
DUE_DAYS_BY_CADENCE = {"weekly": 7, "bi-weekly": 14, "monthly": 30}


class ReportError(Exception):
    """A report that cannot be built, said in one line."""


@dataclass(frozen=True)
class Measure:
    """How a report shows a measure of mart.health_measures: its name for people, the unit
    of raw_value and what to do when it is weak. The target a QBR holds it to is in
    config/reports.yaml (`targets`)."""

    label: str
    unit: str  # share, per_week, count, days, score1, score5, score10, nps, percentile, level, usd
    section: str  # usage, engagement, support, satisfaction, financial
    advice: str = ""
    period: str = ""  # the scorecard parameter whose days the label names, if any

    def label_for(self, parameters: dict[str, float]) -> str:
        """The label with the period the account's scorecard measures over: a team that
        sets `window_days: 60` reads "Support tickets (60 days)"."""
        return with_period(self.label, parameters.get(self.period))


# The scorecard parameters that name a measure's period.
WINDOW, LOOKBACK = "window_days", "lookback_days"

MEASURES: dict[str, Measure] = {
    "seat_utilisation": Measure(
        "Active users / licensed seats",
        "share",
        "usage",
        "Get the inactive seats started: targeted training for the teams not logging in",
        WINDOW,
    ),
    "feature_breadth": Measure(
        "Catalog features used",
        "share",
        "usage",
        "Run a workflow workshop on the features the team has not tried yet",
        WINDOW,
    ),
    "core_feature_adoption": Measure(
        "Core features used",
        "share",
        "usage",
        "Enable the core features still unused and show one workflow for each",
        WINDOW,
    ),
    "login_rate": Measure(
        "Logins per seat per week",
        "per_week",
        "usage",
        "Build a weekly habit: a recurring review meeting run inside the product",
        WINDOW,
    ),
    "dau_mau": Measure(
        "Daily / monthly active users",
        "share",
        "usage",
        "Move a daily task into the product so users return every day",
        WINDOW,
    ),
    "depth_of_use": Measure(
        "Depth of use, percentile in segment",
        "percentile",
        "usage",
        "Pair light users with the most active ones to spread advanced workflows",
        WINDOW,
    ),
    "email_response": Measure(
        "Email reply rate",
        "share",
        "engagement",
        "Agree on one channel and a named owner on each side",
        WINDOW,
    ),
    "meeting_attendance": Measure(
        "Meetings held / booked",
        "share",
        "engagement",
        "Confirm the meeting cadence and send agendas ahead",
        WINDOW,
    ),
    "qbr_participation": Measure(
        "Business reviews held",
        "count",
        "engagement",
        "Book the next business review with the executive sponsor",
        WINDOW,
    ),
    "contact_recency": Measure(
        "Days since two-way contact",
        "days",
        "engagement",
        advice="Reach out this week with a short value recap",
    ),
    "executive_sponsor": Measure(
        "Executive sponsor (2 engaged, 1 identified)",
        "level",
        "engagement",
        advice="Meet the executive sponsor and agree on the next quarter's goals",
    ),
    "csm_engagement": Measure(
        "CS habits met: regular meetings and replies",
        "level",
        "engagement",
        "Restart regular check-ins",
        WINDOW,
    ),
    "nps": Measure(
        "NPS, -100..100",
        "nps",
        "satisfaction",
        "Follow up with the detractors and close the loop on their feedback",
        WINDOW,
    ),
    "nps_category": Measure(
        "Mean NPS answer, 0-10",
        "score10",
        "satisfaction",
        "Follow up with the detractors and close the loop on their feedback",
        WINDOW,
    ),
    "csat": Measure(
        "CSAT survey score",
        "score5",
        "satisfaction",
        "Review the low CSAT answers together and agree on fixes",
        WINDOW,
    ),
    "feedback": Measure(
        "Feedback survey score",
        "score5",
        "satisfaction",
        "Review the low survey answers together and agree on fixes",
        WINDOW,
    ),
    "sentiment": Measure(
        "Ticket sentiment, 0-1",
        "score1",
        "support",
        "Walk through the open frustrations in the next check-in",
        WINDOW,
    ),
    "sentiment_trend": Measure(
        "Sentiment trend (recent - earlier)",
        "delta",
        "support",
        advice="Walk through the open frustrations in the next check-in",
    ),
    "ticket_volume": Measure(
        "Support tickets",
        "count",
        "support",
        "Find the top ticket themes and fix their root cause with support",
        WINDOW,
    ),
    "critical_share": Measure(
        "Urgent share of tickets",
        "share",
        "support",
        "Review the urgent tickets with support and the customer's admins",
        WINDOW,
    ),
    "support_csat": Measure(
        "Support CSAT",
        "score5",
        "support",
        "Review the low-rated tickets with the support team",
        WINDOW,
    ),
    "payment_status": Measure(
        "Days the oldest open invoice is overdue",
        "days",
        "financial",
        advice="Settle the overdue invoice with finance",
    ),
    "payment_history": Measure(
        "Late invoices",
        "count",
        "financial",
        "Agree on a payment schedule with finance",
        WINDOW,
    ),
    "growth_trajectory": Measure("MRR change in USD", "usd", "financial", period=LOOKBACK),
    "expansion": Measure("MRR growth over the base", "share", "financial", period=LOOKBACK),
    "renewal_budget": Measure(
        "Renewal budget confirmed (1 yes)",
        "level",
        "financial",
        advice="Confirm the renewal budget with the sponsor",
    ),
}

# The figures the monthly update quotes, in this order, when the scorecard has them.
MONTHLY_NUMBERS = (
    "seat_utilisation",
    "dau_mau",
    "feature_breadth",
    "core_feature_adoption",
    "login_rate",
    "ticket_volume",
    "support_csat",
    "nps",
)


class Kpi(NamedTuple):
    """How the portfolio page shows a KPI of mart.portfolio_kpis: its label, its unit, and
    the key of `portfolio` in config/operations.yaml whose days the label names, if any,
    in the words of `period_text`."""

    label: str
    unit: str
    period: str = ""
    period_text: str = "{days:g} days"


KPIS: dict[str, Kpi] = {
    "share_green": Kpi("Accounts green", "share"),
    "share_yellow": Kpi("Accounts yellow", "share"),
    "share_red": Kpi("Accounts red", "share"),
    "avg_health": Kpi("Average health score", "score100"),
    "nps": Kpi("NPS", "nps", "nps_window_days"),
    "csat": Kpi("CSAT", "score5", "csat_window_days"),
    "qbr_completion": Kpi("QBR completion", "share", "qbr_window_days"),
    "grr": Kpi("Gross revenue retention (TTM)", "share"),
    "nrr": Kpi("Net revenue retention (TTM)", "share"),
    "logo_retention": Kpi("Logo retention (TTM)", "share"),
    "time_to_first_value": Kpi(
        "Median days to first value",
        "days",
        "first_value_window_days",
        "contracts started in the last {days:g} days",
    ),
    "accounts_per_csm": Kpi("Accounts per CSM", "count"),
}


def with_period(label: str, days: float | None, period_text: str = "{days:g} days") -> str:
    """The label of a figure taken over `days` days: "Support tickets (60 days)"."""
    return label if days is None else f"{label} ({period_text.format(days=days)})"


def measure_catalogue(
    targets: dict[str, tuple[str, float]], scorecard: Scorecard | None
) -> pl.DataFrame:
    """MEASURES as a frame with each measure's label for the scorecard's periods and its
    target (comparison, bound; null without one), to join onto mart rows."""
    parameters = (
        {measure: config.parameters for _, measure, _, _, config in scorecard.measures()}
        if scorecard
        else {}
    )
    return pl.DataFrame(
        [
            {
                "measure": name,
                "label": info.label_for(parameters.get(name, {})),
                "unit": info.unit,
                "section": info.section,
                "advice": info.advice,
                "comparison": targets[name][0] if name in targets else None,
                "target": targets[name][1] if name in targets else None,
            }
            for name, info in MEASURES.items()
        ],
        schema={
            "measure": pl.String,
            "label": pl.String,
            "unit": pl.String,
            "section": pl.String,
            "advice": pl.String,
            "comparison": pl.String,
            "target": pl.Float64,
        },
    )


def kpi_catalogue(scoreboard: OperationsPortfolio) -> pl.DataFrame:
    """KPIS as a frame, each label with the period the scoreboard config gives it."""
    windows = scoreboard.model_dump()
    return pl.DataFrame(
        {
            "kpi": list(KPIS),
            "label": [
                with_period(kpi.label, windows.get(kpi.period), kpi.period_text)
                for kpi in KPIS.values()
            ],
            "unit": [kpi.unit for kpi in KPIS.values()],
            "position": list(range(len(KPIS))),
        }
    )


def meets(value: pl.Expr, comparison: pl.Expr, target: pl.Expr) -> pl.Expr:
    """value compared with target by the comparison in each row; null without both."""
    return (
        pl.when(value.is_null() | target.is_null())
        .then(None)
        .when(comparison == ">")
        .then(value > target)
        .when(comparison == ">=")
        .then(value >= target)
        .when(comparison == "<")
        .then(value < target)
        .when(comparison == "<=")
        .then(value <= target)
    )


@contextmanager
def open_published(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published file, closed on exit (DuckDB shares an open
    file within a process: a later publish is seen only once it is closed)."""
    if not path.is_file():
        raise ReportError(
            f"published warehouse not found: {path} (run `cshealth run` or `cshealth demo`)"
        )
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ReportError(f"cannot open {path} read-only: {str(exc).splitlines()[0]}") from None
    try:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'mart'"
            ).fetchall()
        }
        missing = [name for name in REQUIRED_TABLES if name not in tables]
        if missing:
            raise ReportError(
                f"{path} is not a published cshealth warehouse: mart.{missing[0]} is missing"
            )
        sql.run(connection, sql.load("session_macros"))
        yield connection
    finally:
        connection.close()


def query(connection: duckdb.DuckDBPyConnection, name: str, **parameters) -> pl.DataFrame:
    """The rows of `sql/<name>.sql`, given the `$parameters` it names."""
    text = sql.load(name)
    used = {key: value for key, value in parameters.items() if re.search(rf"\${key}\b", text)}
    return connection.sql(text, params=used or None).pl()


def one_row(frame: pl.DataFrame) -> dict | None:
    return frame.row(0, named=True) if frame.height else None


def account_rows(connection: duckdb.DuckDBPyConnection, table: str, account_id: str):
    """The account's rows of a latest-only mart (`table` is one of REQUIRED_TABLES)."""
    if table not in REQUIRED_TABLES:
        raise ValueError(f"not a mart the reports read: {table}")
    return connection.sql(
        f"SELECT * FROM mart.{table} WHERE account_id = $account_id",
        params={"account_id": account_id},
    ).pl()


def account_row(connection: duckdb.DuckDBPyConnection, table: str, account_id: str):
    return one_row(account_rows(connection, table, account_id))


def published_dates(connection: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    """The first and the newest as-of date with scores in the published file."""
    first, latest = connection.execute(
        "SELECT min(as_of_date), max(as_of_date) FROM mart.account_health"
    ).fetchall()[0]
    if latest is None:
        raise ReportError("the published warehouse holds no health scores yet")
    return first, latest


def resolve_as_of(connection: duckdb.DuckDBPyConnection, as_of: dt.date | None) -> dt.date:
    """`as_of`, or the newest published date; an error when no scores are published for it."""
    first, latest = published_dates(connection)
    if as_of is None:
        return latest
    scored = sql.scalar(
        connection, "SELECT count(*) FROM mart.account_health WHERE as_of_date = ?", [as_of]
    )
    if not scored:
        raise ReportError(
            f"no scores published for {as_of}: the published warehouse holds {first} .. {latest}"
        )
    return as_of


def top_accounts(connection: duckdb.DuckDBPyConnection, count: int) -> list[str]:
    """The first `count` accounts of the risk register: the ones to call first."""
    frame = query(connection, "reports_risk_register", limit=count)
    return frame["account_id"].to_list()


@dataclass
class AccountFigures:
    """Everything an account's QBR pack or monthly update says, for one as-of date."""

    as_of: dt.date
    latest: dt.date  # newest published date: the work lists (risk, renewal...) reflect it
    period_days: int
    config: ReportConfig  # config/reports.yaml
    account: dict  # mart.account_health on as_of, with the period's start and segment median
    measures: pl.DataFrame  # one row per measure, with label, unit, target, met, trend
    history: pl.DataFrame  # as_of_date, health_score, tier: each published date of the period
    weekly_usage: pl.DataFrame  # mart.weekly_usage from compare_weeks before the period
    usage_week: dict | None  # the row of weekly_usage that features and power users describe
    features: pl.DataFrame  # mart.feature_adoption of the usage week, one row per feature
    alerts: pl.DataFrame  # episodes open on as_of or cleared in the period
    actions: pl.DataFrame  # item, source, owner, due
    mrr: pl.DataFrame  # last 13 months of MRR with movements
    expansion: pl.DataFrame  # open expansion opportunities
    risk: dict | None  # the account's row of mart.risk_register
    renewal: dict | None  # ... of mart.renewal_pipeline
    onboarding: dict | None  # ... of mart.onboarding
    tiers: list[dict]  # name, colour, low, high: the scorecard's tier bands

    @property
    def worklists_current(self) -> bool:
        """Whether the latest-only marts describe this as-of date."""
        return self.as_of == self.latest

    def section(self, name: str) -> pl.DataFrame:
        return self.measures.filter(pl.col("section") == name)

    @property
    def dimensions(self) -> pl.DataFrame:
        """Points each dimension adds to the score, out of the points it is worth."""
        return (
            self.measures.group_by("dimension")
            .agg(points=pl.col("contribution").sum(), worth=pl.col("effective_weight").sum())
            .sort("worth", "dimension", descending=[True, False])
        )

    @property
    def success_metrics(self) -> pl.DataFrame:
        return self.measures.filter(pl.col("target").is_not_null()).sort("weight", descending=True)

    @property
    def weakest_usage(self) -> pl.DataFrame:
        usage = self.section("usage").filter(pl.col("value").is_not_null())
        return usage.filter(pl.col("value") < 0.6).sort("value").head(3)

    @property
    def weakest(self) -> pl.DataFrame:
        return weakest_measures(self.measures)

    @property
    def open_alerts(self) -> pl.DataFrame:
        return self.alerts.filter(pl.col("is_open"))

    @property
    def cleared_alerts(self) -> pl.DataFrame:
        return self.alerts.filter(~pl.col("is_open"))

    @property
    def period_weeks(self) -> pl.DataFrame:
        """The weeks of weekly_usage that start in the period, oldest first."""
        return self.weekly_usage.filter(pl.col("week_start") >= self.since)

    @property
    def most_used_features(self) -> pl.DataFrame:
        """The features used by the largest share of the usage week's active users (then
        by events), among those used at all."""
        return (
            self.features.filter(pl.col("users") > 0)
            .sort("adoption", "events", "feature", descending=[True, True, False])
            .head(self.config.features.most_used)
        )

    @property
    def under_used_features(self) -> pl.DataFrame:
        """Features used by under `features.under_used_below` of the usage week's active
        users (unused ones too), core features first, then the least adopted."""
        features = self.config.features
        return (
            self.features.join(self.most_used_features, on="feature", how="anti")
            .filter(pl.col("adoption") < features.under_used_below)
            .sort(pl.col("is_core").not_(), "adoption", "events", "feature", nulls_last=True)
            .head(features.under_used)
        )

    @property
    def power_users(self) -> pl.DataFrame:
        """The usage week's most active users: product user id, active days, events."""
        if self.usage_week is None:
            return pl.DataFrame(
                schema={"user_id": pl.String, "active_days": pl.Int64, "events": pl.Int64}
            )
        return (
            self.weekly_usage.filter(pl.col("week_start") == self.usage_week["week_start"])
            .select(pl.col("top_users").explode())
            .drop_nulls()
            .unnest("top_users")
        )

    @property
    def active_users_trend(self) -> dict | None:
        """Active users and seats of the usage week and of the week `periods.compare_weeks`
        before it (None when that week is not published)."""
        if self.usage_week is None:
            return None
        weeks = self.config.periods.compare_weeks
        earlier_start = self.usage_week["week_start"] - dt.timedelta(weeks=weeks)
        earlier = one_row(self.weekly_usage.filter(pl.col("week_start") == earlier_start))
        return {
            **self.usage_week,
            "earlier_week_start": earlier_start,
            "earlier_active_users": earlier["active_users"] if earlier else None,
            "earlier_licensed_seats": earlier["licensed_seats"] if earlier else None,
        }

    @property
    def numbers(self) -> pl.DataFrame:
        """The monthly update's figures, in MONTHLY_NUMBERS order."""
        order = pl.DataFrame(
            {"measure": list(MONTHLY_NUMBERS), "position": range(len(MONTHLY_NUMBERS))}
        )
        return (
            self.measures.join(order, on="measure")
            .filter(pl.col("raw_value").is_not_null())
            .sort("position")
        )

    @property
    def measure_wins(self) -> pl.DataFrame:
        """Measures whose value rose by `trends.win_min_gain` or more in the period,
        biggest first."""
        gain = self.config.trends.win_min_gain
        return (
            self.measures.filter(pl.col("value") - pl.col("start_value") >= gain)
            .sort(pl.col("contribution") - pl.col("start_contribution"), descending=True)
            .head(3)
        )

    @property
    def targets_met(self) -> pl.DataFrame:
        return self.success_metrics.filter(pl.col("met").fill_null(False))

    @property
    def score_change(self) -> float | None:
        start = self.account["period_start_score"]
        if start is None or self.account["period_start_date"] == self.as_of:
            return None
        return round(self.account["health_score"] - start, 1)

    @property
    def since(self) -> dt.date:
        return self.as_of - dt.timedelta(days=self.period_days)

    @property
    def next_review(self) -> dt.date:
        return self.as_of + dt.timedelta(days=self.period_days)

    @property
    def mrr_summary(self) -> dict | None:
        """MRR in the first and the last of the 13 months, and the movements between them
        added up by kind (expansion, contraction, ...)."""
        if not self.mrr.height:
            return None
        first, last = self.mrr.row(0, named=True), self.mrr.row(-1, named=True)
        movements = (
            self.mrr.slice(1)
            .filter(pl.col("movement").is_not_null())
            .group_by("movement")
            .agg(pl.col("mrr_change").sum(), months=pl.len())
            .sort("movement")
        )
        return {
            "start_month": first["month"],
            "start_mrr": first["mrr"],
            "end_month": last["month"],
            "end_mrr": last["mrr"],
            "movements": movements.to_dicts(),
        }

    @property
    def expansion_mrr(self) -> float:
        """MRR added by expansions and reactivations in months that began in the period."""
        since = self.as_of - dt.timedelta(days=self.period_days)
        gained = self.mrr.filter(
            pl.col("movement").is_in(["expansion", "reactivation"]) & (pl.col("month") > since)
        )
        return float(gained["mrr_change"].sum())


def readable_scorecard(name: str) -> Scorecard | None:
    """The account's scorecard as configured now; None when its file cannot be read (a
    custom one no longer where it was)."""
    try:
        return load_scorecard(name)
    except (ConfigError, OSError):
        return None


def tier_bands(scorecard: Scorecard | None) -> list[dict]:
    """The scorecard's tiers as score bands (low inclusive), best first; none without a
    scorecard."""
    if scorecard is None:
        return []
    ordered = sorted(scorecard.tiers, key=lambda tier: tier.min_score, reverse=True)
    highs = [100.0, *(tier.min_score for tier in ordered[:-1])]
    return [
        {"name": tier.name, "colour": tier.colour, "low": tier.min_score, "high": high}
        for tier, high in zip(ordered, highs, strict=True)
    ]


def account_measures(
    frame: pl.DataFrame, config: ReportConfig, scorecard: Scorecard | None
) -> pl.DataFrame:
    """mart.health_measures rows with what the reports need: label, unit, target, whether
    it is met, the trend (better, worse or steady: the 0..1 value, where higher is always
    better) and the points lost to full marks."""
    catalogue = measure_catalogue(config.targets, scorecard)
    known = frame.join(catalogue, on="measure", how="left")
    steady = config.trends.steady_below
    change = pl.col("value") - pl.col("start_value")
    return known.with_columns(
        pl.col("label").fill_null(pl.col("measure")),
        pl.col("unit").fill_null("number"),
        pl.col("section").fill_null(pl.col("dimension")),
        pl.col("advice").fill_null(""),
        met=meets(pl.col("raw_value"), pl.col("comparison"), pl.col("target")),
        trend=pl.when(change.is_null())
        .then(None)
        .when(change > steady)
        .then(pl.lit("better"))
        .when(change < -steady)
        .then(pl.lit("worse"))
        .otherwise(pl.lit("steady")),
        points_lost=(pl.col("effective_weight") - pl.col("contribution")).round(1),
    )


def choose_usage_week(weekly_usage: pl.DataFrame, since: dt.date) -> dict | None:
    """The week a pack describes usage for: the newest complete week starting on or after
    `since`, else the newest week (still being counted) that does; None without either."""
    return one_row(
        weekly_usage.filter(pl.col("week_start") >= since).sort(
            "complete", "week_start", descending=True
        )
    )


def weakest_measures(measures: pl.DataFrame, count: int = 3) -> pl.DataFrame:
    """The measures losing the most points to full marks that have advice to give."""
    return (
        measures.filter((pl.col("points_lost") > 0) & (pl.col("advice") != ""))
        .sort("points_lost", "measure", descending=[True, False])
        .head(count)
    )


def action_items(
    measures: pl.DataFrame,
    alerts: pl.DataFrame,
    risk: dict | None,
    as_of: dt.date,
    current: bool,
    advice_due_days: int,
) -> pl.DataFrame:
    """What to do next, each action once (its first source kept): the advice for the
    measures losing the most points (with the customer, due in `advice_due_days`), the open
    alerts' actions (due by severity, counted from the day the alert was raised: a save
    call due a week ago stays a week late), then the tier playbook of the risk register (due by
    review cadence; only when the register describes as_of)."""
    columns = {"item": pl.String, "source": pl.String, "owner": pl.String, "due": pl.Date}
    from_measures = weakest_measures(measures).select(
        item=pl.col("advice"),
        source=pl.lit("measure: ") + pl.col("label"),
        owner=pl.lit("CSM and customer"),
        due=pl.lit(as_of + dt.timedelta(days=advice_due_days)),
    )
    from_alerts = (
        alerts.filter(pl.col("is_open"))
        .select(
            item=pl.col("actions"),
            source=pl.lit("alert: ") + pl.col("alert_type"),
            owner=pl.lit("CSM"),
            due=pl.col("raised_on")
            + pl.duration(days=pl.col("severity").replace_strict(DUE_DAYS_BY_SEVERITY, default=14)),
        )
        .explode("item")
    )
    playbook = pl.DataFrame(schema=columns)
    if risk and current and risk["recommended_actions"]:
        days = DUE_DAYS_BY_CADENCE.get(risk["review_cadence"], 30)
        playbook = pl.DataFrame(
            {"item": risk["recommended_actions"]}, schema={"item": pl.String}
        ).with_columns(
            source=pl.lit(f"{risk['tier']} playbook"),
            owner=pl.lit("CSM"),
            due=pl.lit(as_of + dt.timedelta(days=days)),
        )
    return (
        pl.concat([frame.cast(columns) for frame in (from_measures, from_alerts, playbook)])
        .filter(pl.col("item").is_not_null())
        .unique(subset="item", keep="first", maintain_order=True)
    )


def account_figures(
    connection: duckdb.DuckDBPyConnection,
    account_id: str,
    config: ReportConfig,
    as_of: dt.date | None = None,
    period_days: int | None = None,
) -> AccountFigures:
    """The figures of one account for `as_of` (default: the newest published date), over
    the last `period_days` (default: the QBR's `periods.qbr_days`)."""
    period_days = period_days or config.periods.qbr_days
    as_of = resolve_as_of(connection, as_of)
    _, latest = published_dates(connection)
    since = as_of - dt.timedelta(days=period_days)
    parameters = {"account_id": account_id, "as_of": as_of, "since": since}
    account = one_row(query(connection, "reports_account_health", **parameters))
    if account is None:
        scored = connection.execute(
            "SELECT min(as_of_date), max(as_of_date) FROM mart.account_health WHERE account_id = ?",
            [account_id],
        ).fetchall()[0]
        if scored[0] is None:
            raise ReportError(f"unknown account '{account_id}': not in mart.account_health")
        raise ReportError(
            f"account '{account_id}' has no score on {as_of} (scored {scored[0]} .. {scored[1]})"
        )
    alerts = query(connection, "reports_account_alerts", **parameters)
    scorecard = readable_scorecard(account["scorecard"])
    measures = account_measures(
        query(connection, "reports_account_measures", **parameters), config, scorecard
    )
    risk = account_row(connection, "risk_register", account_id)
    current = risk is not None and risk["as_of_date"] == as_of
    weekly_usage = query(
        connection,
        "reports_account_weekly_usage",
        weeks_since=since - dt.timedelta(weeks=config.periods.compare_weeks),
        **parameters,
    )
    usage_week = choose_usage_week(weekly_usage, since)
    features = query(
        connection,
        "reports_account_feature_adoption",
        week_start=usage_week["week_start"] if usage_week else None,
        week_as_of=usage_week["as_of_date"] if usage_week else None,
        **parameters,
    )
    return AccountFigures(
        as_of=as_of,
        latest=latest,
        period_days=period_days,
        config=config,
        account=account,
        measures=measures,
        history=query(connection, "reports_account_history", **parameters),
        weekly_usage=weekly_usage,
        usage_week=usage_week,
        features=features,
        alerts=alerts,
        actions=action_items(measures, alerts, risk, as_of, current, config.periods.qbr_days // 3),
        mrr=query(connection, "reports_account_mrr", **parameters),
        expansion=account_rows(connection, "expansion_opportunities", account_id).sort(
            "opportunity_type"
        ),
        risk=risk,
        renewal=account_row(connection, "renewal_pipeline", account_id),
        onboarding=account_row(connection, "onboarding", account_id),
        tiers=tier_bands(scorecard),
    )


@dataclass
class PortfolioFigures:
    """What the CS leader's page shows, for the newest published date."""

    as_of: dt.date
    headline: dict  # accounts, arr, avg_health_score, open alerts, upcoming and overdue renewals
    tiers: pl.DataFrame
    kpis: pl.DataFrame  # the book's scoreboard, in KPIS order
    kpis_by_csm: pl.DataFrame  # every CSM x every KPI, in KPIS order
    retention: pl.DataFrame
    risk: pl.DataFrame
    renewals: pl.DataFrame  # overdue ones first, then those due in renewal_window_days
    renewal_window_days: int

    @property
    def retention_ttm(self) -> pl.DataFrame:
        return self.retention.filter(pl.col("grain") == "ttm")

    @property
    def retention_monthly(self) -> pl.DataFrame:
        return self.retention.filter(pl.col("grain") == "month")

    @property
    def csms(self) -> list[str]:
        return self.kpis_by_csm["group_value"].unique(maintain_order=True).to_list()


def portfolio_figures(
    connection: duckdb.DuckDBPyConnection, config: ReportConfig, scoreboard: OperationsPortfolio
) -> PortfolioFigures:
    """The portfolio page's figures for the newest published date; `scoreboard` is the
    `portfolio` part of config/operations.yaml, which computed the KPIs."""
    portfolio = config.portfolio
    as_of = resolve_as_of(connection, None)
    kpis = (
        connection.sql(
            "SELECT * FROM mart.portfolio_kpis WHERE as_of_date = $as_of", params={"as_of": as_of}
        )
        .pl()
        .join(kpi_catalogue(scoreboard), on="kpi", how="left")
        .with_columns(
            pl.col("label").fill_null(pl.col("kpi")),
            pl.col("unit").fill_null("number"),
            pl.col("position").fill_null(len(KPIS)),
        )
    )
    book = kpis.filter(pl.col("group_by") == "all").sort("position", "kpi")
    by_csm = kpis.filter(pl.col("group_by") == "csm")
    every_cell = (
        by_csm.select("group_value")
        .unique()
        .join(book.select("kpi", "label", "unit", "position"), how="cross")
        .join(
            by_csm.select("group_value", "kpi", "value", "met"),
            on=["group_value", "kpi"],
            how="left",
        )
        .sort("group_value", "position")
    )
    renewals = query(connection, "reports_renewals", days=portfolio.renewal_window_days)
    upcoming = renewals.filter(pl.col("days_to_renewal") >= 0)
    overdue = renewals.filter(pl.col("days_to_renewal") < 0)
    return PortfolioFigures(
        as_of=as_of,
        headline={
            **query(connection, "reports_headline", as_of=as_of).row(0, named=True),
            "renewals": upcoming.height,
            "renewal_arr": float(upcoming["arr"].sum()),
            "renewal_arr_at_risk": float(upcoming["arr_at_risk"].sum()),
            "overdue_renewals": overdue.height,
            "overdue_renewal_arr": float(overdue["arr"].sum()),
        },
        tiers=query(connection, "reports_tier_distribution", as_of=as_of),
        kpis=book,
        kpis_by_csm=every_cell,
        retention=query(connection, "reports_retention", months=portfolio.retention_months),
        risk=query(connection, "reports_risk_register", limit=portfolio.risk_register_rows),
        renewals=renewals,
        renewal_window_days=portfolio.renewal_window_days,
    )
