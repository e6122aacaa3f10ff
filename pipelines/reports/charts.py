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
WIDTH = 560
HEIGHT = 220
FONT = "Helvetica, Arial, sans-serif"
STAGES = ["T-30", "T-60", "T-90", "T-120"]


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
    scores = for_chart(history.select("as_of_date", "value", "tier"))
    line = (
        alt.Chart(scores)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=40), color=INK)
        .encode(
            x=alt.X("as_of_date:T", title=None, axis=alt.Axis(format="%d %b")),
            y=alt.Y("value:Q", title="Health score", scale=alt.Scale(domain=[0, 100])),
            tooltip=["as_of_date:T", alt.Tooltip("value:Q", title="score"), "tier:N"],
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


def active_users(history: pl.DataFrame, measure: str, label: str, target: float | None):
    """Active users against licensed seats (seat_utilisation: 1.0 = every seat active), or
    daily against monthly active users (dau_mau), by date."""
    points = for_chart(history.select("as_of_date", "value"))
    line = (
        alt.Chart(points)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=40), color="#2f6db3")
        .encode(
            x=alt.X("as_of_date:T", title=None, axis=alt.Axis(format="%d %b")),
            y=alt.Y("value:Q", title=label, axis=alt.Axis(format="%")),
            tooltip=["as_of_date:T", alt.Tooltip("value:Q", format=".1%", title=label)],
        )
    )
    rules = pl.DataFrame(
        {
            "level": [1.0] + ([target] if target is not None else []),
            "meaning": ["every licensed seat" if measure == "seat_utilisation" else "100%"]
            + ([f"target {target:.0%}"] if target is not None else []),
        }
    )
    rule = (
        alt.Chart(rules)
        .mark_rule(strokeDash=[5, 4], color=PEER)
        .encode(y="level:Q", tooltip=["meaning:N"])
    )
    text = (
        alt.Chart(rules)
        .mark_text(align="left", dx=4, dy=-6, color=PEER, fontSize=10)
        .encode(y="level:Q", x=alt.value(0), text="meaning:N")
    )
    title = (
        "Active users against licensed seats (30-day active users / seats)"
        if measure == "seat_utilisation"
        else "Daily against monthly active users"
    )
    return styled(alt.layer(rule, text, line).properties(width=WIDTH, height=HEIGHT, title=title))


def adoption(measures: pl.DataFrame) -> alt.TopLevelMixin:
    """Adoption shares of the account beside its segment's median, one bar pair each."""
    long = pl.concat(
        [
            measures.select("label", share="raw_value", who=pl.lit("This account")),
            measures.select("label", share="segment_median_raw", who=pl.lit("Segment median")),
        ]
    )
    return styled(
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("label:N", title=None, sort=measures["label"].to_list()),
            yOffset=alt.YOffset("who:N", sort=["This account", "Segment median"]),
            x=alt.X("share:Q", title="Adoption", axis=alt.Axis(format="%")),
            color=alt.Color(
                "who:N",
                title=None,
                sort=["This account", "Segment median"],
                scale=alt.Scale(range=["#2f6db3", PEER]),
            ),
            tooltip=["label:N", "who:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=WIDTH - 120, title="Feature and seat adoption")
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
    """ARR renewing in the next `days` days by stage, split by renewal zone."""
    zones = ["green", "yellow", "red"]
    # Summed here, not in Vega-Lite: a large book renews thousands of accounts.
    totals = rows.group_by("stage", "renewal_zone").agg(pl.col("arr").sum())
    return styled(
        alt.Chart(totals)
        .mark_bar()
        .encode(
            y=alt.Y("stage:N", title=None, sort=STAGES),
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
        .properties(width=WIDTH - 100, title=f"Renewals in the next {days} days by stage")
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
