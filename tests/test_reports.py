"""Reports: QBR packs, monthly update drafts and the portfolio page, built on a small demo
book through the real CLI, checked against the marts they come from."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance

import assets.publish
from assets.publish import PUBLISHED
from pipelines.cli import main
from pipelines.reports.render import comparison_text, in_unit

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A 40-account book run for its last 2 days by `cshealth demo`: the report assets
    write during each run, and the demo prints where the last run wrote them."""
    root = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSHEALTH_DAGSTER_STORAGE", str(root / "dagster"))
        for name in ("CSHEALTH_EXTRACTS_DIR", "CSHEALTH_WAREHOUSE", "CSHEALTH_WORK_DB"):
            patch.delenv(name, raising=False)
        arguments = ["--extracts", str(root / "extracts"), "--warehouse", str(root / "w.duckdb")]
        assert (
            main(["demo", "--accounts", "40", "--days", "40", "--history-days", "2"] + arguments)
            == 0
        )
        yield root


@pytest.fixture(scope="module")
def warehouse(book) -> Path:
    return book / "w.duckdb"


def mart(warehouse: Path, query: str, *parameters) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(query, params=list(parameters) or None).pl()


def latest(warehouse: Path) -> dt.date:
    return mart(warehouse, "SELECT max(as_of_date) AS d FROM mart.account_health")["d"][0]


def report(warehouse: Path, out: Path, *arguments: str, capsys) -> list[Path]:
    """Run `cshealth report ...`; the paths it printed."""
    code = main(["report", *arguments, "--warehouse", str(warehouse), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    return [Path(line) for line in printed.out.splitlines()]


def first_account_qbr(warehouse: Path, out: Path, capsys) -> tuple[str, list[Path]]:
    """The first account of the risk register and the paths of its QBR pack."""
    account_id = mart(warehouse, "SELECT account_id FROM mart.risk_register WHERE rank = 1")[
        "account_id"
    ][0]
    return account_id, report(warehouse, out, "qbr", "--account", account_id, capsys=capsys)


def personal_data(book: Path) -> tuple[set[str], set[str]]:
    """Contact names and emails of the CRM contacts extract, and survey comments."""
    contacts = pl.read_csv(book / "extracts" / "crm_contacts" / "*" / "*.csv", infer_schema=False)
    surveys = pl.concat(
        pl.read_csv(path, infer_schema=False).select("comment")
        for path in (book / "extracts" / "surveys").glob("*/*.csv")
    )
    names = set(contacts["full_name"].drop_nulls()) | set(contacts["email"].drop_nulls())
    comments = {text for text in surveys["comment"].drop_nulls() if len(text) >= 12}
    return names, comments


def assert_no_personal_data(book: Path, *files: Path) -> None:
    names, comments = personal_data(book)
    assert names and comments
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert not EMAIL.search(text), (file, EMAIL.search(text))
        assert not [name for name in names | comments if name in text], file
        assert "Contact Person" not in text


def assert_self_contained(html: Path, charts: int) -> None:
    text = html.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text, html
    assert "<script" not in text and "<link" not in text and " src=" not in text
    assert text.count("<svg") >= charts, html


def test_the_demo_writes_the_portfolio_and_three_qbr_packs(book, warehouse):
    day = latest(warehouse).isoformat()
    reports = book / "reports" / day
    assert (reports / "portfolio.html").is_file()
    top = mart(warehouse, "SELECT account_id FROM mart.risk_register ORDER BY rank LIMIT 3")
    for account_id in top["account_id"]:
        assert (reports / "qbr" / f"{account_id}.md").is_file()
        assert (reports / "qbr" / f"{account_id}.html").is_file()
        # the Dagster asset also wrote the monthly drafts of the accounts to call first
        assert (reports / "monthly" / f"{account_id}.txt").is_file()


def test_a_qbr_pack_holds_the_marts_numbers(book, warehouse, tmp_path, capsys):
    account_id, paths = first_account_qbr(warehouse, tmp_path, capsys)
    day = latest(warehouse)
    markdown, html = tmp_path / day.isoformat() / "qbr" / f"{account_id}.md", paths[1]
    assert paths[0] == markdown and html.suffix == ".html"
    text, page = markdown.read_text(), html.read_text()
    health = mart(
        warehouse,
        "SELECT * FROM mart.account_health WHERE account_id = ? AND as_of_date = ?",
        account_id,
        day,
    ).row(0, named=True)
    assert f"score **{health['health_score']:.1f}** / 100" in text
    assert f'data-figure="health_score">{health["health_score"]:.1f}<' in page
    assert f"{health['tier'].replace('_', ' ')}, score" in text
    assert f"ARR ${health['arr']:,.0f}" in text
    # success metrics: every measure with a target, with its value from health_measures
    measures = mart(
        warehouse,
        "SELECT measure, raw_value FROM mart.health_measures "
        "WHERE account_id = ? AND as_of_date = ?",
        account_id,
        day,
    )
    from pipelines.reports.config import load_report_config
    from pipelines.reports.data import MEASURES
    from pipelines.scorecards import load_scorecard

    targets = load_report_config().targets
    parameters = {
        name: config.parameters
        for _, name, _, _, config in load_scorecard(health["scorecard"]).measures()
    }
    targeted = measures.filter(pl.col("measure").is_in(list(targets)))
    assert targeted.height >= 5
    for measure, raw in targeted.iter_rows():
        info, (comparison, target) = MEASURES[measure], targets[measure]
        label = info.label_for(parameters[measure])
        assert f"| {label} | {comparison_text(comparison)} {in_unit(target, info.unit)} |" in text
        assert f'<tr data-measure="{measure}"><td>{label}</td>' in page
        assert f"| {in_unit(raw, info.unit)} |" in text, measure
    seats = measures.filter(pl.col("measure") == "seat_utilisation")["raw_value"][0]
    assert f"| {seats * 100:.0f}% |" in text
    # renewal and open alerts from the work lists
    renewal = mart(
        warehouse, "SELECT * FROM mart.renewal_pipeline WHERE account_id = ?", account_id
    )
    if renewal.height:
        assert f"**Renewal:** {renewal['renewal_date'][0]}" in text
    alerts = mart(
        warehouse,
        "SELECT message, actions, as_of_date, severity FROM mart.health_alerts "
        "WHERE account_id = ? AND as_of_date <= ? AND (cleared_on IS NULL OR cleared_on > ?)",
        account_id,
        day,
        day,
    )
    assert alerts.height  # the first of the risk register has open alerts
    from pipelines.reports.data import DUE_DAYS_BY_SEVERITY

    for message, actions, raised_on, severity in alerts.iter_rows():
        assert message in text
        assert all(f"| {action} |" in text for action in actions)
        # due from the day the alert was raised, marked once it has passed
        due = raised_on + dt.timedelta(days=DUE_DAYS_BY_SEVERITY[severity])
        late = " (overdue)" if due < day else ""
        assert any(f"| {action} | CSM | {due}{late} |" in text for action in actions)
    # charts: PNG files beside the Markdown, inline SVG in the HTML
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 3
    assert all((markdown.parent / image).stat().st_size > 1000 for image in images)
    for chart in ("chart-health", "chart-active-users", "chart-adoption"):
        assert f'id="{chart}"><svg' in page
    assert_self_contained(html, charts=3)
    assert_no_personal_data(book, markdown, html)


def usage_week(warehouse: Path, account_id: str, day: dt.date, since: dt.date) -> dict:
    """The account's row of mart.weekly_usage a report describes: the newest week counted to
    its Sunday that starts on or after `since`, else the newest such week; counted up to
    `day` at most."""
    weeks = mart(
        warehouse,
        "SELECT *, as_of_date = week_start + 6 AS complete FROM mart.weekly_usage "
        "WHERE account_id = ? AND week_start >= ? AND as_of_date <= ? "
        "ORDER BY complete DESC, week_start DESC",
        account_id,
        since,
        day,
    )
    assert weeks.height, account_id
    return weeks.row(0, named=True)


def test_a_qbr_pack_shows_weekly_usage_feature_adoption_and_power_users(
    book, warehouse, tmp_path, capsys
):
    account_id, paths = first_account_qbr(warehouse, tmp_path, capsys)
    markdown, html = paths[:2]
    text, page = markdown.read_text(), html.read_text()
    day = latest(warehouse)
    since = day - dt.timedelta(days=90)
    week = usage_week(warehouse, account_id, day, since)
    active, seats = week["active_users"], week["licensed_seats"]
    assert active > 0
    assert f"**Week of {week['week_start']}**" in text
    assert f"**{active}** active users of {seats} licensed seats" in text
    assert f'data-figure="usage_week">{week["week_start"]}<' in page
    assert f'data-figure="weekly_active_users">{active}<' in page
    assert f'data-figure="licensed_seats">{seats}<' in page
    # the chart: a bar per week of the review period, with the seats
    weeks = mart(
        warehouse,
        "SELECT strftime(week_start, '%d %b') AS week, active_users, licensed_seats "
        "FROM mart.weekly_usage WHERE account_id = ? AND week_start >= ? AND as_of_date <= ?",
        account_id,
        since,
        day,
    )
    chart = page.split('id="chart-active-users">')[1].split("</div>")[0]
    assert len(re.findall(r'aria-label="Week starting: [^;]+; Users: ', chart)) == weeks.height
    for label, users, licensed in weeks.iter_rows():
        assert f"Week starting: {label}; Users: {users};" in chart
        assert f"licensed seats: {licensed};" in chart
    # feature adoption of that week: most used (top 3 by adoption, then events), under-used
    features = mart(
        warehouse,
        "SELECT feature, is_core, users, adoption, events FROM mart.feature_adoption "
        "WHERE account_id = ? AND week_start = ? AND as_of_date = ?",
        account_id,
        week["week_start"],
        week["as_of_date"],
    )
    catalog = mart(warehouse, "SELECT count(DISTINCT feature) AS n FROM mart.feature_adoption")
    assert features.height == catalog["n"][0] > 3  # every catalog feature
    by_feature = {row["feature"]: row for row in features.iter_rows(named=True)}
    most_used = (
        features.filter(pl.col("users") > 0)
        .sort("adoption", "events", "feature", descending=[True, True, False])
        .head(3)["feature"]
        .to_list()
    )
    lists = page.split("<h3>Most used features</h3>")[1].split("<h3>Power users")[0]
    named = re.findall(r'<li data-feature="([^"]+)">[^<]*: <b>([^<]+)</b>', lists)
    assert [feature for feature, _ in named[:3]] == most_used
    under_used = [by_feature[feature] for feature, _ in named[3:]]
    assert under_used and all(row["adoption"] < 0.5 for row in under_used)
    cores = [row["is_core"] for row in under_used]
    assert cores == sorted(cores, reverse=True)  # core features first
    for feature, shown in named:
        row = by_feature[feature]
        assert shown == f"{row['adoption'] * 100:.0f}%", feature
        name = feature.replace("_", " ") + (" (core)" if row["is_core"] else "")
        assert f"{name}: {shown} ({row['users']} users" in text
    chart = page.split('id="chart-adoption">')[1].split("</div>")[0]
    for row in features.iter_rows(named=True):
        assert f"adoption: {row['adoption'] * 100:.1f}%; users: {row['users']};" in chart
    # power users: the week's top users by product user id, as the mart lists them
    assert week["top_users"]
    table = page.split('<table id="power-users">')[1].split("</table>")[0]
    assert re.findall(r'data-user="([^"]+)"', table) == [u["user_id"] for u in week["top_users"]]
    for user in week["top_users"]:
        assert f"| {user['user_id']} | {user['active_days']} | {user['events']:,} |" in text
        assert (
            f'<td>{user["user_id"]}</td><td class="n">{user["active_days"]}</td>'
            f'<td class="n">{user["events"]:,}</td>'
        ) in table
    assert text.count("![") == 3
    assert_self_contained(html, charts=3)
    assert_no_personal_data(book, markdown, html)


def test_alert_actions_are_due_from_the_day_the_alert_was_raised():
    """A critical alert's save call is due the day after it was raised: a week later the
    pack shows it a week late, not due tomorrow; advice is due from the pack's date."""
    from pipelines.reports.data import action_items

    as_of = dt.date(2026, 11, 24)
    measures = pl.DataFrame(
        {
            "measure": ["seat_utilisation"],
            "label": ["Active users / licensed seats (30 days)"],
            "advice": ["Get the inactive seats started"],
            "points_lost": [9.5],
        }
    )
    alerts = pl.DataFrame(
        {
            "alert_type": ["entered_critical", "payment_overdue", "renewal_at_risk"],
            "severity": ["critical", "high", "high"],
            "actions": [["Book a save call"], ["Settle the invoice"], ["Old action"]],
            "raised_on": [dt.date(2026, 11, 17), as_of, dt.date(2026, 10, 1)],
            "is_open": [True, True, False],
        }
    )
    items = action_items(measures, alerts, None, as_of, current=True, advice_due_days=30)
    due = dict(items.select("item", "due").iter_rows())
    assert due == {
        "Get the inactive seats started": dt.date(2026, 12, 24),
        "Book a save call": dt.date(2026, 11, 18),  # raised + 1 day: 6 days late
        "Settle the invoice": dt.date(2026, 12, 1),  # raised today + 7 days
    }


def test_a_qbr_for_an_earlier_date_uses_that_dates_scores(warehouse, tmp_path, capsys):
    first = mart(warehouse, "SELECT min(as_of_date) AS d FROM mart.account_health")["d"][0]
    row = mart(
        warehouse,
        "SELECT account_id, health_score FROM mart.account_health WHERE as_of_date = ? "
        "ORDER BY account_id LIMIT 1",
        first,
    ).row(0)
    paths = report(
        warehouse, tmp_path, "qbr", "--account", row[0], "--as-of", first.isoformat(), capsys=capsys
    )
    assert paths[0].parent.parent.name == first.isoformat()
    text = paths[0].read_text()
    assert f"score **{row[1]:.1f}** / 100" in text
    assert f"figures as of {first}" in text
    assert f"as of {latest(warehouse)}, the newest published date" in text


def test_the_monthly_update_is_plain_text_with_the_marts_numbers(book, warehouse, tmp_path, capsys):
    row = mart(
        warehouse,
        "SELECT account_id, account_name, health_score, tier FROM mart.risk_register "
        "WHERE rank = 2",
    ).row(0)
    [path] = report(warehouse, tmp_path, "monthly", "--account", row[0], capsys=capsys)
    day = latest(warehouse)
    assert path == tmp_path / day.isoformat() / "monthly" / f"{row[0]}.txt"
    text = path.read_text()
    assert text.startswith(f"Subject: {row[1]} success update - {day.strftime('%B %Y')}\n")
    assert f"Hi {row[1]} team," in text
    for heading in ("✅ Wins this month", "📊 By the numbers", "🎯 Focus for next month"):
        assert heading in text
    assert f"- Health score: {row[2]:.1f} / 100, {row[3].replace('_', ' ')}" in text
    tickets = mart(
        warehouse,
        "SELECT raw_value FROM mart.health_measures WHERE account_id = ? AND as_of_date = ? "
        "AND measure = 'ticket_volume'",
        row[0],
        day,
    )["raw_value"][0]
    assert f"- Support tickets (90 days): {tickets:,.0f}" in text
    week = usage_week(warehouse, row[0], day, day - dt.timedelta(days=30))
    assert (
        f"- Weekly active users: {week['active_users']} of {week['licensed_seats']} licensed "
        f"seats in the week of {week['week_start']}"
    ) in text
    assert "<" not in text  # no markup
    assert_no_personal_data(book, path)


def test_the_portfolio_page_holds_the_marts_numbers(book, warehouse, tmp_path, capsys):
    [page] = report(warehouse, tmp_path, "portfolio", capsys=capsys)
    day = latest(warehouse)
    assert page == tmp_path / day.isoformat() / "portfolio.html"
    html = page.read_text()
    scored = mart(
        warehouse,
        "SELECT count(*) AS n, sum(arr) AS arr FROM mart.account_health WHERE as_of_date = ?",
        day,
    ).row(0)
    assert f'data-figure="accounts">{scored[0]}<' in html
    assert f'data-figure="arr">${scored[1]:,.0f}<' in html
    # tier distribution
    tiers = mart(
        warehouse,
        "SELECT tier, count(*) AS n FROM mart.account_health WHERE as_of_date = ? GROUP BY tier",
        day,
    )
    table = html.split('<table id="tiers">')[1].split("</table>")[0]
    for tier, count in tiers.iter_rows():
        assert re.search(rf">{tier.replace('_', ' ')}</span></td><td class=\"n\">{count}<", table)
    # KPI scoreboard: every KPI of the book, its value and whether it is met
    from pipelines.reports.data import KPIS

    kpis = mart(
        warehouse,
        "SELECT kpi, value, met FROM mart.portfolio_kpis WHERE as_of_date = ? AND group_by = 'all'",
        day,
    )
    assert kpis.height == len(KPIS)
    for kpi, value, met in kpis.iter_rows():
        row = html.split(f'<tr data-kpi="{kpi}">')[1].split("</tr>")[0]
        assert f'<td class="n">{in_unit(value, KPIS[kpi].unit)}</td>' in row
        assert ("No data" if met is None else "✓ Met" if met else "✗ Not met") in row
    # risk register: the first 20, in rank order
    risk = mart(warehouse, "SELECT account_id, arr FROM mart.risk_register ORDER BY rank LIMIT 20")
    table = html.split('<table id="risk-register">')[1].split("</table>")[0]
    assert re.findall(r'data-account="([^"]+)"', table) == risk["account_id"].to_list()
    assert f"${risk['arr'][0]:,.0f}" in table
    # renewals overdue (most overdue first), then those of the next 120 days, soonest first
    renewals = mart(
        warehouse,
        "SELECT account_id, days_to_renewal, arr, renewal_confidence "
        "FROM mart.renewal_pipeline WHERE days_to_renewal <= 120 "
        "ORDER BY renewal_date, arr DESC, account_id",
    )
    table = html.split('<table id="renewals">')[1].split("</table>")[0]
    assert re.findall(r'data-account="([^"]+)"', table) == renewals["account_id"].to_list()
    overdue = renewals.filter(pl.col("days_to_renewal") < 0)
    upcoming = renewals.filter(pl.col("days_to_renewal") >= 0)
    assert overdue.height  # the demo book has overdue renewals
    assert f'data-figure="overdue_renewals">{overdue.height}<' in html
    assert f"Renewals overdue: ${overdue['arr'].sum():,.0f} ARR" in html
    assert f'data-figure="renewals">{upcoming.height}<' in html
    first = table.split(f'data-account="{overdue["account_id"][0]}"')[1].split("</tr>")[0]
    assert f">{-overdue['days_to_renewal'][0]} days overdue<" in first
    # confidence with one decimal: 59.5 is not shown as 60, the yellow zone's edge
    assert f">{overdue['renewal_confidence'][0]:.1f}%<" in first
    # retention: the newest trailing-twelve-month GRR
    grr = mart(
        warehouse,
        "SELECT grr FROM mart.retention WHERE grain = 'ttm' AND group_by = 'all' "
        "ORDER BY period_end DESC LIMIT 1",
    )["grr"][0]
    assert f"{grr * 100:.1f}%" in html.split('<table id="retention">')[1]
    for chart in ("chart-tiers", "chart-retention-ttm", "chart-renewals"):
        assert f'id="{chart}"><svg' in html
    assert_self_contained(page, charts=3)
    assert_no_personal_data(book, page)


def test_the_reports_read_their_config(warehouse, tmp_path):
    """Windows and list lengths come from config/reports.yaml, or the config given; the
    KPI periods from the operations config given."""
    from pipelines.operations import load_operations
    from pipelines.reports.config import load_report_config
    from pipelines.reports.render import write_portfolio

    config = load_report_config()
    config = config.model_copy(
        update={
            "portfolio": config.portfolio.model_copy(
                update={"risk_register_rows": 5, "renewal_window_days": 60}
            )
        }
    )
    operations = load_operations()
    operations = operations.model_copy(
        update={"portfolio": operations.portfolio.model_copy(update={"qbr_window_days": 120})}
    )
    html = write_portfolio(warehouse, tmp_path, config, operations).read_text()
    table = html.split('<table id="risk-register">')[1].split("</table>")[0]
    assert len(re.findall(r'data-account="([^"]+)"', table)) == 5
    assert "Renewals overdue and in the next 60 days" in html and "next 120 days" not in html
    assert "QBR completion (120 days)" in html and "QBR completion (90 days)" not in html
    renewals = mart(
        warehouse,
        "SELECT account_id FROM mart.renewal_pipeline WHERE days_to_renewal <= 60 "
        "ORDER BY renewal_date, arr DESC, account_id",
    )
    table = html.split('<table id="renewals">')[1].split("</table>")[0]
    assert re.findall(r'data-account="([^"]+)"', table) == renewals["account_id"].to_list()


def test_labels_name_the_periods_the_config_gives():
    """A measure's label names its account's scorecard window, a KPI's the scoreboard's:
    a team that changes a window reads the new one, not the shipped default."""
    import yaml

    from pipelines.operations import load_operations
    from pipelines.reports.config import load_report_config
    from pipelines.reports.data import kpi_catalogue, measure_catalogue
    from pipelines.scorecards import SCORECARD_DIR, Scorecard

    def labels(frame: pl.DataFrame, key: str) -> dict[str, str]:
        return dict(frame.select(key, "label").iter_rows())

    targets = load_report_config().targets
    data = yaml.safe_load((SCORECARD_DIR / "five_dimension.yaml").read_text())
    shipped = labels(measure_catalogue(targets, Scorecard.model_validate(data)), "measure")
    assert shipped["ticket_volume"] == "Support tickets (90 days)"
    assert shipped["login_rate"] == "Logins per seat per week (28 days)"
    assert shipped["expansion"] == "MRR growth over the base (365 days)"
    assert shipped["contact_recency"] == "Days since two-way contact"  # no period

    data["dimensions"]["support"]["measures"]["ticket_volume"]["window_days"] = 60
    changed = labels(measure_catalogue(targets, Scorecard.model_validate(data)), "measure")
    assert changed["ticket_volume"] == "Support tickets (60 days)"
    # A scorecard that cannot be read any more: labels without a period.
    assert labels(measure_catalogue(targets, None), "measure")["ticket_volume"] == (
        "Support tickets"
    )

    scoreboard = load_operations().portfolio
    assert labels(kpi_catalogue(scoreboard), "kpi")["qbr_completion"] == "QBR completion (90 days)"
    longer = scoreboard.model_copy(update={"qbr_window_days": 120, "nps_window_days": 365})
    kpis = labels(kpi_catalogue(longer), "kpi")
    assert kpis["qbr_completion"] == "QBR completion (120 days)"
    assert kpis["nps"] == "NPS (365 days)"
    assert kpis["share_green"] == "Accounts green"
    assert kpis["time_to_first_value"] == (
        "Median days to first value (contracts started in the last 365 days)"
    )


def test_report_errors_are_one_line(warehouse, tmp_path, capsys):
    cases = [
        (["qbr", "--account", "NO-SUCH"], "unknown account 'NO-SUCH'"),
        (["qbr", "--account", "ACC-00001", "--as-of", "2001-01-01"], "no scores published for"),
        (["qbr", "--account", "ACC-00001", "--as-of", "01/02/2003"], "is not a date"),
        (["monthly", "--account", "NO-SUCH"], "unknown account"),
    ]
    for arguments, message in cases:
        code = main(["report", *arguments, "--warehouse", str(warehouse), "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith("cshealth: error: ") and message in err
    missing = tmp_path / "missing.duckdb"
    assert main(["report", "portfolio", "--warehouse", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"cshealth: error: published warehouse not found: {missing} " + (
        "(run `cshealth run` or `cshealth demo`)\n"
    )


def test_a_backfilled_older_date_writes_no_reports(book, warehouse, capsys, monkeypatch):
    """The report assets render only for the newest published date."""
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(book / "dagster"))
    first = mart(warehouse, "SELECT min(as_of_date) AS d FROM mart.account_health")["d"][0]
    assert not (book / "reports" / first.isoformat()).exists()
    newest = (book / "reports" / latest(warehouse).isoformat() / "portfolio.html").stat()
    arguments = ["--extracts", str(book / "extracts"), "--warehouse", str(warehouse)]
    assert main(["run", "--as-of", first.isoformat(), *arguments]) == 0
    assert not (book / "reports" / first.isoformat()).exists()
    assert (book / "reports" / latest(warehouse).isoformat() / "portfolio.html").stat() == newest


def test_a_range_run_renders_the_reports_of_its_last_date_only(book, warehouse, monkeypatch):
    """`cshealth run --from --to` (and the demo's run of its last days): the earlier
    dates stop before the publish, and the last date's run publishes the whole range
    and renders one set of reports, for its date."""
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(book / "dagster"))
    last = latest(warehouse)
    first = last - dt.timedelta(days=1)
    assert (book / "reports" / last.isoformat()).is_dir()
    assert not (book / "reports" / first.isoformat()).exists()  # the demo's own range
    shutil.rmtree(book / "reports" / last.isoformat())
    arguments = ["--extracts", str(book / "extracts"), "--warehouse", str(warehouse)]
    publishes = []
    monkeypatch.setattr(
        assets.publish, "after_step", lambda step: publishes.append(step == "replaced")
    )
    assert main(["run", "--from", first.isoformat(), "--to", last.isoformat(), *arguments]) == 0
    assert sum(publishes) == 1
    with DagsterInstance.get() as instance:  # the range's dates show as published
        assert {first.isoformat(), last.isoformat()} <= instance.get_materialized_partitions(
            PUBLISHED
        )
    assert not (book / "reports" / first.isoformat()).exists()
    assert (book / "reports" / last.isoformat() / "portfolio.html").is_file()
    runs = (
        "SELECT as_of_date, status, message, row_counts IS NOT NULL, published_by_run "
        "FROM meta.runs ORDER BY started_at DESC LIMIT 2"
    )
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        found = connection.execute(runs).fetchall()
        last_run = found[0][4]
        assert found == [
            (last, "success", None, True, last_run),
            (first, "success", f"published by the run of {last} ({last_run})", True, last_run),
        ]
        assert connection.execute(
            "SELECT count(DISTINCT as_of_date) FROM mart.account_health WHERE as_of_date >= ?",
            [first],
        ).fetchall() == [(2,)]


def test_a_range_that_fails_leaves_its_dates_computed_until_the_next_publish(
    book, warehouse, capsys, monkeypatch
):
    """A range whose last date fails to publish: its earlier dates are `computed` in
    meta.runs, not published, and not materialised in Dagster; the next run that
    publishes carries them (success, published_by_run) and reports them to Dagster."""
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(book / "dagster"))
    first = latest(warehouse) - dt.timedelta(days=4)
    last = first + dt.timedelta(days=1)
    arguments = ["--extracts", str(book / "extracts"), "--warehouse", str(warehouse)]

    def fail_before_the_rename(step):
        if step == "synced":
            raise OSError("disk full")

    monkeypatch.setattr(assets.publish, "after_step", fail_before_the_rename)
    assert main(["run", "--from", first.isoformat(), "--to", last.isoformat(), *arguments]) == 1
    out, err = capsys.readouterr()
    assert f"{first}: computed (run " in out and f"to be published with {last}" in out
    assert f"  {first} .. {first} computed, not published" in err
    work = book / "w.work.duckdb"
    runs = "SELECT status, published_by_run FROM meta.runs WHERE as_of_date = ? ORDER BY started_at"
    with duckdb.connect(str(work), read_only=True) as connection:
        assert connection.execute(runs, [first]).fetchall()[-1] == ("computed", None)
        assert connection.execute(runs, [last]).fetchall()[-1] == ("failed", None)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert not connection.execute(runs, [first]).fetchall()
    with DagsterInstance.get() as instance:
        assert first.isoformat() not in instance.get_materialized_partitions(PUBLISHED)

    monkeypatch.setattr(assets.publish, "after_step", lambda step: None)
    assert main(["run", "--as-of", last.isoformat(), *arguments]) == 0
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (status, carried_by), *_ = connection.execute(runs, [first]).fetchall()
        assert status == "success"
        assert connection.execute(runs, [last]).fetchall()[-1] == ("success", carried_by)
    with DagsterInstance.get() as instance:
        assert {first.isoformat(), last.isoformat()} <= instance.get_materialized_partitions(
            PUBLISHED
        )


def test_the_report_assets_follow_the_publish():
    from dagster import AssetKey

    from pipelines.definitions import defs

    graph = defs.get_repository_def().asset_graph
    for name in ("portfolio", "account_packs"):
        node = graph.get(AssetKey(["reports", name]))
        assert node.group_name == "reports"
        assert node.parent_keys == {AssetKey(["publish", "warehouse"])}


def test_a_report_failing_after_the_publish_says_the_date_was_published(
    book, warehouse, capsys, monkeypatch
):
    """Reports come after the atomic publish: when one fails, the run fails, and the
    CLI and meta.runs say that the date was published all the same."""
    import assets.reports

    def broken(*_, **__):
        raise RuntimeError("the chart renderer is missing")

    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(book / "dagster"))
    monkeypatch.setattr(assets.reports, "write_portfolio", broken)
    newest = latest(warehouse)
    arguments = ["--extracts", str(book / "extracts"), "--warehouse", str(warehouse)]
    assert main(["run", "--as-of", newest.isoformat(), *arguments]) == 1
    err = capsys.readouterr().err
    assert f"{newest}: published {warehouse}, then run" in err
    assert "the chart renderer is missing" in err
    with duckdb.connect(str(book / "w.work.duckdb"), read_only=True) as connection:
        status, message = connection.execute(
            "SELECT status, message FROM meta.runs ORDER BY started_at DESC LIMIT 1"
        ).fetchall()[0]
    assert status == "failed" and message.startswith("published, then step reports__portfolio")
