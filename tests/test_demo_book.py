"""The demo book must look like a real business: checked on its numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import load_all, operate, score, table, work_database

from pipelines.demo_book import BookShape, generate_book

SHAPE = BookShape(accounts=500, days=120, seed=7, last_day=dt.date(2026, 6, 30))


@pytest.fixture(scope="module")
def demo_core(tmp_path_factory):

    root = tmp_path_factory.mktemp("demo")
    generate_book(root / "extracts", SHAPE)
    connection = work_database(root / "work.duckdb")
    load_all(connection, root / "extracts", SHAPE.last_day)
    yield connection
    connection.close()


MRR_AT = """(SELECT coalesce(sum(s.mrr_usd), 0) FROM core.billing_subscriptions s
             WHERE s.account_id = a.account_id AND s.start_date <= DATE '{day}'
               AND (s.end_date IS NULL OR DATE '{day}' < s.end_date))"""


def account_facts(connection):
    first, last = SHAPE.first_day, SHAPE.last_day
    return table(
        connection,
        f"""
        SELECT a.account_id, a.contract_start_date, a.arr AS crm_arr,
               {MRR_AT.format(day=first)} AS mrr_first, {MRR_AT.format(day=last)} AS mrr_last,
               (SELECT count(*) FROM core.billing_subscriptions s
                 WHERE s.account_id = a.account_id) AS subscriptions
        FROM core.crm_accounts a""",
    )


def test_every_dataset_is_delivered_and_almost_nothing_is_rejected(demo_core):
    status = table(demo_core, "SELECT dataset, delivered FROM core.dataset_status")
    assert status["delivered"].all()
    shares = table(
        demo_core,
        """
        SELECT dataset, sum(rows_rejected) / sum(rows_read) AS share FROM meta.deliveries
        GROUP BY dataset""",
    )
    assert (shares["share"] < 0.01).all()
    assert table(demo_core, "SELECT count(*) AS n FROM quarantine.rejected_rows")["n"][0] > 0


def test_segments_churn_expansion_and_onboarding_have_realistic_shares(demo_core):
    facts = account_facts(demo_core)
    accounts = facts.height
    started = facts.filter(facts["contract_start_date"] <= SHAPE.last_day)
    arr = started["mrr_last"] * 12
    live = started.filter(started["mrr_last"] > 0)
    arr = live["mrr_last"] * 12
    segments = {
        "smb": (arr < 25_000).sum(),
        "mid_market": ((arr >= 25_000) & (arr <= 100_000)).sum(),
        "enterprise": (arr > 100_000).sum(),
    }
    for segment, count in segments.items():
        assert count / live.height >= 0.15, segment
    was_paying = facts.filter(facts["mrr_first"] > 0)
    churned = (was_paying["mrr_last"] == 0).sum()
    expanded = (was_paying["mrr_last"] > was_paying["mrr_first"]).sum()
    onboarding = (facts["contract_start_date"] > SHAPE.last_day - dt.timedelta(days=120)).sum()
    assert churned / accounts >= 0.05
    assert expanded / accounts >= 0.10
    assert onboarding / accounts >= 0.05


@pytest.mark.parametrize(
    ("dataset", "key"), [("support_tickets", "ticket_id"), ("billing_invoices", "invoice_id")]
)
def test_tickets_and_invoices_change_status_between_deliveries(demo_core, dataset, key):
    changed = table(
        demo_core,
        f"""
        SELECT count(*) AS n FROM (
            SELECT {key} FROM raw.{dataset} GROUP BY {key}
            HAVING count(DISTINCT status) > 1 AND count(DISTINCT _delivery_date) > 1)""",
    )
    assert changed["n"][0] > 50


def test_events_reach_about_2500_per_account_over_120_days(demo_core):
    events = table(demo_core, "SELECT count(*) AS n FROM core.product_events")["n"][0]
    assert 1_800 <= events / SHAPE.accounts <= 3_200


def test_the_book_is_the_same_for_the_same_seed(tmp_path):
    shape = BookShape(accounts=20, days=10, seed=3, last_day=dt.date(2026, 6, 30))
    first = generate_book(tmp_path / "a", shape)
    second = generate_book(tmp_path / "b", shape)
    assert first == second
    day = (tmp_path / "a" / "crm_accounts" / "2026-06-30" / "accounts.csv").read_bytes()
    assert day == (tmp_path / "b" / "crm_accounts" / "2026-06-30" / "accounts.csv").read_bytes()


def test_a_book_keeps_the_day_it_was_shaped_on_when_the_clock_passes_midnight(monkeypatch):
    """The demo once wrote a book ending today, ran its dates, and read "today" again
    after midnight: the book's last date was no longer the range's last, and nothing
    was published."""
    shape = BookShape()
    today = shape.last_day

    class Tomorrow(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 5), tz)

    monkeypatch.setattr(dt, "datetime", Tomorrow)
    assert shape.last_day == today
    assert shape.first_day == today - dt.timedelta(days=shape.days - 1)
    assert BookShape().last_day == today + dt.timedelta(days=1)


def test_every_tier_of_the_default_scorecard_holds_a_tenth_of_the_accounts(demo_core):
    score(demo_core, SHAPE.last_day)
    shares = dict(
        table(
            demo_core,
            """
        SELECT tier, count(*) / sum(count(*)) OVER () AS share
        FROM mart.account_health GROUP BY tier""",
        ).rows()
    )
    assert set(shares) == {"healthy", "at_risk", "critical"}
    assert min(shares.values()) >= 0.10, shares


def test_every_work_list_has_rows_and_the_register_starts_with_critical_accounts(demo_core):
    score(demo_core, SHAPE.last_day)
    operate(demo_core, SHAPE.last_day)
    for mart in (
        "health_alerts",
        "risk_register",
        "onboarding",
        "expansion_opportunities",
        "renewal_pipeline",
        "portfolio_kpis",
        "mrr_movements",
        "retention",
    ):
        assert table(demo_core, f"SELECT count(*) AS n FROM mart.{mart}")["n"][0] > 0, mart
    types = set(
        table(demo_core, "SELECT DISTINCT opportunity_type FROM mart.expansion_opportunities")[
            "opportunity_type"
        ]
    )
    assert types == {"seat", "tier", "product", "services"}
    first = table(demo_core, "SELECT * FROM mart.risk_register ORDER BY rank LIMIT 10")
    assert set(first["tier"]) == {"critical"}
    assert all(len(actions) >= 3 for actions in first["recommended_actions"])
