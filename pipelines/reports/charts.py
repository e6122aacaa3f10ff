"""The reports' charts: Altair specs rendered by vl-convert to SVG (inlined in HTML) or PNG
(beside Markdown). No browser and no network are needed."""

from __future__ import annotations

import re

import altair as alt
import polars as pl
import vl_convert

COLOURS = {"green": "#2e9d5b", "yellow": "#e2a72e", "red": "#d1453b"}
INK = "#27323f"
PEER = "#9aa7b5"
USERS = "#2f6db3"
WIDTH = 560
HEIGHT = 220
FONT = "Helvetica, Arial, sans-serif"


def for_chart(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates as ISO text, which Vega-Lite reads as dates."""
    return frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))


def styled(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (
        chart.configure(font=FONT, background="white")
        .configure_view(stroke=None)
        .configure_axis(labelColor=INK, titleColor=INK, gridColor="#e6eaef")
        .configure_title(color=INK, fontSize=13, anchor="start")
        .configure_legend(labelColor=INK, titleColor=INK, orient="bottom")
    )


def health_score(history: pl.DataFrame, tiers: list[dict]) -> alt.TopLevelMixin:
    """The account's health score by date over the scorecard's tier bands."""
    scores = for_chart(history.select("as_of_date", "health_score", "tier"))
    line = (
        alt.Chart(scores)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=40), color=INK)
        .encode(
            x=alt.X("as_of_date:T", title=None, axis=alt.Axis(format="%d %b")),
            y=alt.Y("health_score:Q", title="Health score", scale=alt.Scale(domain=[0, 100])),
            tooltip=["as_of_date:T", alt.Tooltip("health_score:Q", title="score"), "tier:N"],
        )
    )
    layers = [line]
    if tiers:
        bands = pl.DataFrame(tiers).with_columns(
            fill=pl.col("colour").replace_strict(COLOURS, default="#cccccc")
        )
        rect = (
            alt.Chart(bands)
            .mark_rect(opacity=0.16)
            .encode(
                y="low:Q",
                y2="high",
                color=alt.Color(
                    "name:N",
                    title="Tier",
                    sort=alt.SortField("low", order="descending"),
                    scale=alt.Scale(domain=bands["name"].to_list(), range=bands["fill"].to_list()),
                ),
            )
        )
        layers.insert(0, rect)
    return styled(
        alt.layer(*layers).properties(
            width=WIDTH, height=HEIGHT, title="Health score over time, with the tier bands"
        )
    )


def weekly_active_users(weeks: pl.DataFrame) -> alt.TopLevelMixin:
    """Active users per ISO week as bars (a week still being counted paler), with the
    licensed seats as a line."""
    points = for_chart(
        weeks.select(
            "week_start",
            "as_of_date",
            "complete",
            "active_users",
            "licensed_seats",
            "active_user_share",
            week=pl.col("week_start").dt.strftime("%d %b"),
        )
    )
    order = points["week"].to_list()
    series = ["Weekly active users", "Licensed seats"]
    colour = alt.Scale(domain=series, range=[USERS, INK])
    x = alt.X("week:N", title="Week starting", sort=order, axis=alt.Axis(labelAngle=0))
    tooltip = [
        alt.Tooltip("week_start:T", title="week starting"),
        alt.Tooltip("as_of_date:T", title="counted to"),
        alt.Tooltip("active_users:Q", title="active users"),
        alt.Tooltip("licensed_seats:Q", title="licensed seats"),
        alt.Tooltip("active_user_share:Q", title="of seats", format=".0%"),
    ]
    bars = (
        alt.Chart(points)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("active_users:Q", title="Users"),
            color=alt.ColorDatum(series[0], scale=colour, title=None),
            opacity=alt.condition("datum.complete", alt.value(1.0), alt.value(0.45)),
            tooltip=tooltip,
        )
    )
    seats = (
        alt.Chart(points)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=30), strokeDash=[5, 3])
        .encode(
            x=x,
            y="licensed_seats:Q",
            color=alt.ColorDatum(series[1], scale=colour),
            tooltip=tooltip,
        )
    )
    title = alt.Title(
        "Weekly active users against licensed seats",
        subtitle=[] if points["complete"].all() else ["Paler: a week still being counted"],
        subtitleColor=PEER,
    )
    return styled(alt.layer(bars, seats).properties(width=WIDTH, height=HEIGHT, title=title))


def feature_adoption(features: pl.DataFrame, week: str) -> alt.TopLevelMixin:
    """One bar per catalog feature: the share of the week's active users who used it,
    core features in their own colour and marked in the label."""
    kinds = ["Core feature", "Other feature"]
    bars = features.select(
        "adoption",
        "users",
        "events",
        name=pl.col("feature").str.replace_all("_", " ")
        + pl.when(pl.col("is_core")).then(pl.lit(" (core)")).otherwise(pl.lit("")),
        kind=pl.when(pl.col("is_core")).then(pl.lit(kinds[0])).otherwise(pl.lit(kinds[1])),
    ).with_columns(pl.col("adoption").fill_null(0.0))
    base = alt.Chart(bars).encode(
        y=alt.Y("name:N", title=None, sort=bars["name"].to_list()),
        x=alt.X(
            "adoption:Q",
            title="Active users who used the feature",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
    )
    return styled(
        alt.layer(
            base.mark_bar().encode(
                color=alt.Color(
                    "kind:N", title=None, scale=alt.Scale(domain=kinds, range=[USERS, PEER])
                ),
                tooltip=[
                    "name:N",
                    alt.Tooltip("adoption:Q", format=".1%"),
                    "users:Q",
                    "events:Q",
                ],
            ),
            base.mark_text(align="left", dx=4, color=INK, fontSize=10).encode(
                text=alt.Text("adoption:Q", format=".0%")
            ),
        ).properties(
            width=WIDTH - 160, height=alt.Step(18), title=f"Feature adoption, week of {week}"
        )
    )


def tier_distribution(tiers: pl.DataFrame) -> alt.TopLevelMixin:
    """Scored accounts per tier, coloured by the tier's colour."""
    several = tiers["scorecard"].n_unique() > 1
    bars = tiers.with_columns(
        name=(pl.col("scorecard") + ": " + pl.col("tier")) if several else pl.col("tier"),
        fill=pl.col("colour").replace_strict(COLOURS, default="#cccccc"),
    )
    base = alt.Chart(bars).encode(
        y=alt.Y("name:N", title=None, sort=bars["name"].to_list()),
        x=alt.X("accounts:Q", title="Accounts"),
    )
    return styled(
        alt.layer(
            base.mark_bar().encode(
                color=alt.Color("fill:N", scale=None),
                tooltip=["name:N", "accounts:Q", alt.Tooltip("share:Q", format=".0%")],
            ),
            base.mark_text(align="left", dx=4, color=INK).encode(
                text=alt.Text("share:Q", format=".0%")
            ),
        ).properties(width=WIDTH - 200, height=alt.Step(34), title="Accounts by health tier")
    )


def retention(rows: pl.DataFrame, title: str, with_targets: bool) -> alt.TopLevelMixin:
    """GRR and NRR by the month each period ends in; the targets as dashed rules."""
    long = for_chart(
        pl.concat(
            [
                rows.select("period_end", ratio="grr", target="grr_target", metric=pl.lit("GRR")),
                rows.select("period_end", ratio="nrr", target="nrr_target", metric=pl.lit("NRR")),
            ]
        )
    )
    colour = alt.Color(
        "metric:N", title=None, scale=alt.Scale(domain=["GRR", "NRR"], range=["#2f6db3", "#c2692f"])
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=30))
        .encode(
            x=alt.X("period_end:T", title="Period ending", axis=alt.Axis(format="%b %Y")),
            y=alt.Y(
                "ratio:Q",
                title=None,
                axis=alt.Axis(format="%"),
                scale=alt.Scale(zero=False, nice=True, padding=14),
            ),
            color=colour,
            tooltip=["metric:N", "period_end:T", alt.Tooltip("ratio:Q", format=".1%")],
        )
    )
    layers = [lines]
    if with_targets:
        targets = long.group_by("metric").agg(pl.col("target").last()).drop_nulls()
        layers.append(
            alt.Chart(targets)
            .mark_rule(strokeDash=[6, 4])
            .encode(y="target:Q", color=colour, tooltip=["metric:N", "target:Q"])
        )
    return styled(alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=title))


def renewals(rows: pl.DataFrame, days: int) -> alt.TopLevelMixin:
    """ARR overdue and renewing in the next `days` days by stage, split by renewal zone;
    stages in order of their renewal dates (the stages are config)."""
    zones = ["green", "yellow", "red"]
    stages = (rows.group_by("stage").agg(pl.col("days_to_renewal").min()).sort("days_to_renewal"))[
        "stage"
    ].to_list()
    # Summed here, not in Vega-Lite: a large book renews thousands of accounts.
    totals = (
        rows.group_by("stage", "renewal_zone")
        .agg(pl.col("arr").sum())
        .sort("stage", "renewal_zone")
    )
    return styled(
        alt.Chart(totals)
        .mark_bar()
        .encode(
            y=alt.Y("stage:N", title=None, sort=stages),
            x=alt.X("arr:Q", title="ARR renewing (USD)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color(
                "renewal_zone:N",
                title="Renewal zone",
                sort=zones,
                scale=alt.Scale(domain=zones, range=[COLOURS[zone] for zone in zones]),
            ),
            order=alt.Order("renewal_zone:N"),
            tooltip=["stage:N", "renewal_zone:N", alt.Tooltip("arr:Q", format="$,.0f")],
        )
        .properties(
            width=WIDTH - 100, title=f"Renewals overdue and in the next {days} days by stage"
        )
    )


def spec(chart: alt.TopLevelMixin) -> str:
    """The chart's Vega-Lite JSON, validated once, for svg() and png()."""
    return chart.to_json(validate=False)


def svg(chart_spec: str, prefix: str) -> str:
    """The chart as SVG to inline in HTML: no XML prolog or namespace URLs (HTML5 knows
    <svg>) and ids prefixed, so several charts on one page keep their own clip paths."""
    text = vl_convert.vegalite_to_svg(chart_spec)
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    return re.sub(r"(url\(#|href=\"#)([^)\"]+)", rf"\g<1>{prefix}-\2", text)


def png(chart_spec: str) -> bytes:
    return vl_convert.vegalite_to_png(chart_spec, scale=2)
