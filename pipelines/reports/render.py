"""Render the reports with Jinja2 and write them under an output folder.

Layout under `out`, by the as-of date the figures are for:

    <as_of>/portfolio.html
    <as_of>/qbr/<account>.md, <account>.html, <account>-<chart>.png (the Markdown's images)
    <as_of>/monthly/<account>.txt

Each file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from pathlib import Path

import duckdb
import jinja2
import polars as pl

from pipelines.operations import Operations, load_operations
from pipelines.reports import charts
from pipelines.reports.config import ReportConfig, load_report_config
from pipelines.reports.data import (
    AccountFigures,
    PortfolioFigures,
    account_figures,
    open_published,
    portfolio_figures,
    top_accounts,
)

TIER_MARKS = {"green": "🟢", "yellow": "🟡", "red": "🔴"}


def percent(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def signed(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def in_unit(value: float | None, unit: str) -> str:
    """A measure or KPI value in its unit, for people."""
    if value is None:
        return "n/a"
    formats = {
        "share": lambda v: percent(v),
        "percentile": lambda v: f"{v * 100:.0f}th percentile",
        "per_week": lambda v: f"{v:.1f} / week",
        "count": lambda v: f"{v:,.0f}",
        "days": lambda v: f"{v:,.0f} days",
        "score1": lambda v: f"{v:.2f}",
        "score5": lambda v: f"{v:.2f} / 5",
        "score10": lambda v: f"{v:.1f} / 10",
        "score100": lambda v: f"{v:.1f}",
        "nps": lambda v: f"{v:+.0f}",
        "level": lambda v: f"{v:.0f}",
        "usd": usd,
        "delta": lambda v: f"{v:+.2f}",
    }
    return formats.get(unit, lambda v: f"{v:,.2f}")(value)


def renewal_days(days: int | None) -> str:
    """How far a renewal is: "63 days", or "53 days overdue" once its date has passed."""
    if days is None:
        return "-"
    return f"{-days:,} days overdue" if days < 0 else f"{days:,} days"


def trend(change: float | None, steady: float = 1.0) -> str:
    """up / down / steady for a change (points), or a dash without an earlier value."""
    if change is None:
        return "-"
    if abs(change) < steady:
        return "steady"
    return "up" if change > 0 else "down"


def comparison_text(comparison: str | None) -> str:
    return {">": "above", ">=": "at least", "<": "below", "<=": "at most"}.get(comparison, "")


def rows(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()


def markdown_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def quarter(day: dt.date) -> str:
    return f"Q{(day.month - 1) // 3 + 1} {day.year}"


@functools.cache
def environment() -> jinja2.Environment:
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("pipelines.reports", "templates"),
        autoescape=lambda name: bool(name) and ".html" in name,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    templates.filters.update(
        pct=percent,
        usd=usd,
        num=number,
        signed=signed,
        unit=in_unit,
        renewal_days=renewal_days,
        trend=trend,
        comparison=comparison_text,
        rows=rows,
        md=markdown_cell,
        quarter=quarter,
        words=lambda text: str(text).replace("_", " "),
    )
    templates.globals.update(tier_marks=TIER_MARKS)
    return templates


def safe_name(text: str) -> str:
    """An account id as a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip(".") or "account"


def write_atomic(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, bytes):
        temporary.write_bytes(data)
    else:
        temporary.write_text(data, encoding="utf-8")
    os.replace(temporary, path)
    return path


def account_charts(figures: AccountFigures) -> dict[str, str]:
    """The QBR's charts (Vega-Lite JSON) by file suffix; a chart without data is left out."""
    found: dict[str, object] = {}
    if figures.history.height:
        found["health"] = charts.health_score(figures.history, figures.tiers)
    if figures.period_weeks.height:
        found["active-users"] = charts.weekly_active_users(figures.period_weeks)
    if figures.features["adoption"].is_not_null().any():
        week = figures.usage_week["week_start"].strftime("%-d %b %Y")
        found["adoption"] = charts.feature_adoption(figures.features, week)
    return {name: charts.spec(chart) for name, chart in found.items()}


def qbr_pack(
    connection: duckdb.DuckDBPyConnection,
    account_id: str,
    as_of: dt.date | None,
    out: Path,
    config: ReportConfig,
) -> list[Path]:
    """Write the account's QBR pack (Markdown with PNG charts, and HTML with inline SVG)."""
    figures = account_figures(connection, account_id, config, as_of)
    folder = out / figures.as_of.isoformat() / "qbr"
    stem = safe_name(account_id)
    found = account_charts(figures)
    images = {
        name: write_atomic(folder / f"{stem}-{name}.png", charts.png(chart)).name
        for name, chart in found.items()
    }
    inline = {name: charts.svg(chart, f"{stem}-{name}") for name, chart in found.items()}
    templates = environment()
    context = {"figures": figures, "account": figures.account, "images": images, "svgs": inline}
    markdown = write_atomic(
        folder / f"{stem}.md", templates.get_template("qbr.md.j2").render(context)
    )
    html = write_atomic(
        folder / f"{stem}.html", templates.get_template("qbr.html.j2").render(context)
    )
    return [markdown, html, *(folder / name for name in images.values())]


def monthly_update(
    connection: duckdb.DuckDBPyConnection,
    account_id: str,
    out: Path,
    config: ReportConfig,
    as_of: dt.date | None = None,
) -> Path:
    """Write the account's monthly update email draft, as plain text."""
    figures = account_figures(
        connection, account_id, config, as_of, period_days=config.periods.monthly_days
    )
    text = (
        environment()
        .get_template("monthly.txt.j2")
        .render(figures=figures, account=figures.account)
    )
    return write_atomic(
        out / figures.as_of.isoformat() / "monthly" / f"{safe_name(account_id)}.txt", text
    )


def portfolio_charts(figures: PortfolioFigures) -> dict[str, str]:
    """The portfolio page's charts as inline SVG; a chart without data is left out."""
    found = {}
    if figures.tiers.height:
        found["tiers"] = charts.tier_distribution(figures.tiers)
    if figures.retention_ttm.height:
        found["retention-ttm"] = charts.retention(
            figures.retention_ttm, "GRR and NRR, trailing twelve months, against target", True
        )
    if figures.retention_monthly.height:
        found["retention-month"] = charts.retention(
            figures.retention_monthly, "GRR and NRR, month over month", False
        )
    if figures.renewals.height:
        found["renewals"] = charts.renewals(figures.renewals, figures.renewal_window_days)
    return {name: charts.svg(charts.spec(chart), name) for name, chart in found.items()}


def portfolio_page(
    connection: duckdb.DuckDBPyConnection, out: Path, config: ReportConfig, operations: Operations
) -> Path:
    """Write the portfolio page: one HTML file with everything inline."""
    figures = portfolio_figures(connection, config, operations.portfolio)
    html = (
        environment()
        .get_template("portfolio.html.j2")
        .render(figures=figures, svgs=portfolio_charts(figures))
    )
    return write_atomic(out / figures.as_of.isoformat() / "portfolio.html", html)


# The entry points. Each takes the reports config, config/reports.yaml when not given
# (a bad value raises ConfigError naming its key before anything is read or written).


def write_qbr(
    published: Path,
    account_id: str,
    as_of: dt.date | None,
    out: Path,
    config: ReportConfig | None = None,
) -> list[Path]:
    config = config or load_report_config()
    with open_published(published) as connection:
        return qbr_pack(connection, account_id, as_of, out, config)


def write_monthly(
    published: Path, account_id: str, out: Path, config: ReportConfig | None = None
) -> Path:
    config = config or load_report_config()
    with open_published(published) as connection:
        return monthly_update(connection, account_id, out, config)


def write_portfolio(
    published: Path,
    out: Path,
    config: ReportConfig | None = None,
    operations: Operations | None = None,
) -> Path:
    """`operations`: the config that computed the KPIs (config/operations.yaml when not
    given), for the periods their labels name."""
    config = config or load_report_config()
    operations = operations or load_operations()
    with open_published(published) as connection:
        return portfolio_page(connection, out, config, operations)


def write_top_account_packs(
    published: Path,
    out: Path,
    count: int,
    monthly: bool = True,
    config: ReportConfig | None = None,
) -> dict[str, list[Path]]:
    """QBR packs (and monthly drafts) for the first `count` accounts of the risk register,
    by account."""
    config = config or load_report_config()
    with open_published(published) as connection:
        return {
            account_id: [
                *qbr_pack(connection, account_id, None, out, config),
                *([monthly_update(connection, account_id, out, config)] if monthly else []),
            ]
            for account_id in top_accounts(connection, count)
        }
