"""The renewal pipeline and the portfolio scoreboard on two tiny books, worked by hand from
the CS-operations contract. The as-of date D is 2026-03-31, so:
W(90) = 2026-01-01..03-31, W(180) = 2025-10-03..2026-03-31, W(365) = 2025-04-01..2026-03-31,
and the ttm retention row ending in D's month runs 2025-03-01 -> 2026-03-01.

Health scores of hand-made accounts are read back from mart.account_health; every other
number is worked from the rows written here.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from conftest import VALID_ROWS, operate, run_day, table, work_database, write_delivery

from pipelines.operations import KPIS, Operations, load_operations
from schemas.extracts import DATASETS

D = dt.date(2026, 3, 31)
_ids = itertools.count(1)


def day(offset: int) -> str:
    """D + offset days, as an extract writes a date."""
    return (D + dt.timedelta(days=offset)).isoformat()


def row(dataset: str, **values) -> dict:
    """A valid row of `dataset` with `values`; keys get a fresh id unless given."""
    defaults = dict(VALID_ROWS[dataset])
    key = DATASETS[dataset].key[0]
    defaults[key] = f"{key}-{next(_ids)}"
    defaults.update({name: None if value is None else str(value) for name, value in values.items()})
    return defaults


def account(account_id: str, **values) -> dict:
    values = {
        "contract_start_date": "2024-06-01",
        "renewal_date": day(45),
        "licensed_seats": 10,
        "arr": 30000,
        "csm_owner": "csm_a",
        "renewal_budget_confirmed": "false",
        "executive_sponsor_identified": "false",
        "executive_sponsor_engaged": "false",
        **values,
    }
    if values["executive_sponsor_engaged"] == "true":
        values["executive_sponsor_identified"] = "true"
    return row("crm_accounts", account_id=account_id, account_name=account_id, **values)


def survey(account_id: str, survey_type: str, score_: int, on: str, contact_id=None) -> dict:
    return row(
        "surveys",
        account_id=account_id,
        survey_type=survey_type,
        score=score_,
        responded_at=f"{on}T12:00:00Z",
        contact_id=contact_id,
        comment=None,
    )


def invoice(account_id: str, due: str, status: str) -> dict:
    return row(
        "billing_invoices",
        account_id=account_id,
        issued_date="2025-04-01",
        due_date=due,
        status=status,
        paid_date="2026-03-20" if status == "paid" else None,
    )


def subscription(account_id: str, start: str, mrr: float, end=None) -> dict:
    return row(
        "billing_subscriptions", account_id=account_id, start_date=start, end_date=end, mrr=mrr
    )


def activity(account_id: str, activity_type: str, on: str) -> dict:
    return row(
        "crm_activities",
        account_id=account_id,
        activity_type=activity_type,
        occurred_at=f"{on}T10:00:00Z",
        contact_id=None,
    )


def ticket(account_id: str, created: str, priority: str = "urgent") -> dict:
    return row(
        "support_tickets",
        account_id=account_id,
        created_at=f"{created}T09:00:00Z",
        resolved_at=None,
        priority=priority,
        status="open",
        csat_score=None,
        sentiment="negative",
    )


def milestone(account_id: str, due: str, completed: str | None) -> dict:
    return row(
        "onboarding_milestones",
        account_id=account_id,
        milestone="first_value",
        due_date=due,
        completed_date=completed,
    )


def write_book(root, book: dict[str, list[dict]]):
    for dataset, rows in book.items():
        write_delivery(root, dataset, D, rows)
    return root


def run_book(tmp_path, book: dict[str, list[dict]], operations: Operations | None = None):
    """A working database with `book` loaded, scored and operated for D."""
    connection = work_database(tmp_path / "work.duckdb")
    run_day(connection, write_book(tmp_path / "extracts", book), D, operations=operations)
    return connection


def health_scores(connection) -> dict[str, float]:
    return dict(
        connection.execute(
            "SELECT account_id, health_score FROM mart.account_health WHERE as_of_date = ?", [D]
        ).fetchall()
    )


def with_renewals(**changes) -> Operations:
    operations = load_operations()
    return operations.model_copy(
        update={"renewals": operations.renewals.model_copy(update=changes)}
    )


def with_targets(**targets: tuple[str, float]) -> Operations:
    operations = load_operations()
    portfolio = operations.portfolio.model_copy(
        update={"targets": {**operations.portfolio.targets, **targets}}
    )
    return operations.model_copy(update={"portfolio": portfolio})


def clamp(points: float) -> float:
    return min(100.0, max(0.0, points))


# === Renewals ================================================================================

# Stage accounts "D+n" renew n days after D and carry nothing else. The confidence accounts
# renew on D+45 (T-60); those in DETRACTED carry one detractor NPS response (score 0), which
# keeps their health score well under 90, so +10 and +5 are not hidden by the clamp at 100.
# Scores are read back; on this book they come out (health -> confidence):
#   BASE 36.7 -> 36.7, BUDGET 42.9 -> 52.9, EXEC 36.7 -> 41.7, LATE31 28.6 -> 8.6,
#   LATE30 32.7 -> 32.7, PAID 36.7 -> 36.7, UNCOLL 28.6 -> 8.6, TWICE 28.6 -> 8.6,
#   ALL 34.7 -> 34.7 + 10 + 5 - 20 = 29.7, SUB 34.3 -> 34.3, TOP 99.9 -> 114.9 -> 100,
#   MID 81.0 -> 86.0 (yellow), LOW 7.1 -> -12.9 -> 0.
STAGE_OFFSETS = (121, 120, 91, 90, 61, 60, 31, 30, 0, -1, -90, -91)
DETRACTED = ("BASE", "BUDGET", "EXEC", "LATE31", "LATE30", "PAID", "UNCOLL", "TWICE", "ALL", "SUB")

RENEWAL_BOOK = {
    "crm_accounts": [
        *[account(f"D{offset:+d}", renewal_date=day(offset)) for offset in STAGE_OFFSETS],
        account("BASE"),
        account("BUDGET", renewal_budget_confirmed="true"),
        account("EXEC", executive_sponsor_engaged="true"),
        account("LATE31"),
        account("LATE30"),
        account("PAID"),
        account("UNCOLL"),
        account("TWICE"),
        account("SUB"),  # pays 1,250 a month: ARR 15,000, not the CRM's 30,000
        account("ALL", renewal_budget_confirmed="true", executive_sponsor_engaged="true"),
        # TOP: everything healthy, budget and sponsor: above 100 before the clamp
        account("TOP", renewal_budget_confirmed="true", executive_sponsor_engaged="true"),
        # MID: a promoter, a recent meeting and an engaged sponsor: yellow
        account("MID", executive_sponsor_engaged="true"),
        # LOW: unhealthy and a payment overdue: below 0 before the clamp
        account("LOW", csm_owner=None),
        # not scored: the contract starts after D / churned (MRR(D) = 0)
        account("FUTURE", contract_start_date=day(1)),
        account("CHURNED"),
        account("NODATE", renewal_date=None),  # scored, but no renewal date
    ],
    "surveys": [
        *[survey(name, "nps", 0, "2026-03-01") for name in DETRACTED],
        survey("TOP", "nps", 10, "2026-03-01", contact_id="C-TOP"),
        survey("MID", "nps", 10, "2026-03-01", contact_id="C-MID"),
        survey("LOW", "nps", 0, "2026-03-01"),
    ],
    "crm_activities": [
        activity("TOP", "qbr", "2026-03-02"),
        activity("TOP", "meeting_held", "2026-03-30"),
        activity("TOP", "email_sent", "2026-03-29"),
        activity("TOP", "email_reply", "2026-03-30"),
        activity("MID", "meeting_held", "2026-03-30"),
        activity("LOW", "email_sent", "2026-03-01"),  # never answered
    ],
    "support_tickets": [ticket("LOW", "2026-03-01")],  # urgent, open
    "billing_subscriptions": [
        subscription("CHURNED", "2024-06-01", 1000, end="2026-03-01"),
        subscription("SUB", "2024-06-01", 1250),
    ],
    "billing_invoices": [
        invoice("LATE31", day(-31), "open"),  # due 2026-02-28: 31 days late, overdue
        invoice("LATE30", day(-30), "open"),  # due 2026-03-01: exactly 30 days, not yet
        invoice("PAID", "2025-06-01", "paid"),  # paid (late): no longer counts
        invoice("UNCOLL", "2025-06-01", "uncollectible"),  # counts however old
        invoice("TWICE", day(-45), "open"),  # two overdue invoices ...
        invoice("TWICE", "2025-06-01", "uncollectible"),  # ... take 20 points once
        invoice("ALL", day(-60), "open"),  # 60 days late
        invoice("LOW", "2025-06-01", "uncollectible"),
    ],
}


@pytest.fixture(scope="module")
def renewals(tmp_path_factory):
    """The renewal book run for D: (pipeline rows by account, health scores by account)."""
    connection = run_book(tmp_path_factory.mktemp("renewals"), RENEWAL_BOOK)
    pipeline = {
        r["account_id"]: r
        for r in table(connection, "SELECT * FROM mart.renewal_pipeline").to_dicts()
    }
    scores = health_scores(connection)
    connection.close()
    return pipeline, scores


def test_only_scored_accounts_with_a_renewal_date_are_in_the_pipeline(renewals):
    pipeline, scores = renewals
    assert {"FUTURE", "CHURNED"}.isdisjoint(scores)
    assert "NODATE" in scores
    assert {"FUTURE", "CHURNED", "NODATE"}.isdisjoint(pipeline)
    # 12 stage accounts less D+121 and D-91, and the 13 confidence accounts
    assert len(pipeline) == 10 + 13
    assert {r["as_of_date"] for r in pipeline.values()} == {D}


def stage_of(pipeline, offset: int):
    found = pipeline.get(f"D{offset:+d}")
    if found is None:
        return None
    assert found["days_to_renewal"] == offset  # renewal_date - D
    assert found["renewal_date"] == D + dt.timedelta(days=offset)
    return found["stage"]


def test_stage_t120(renewals):
    pipeline, _ = renewals
    assert stage_of(pipeline, 121) is None  # 2026-07-30: beyond the 120-day window
    assert stage_of(pipeline, 120) == "T-120"  # 2026-07-29: last day in
    assert stage_of(pipeline, 91) == "T-120"  # 2026-06-30


def test_stages_come_from_config(tmp_path):
    """A 150-day window with a T-150 stage: 121 days out is T-150, 120 still T-120."""
    stages = {"T-30": 30, "T-60": 60, "T-90": 90, "T-120": 120, "T-150": 150}
    connection = run_book(
        tmp_path, RENEWAL_BOOK, operations=with_renewals(window_days=150, stages=stages)
    )
    pipeline = {
        r["account_id"]: r
        for r in table(connection, "SELECT * FROM mart.renewal_pipeline").to_dicts()
    }
    connection.close()
    assert stage_of(pipeline, 121) == "T-150"
    assert stage_of(pipeline, 120) == "T-120"
    assert stage_of(pipeline, 30) == "T-30"


def test_stage_t90(renewals):
    pipeline, _ = renewals
    assert stage_of(pipeline, 90) == "T-90"  # 2026-06-29
    assert stage_of(pipeline, 61) == "T-90"  # 2026-05-31


def test_stage_t60(renewals):
    pipeline, _ = renewals
    assert stage_of(pipeline, 60) == "T-60"  # 2026-05-30
    assert stage_of(pipeline, 31) == "T-60"  # 2026-05-01
    assert pipeline["BASE"]["stage"] == "T-60"  # D+45


def test_stage_t30(renewals):
    pipeline, _ = renewals
    assert stage_of(pipeline, 30) == "T-30"  # 2026-04-30
    assert stage_of(pipeline, 0) == "T-30"  # renews on D itself


def test_stage_overdue(renewals):
    pipeline, _ = renewals
    assert stage_of(pipeline, -1) == "overdue"  # 2026-03-30
    assert stage_of(pipeline, -90) == "overdue"  # 2025-12-31: last overdue day kept
    assert stage_of(pipeline, -91) is None  # 2025-12-30: dropped


def confidence(pipeline, scores, name: str, adjustment: float) -> float:
    """Checks that `name`'s confidence is its health score plus `adjustment` (clamped) and
    that the pipeline shows that same health score; returns the confidence."""
    found = pipeline[name]
    assert found["health_score"] == scores[name]
    assert found["renewal_confidence"] == pytest.approx(clamp(scores[name] + adjustment))
    return found["renewal_confidence"]


def test_confidence_is_the_health_score_without_adjustments(renewals):
    pipeline, scores = renewals
    confidence(pipeline, scores, "BASE", 0)
    assert 0 < scores["BASE"] < 90  # so nothing below is hidden by the clamps


def test_confidence_budget_confirmed_adds_10(renewals):
    pipeline, scores = renewals
    assert scores["BUDGET"] + 10 < 100
    confidence(pipeline, scores, "BUDGET", +10)


def test_confidence_executive_sponsor_engaged_adds_5(renewals):
    pipeline, scores = renewals
    assert scores["EXEC"] + 5 < 100
    confidence(pipeline, scores, "EXEC", +5)


def test_confidence_open_invoice_more_than_30_days_late_takes_20(renewals):
    pipeline, scores = renewals
    assert scores["LATE31"] - 20 > 0
    confidence(pipeline, scores, "LATE31", -20)  # D - 2026-02-28 = 31 > 30
    confidence(pipeline, scores, "LATE30", 0)  # D - 2026-03-01 = 30: not overdue yet
    confidence(pipeline, scores, "PAID", 0)  # paid: not open


def test_confidence_uncollectible_invoice_takes_20(renewals):
    pipeline, scores = renewals
    assert scores["UNCOLL"] - 20 > 0
    confidence(pipeline, scores, "UNCOLL", -20)
    # an open invoice 45 days late and an uncollectible one: one payment_overdue, -20
    assert scores["TWICE"] - 20 > 0
    confidence(pipeline, scores, "TWICE", -20)


def test_confidence_adjustments_add_up(renewals):
    pipeline, scores = renewals
    assert 0 < scores["ALL"] + 10 + 5 - 20 < 100
    confidence(pipeline, scores, "ALL", +10 + 5 - 20)


def test_confidence_is_clamped_to_0_and_100(renewals):
    pipeline, scores = renewals
    assert scores["TOP"] + 10 + 5 > 100
    assert confidence(pipeline, scores, "TOP", +10 + 5) == 100
    assert 0 < scores["LOW"] < 20
    assert confidence(pipeline, scores, "LOW", -20) == 0


def test_zones_follow_confidence(renewals):
    pipeline, _ = renewals
    for found in pipeline.values():
        level = found["renewal_confidence"]
        expected = "green" if level >= 90 else "yellow" if level >= 60 else "red"
        assert found["renewal_zone"] == expected, found
    assert pipeline["TOP"]["renewal_zone"] == "green"  # 100
    assert pipeline["MID"]["renewal_zone"] == "yellow"
    assert pipeline["LOW"]["renewal_zone"] == "red"  # 0
    assert load_operations().renewals.green_from == 90
    assert load_operations().renewals.yellow_from == 60


def test_arr_at_risk(renewals):
    pipeline, scores = renewals
    # ARR is the scored ARR: 12 x MRR(D) = 12 x 1,250 for SUB, the CRM arr (30,000) for
    # the accounts without subscriptions
    assert pipeline["SUB"]["arr"] == 15000
    assert {r["arr"] for name, r in pipeline.items() if name != "SUB"} == {30000}
    # SUB: 15,000 x (1 - s/100) = 150 x (100 - s), 150 x 65.7 = 9,855 today
    assert pipeline["SUB"]["arr_at_risk"] == pytest.approx(150 * (100 - scores["SUB"]))
    assert pipeline["TOP"]["arr_at_risk"] == 0  # 30,000 x (1 - 100/100)
    assert pipeline["LOW"]["arr_at_risk"] == 30000  # 30,000 x (1 - 0/100)
    # MID: 30,000 x (1 - 86/100) = 4,200 today; BASE: 30,000 x (1 - s/100) = 300 x (100 - s)
    assert pipeline["MID"]["arr_at_risk"] == pytest.approx(
        300 * (100 - pipeline["MID"]["renewal_confidence"])
    )
    assert pipeline["BASE"]["arr_at_risk"] == pytest.approx(300 * (100 - scores["BASE"]))
    for found in pipeline.values():
        assert found["arr_at_risk"] == pytest.approx(
            found["arr"] * (1 - found["renewal_confidence"] / 100)
        )


# Zone edges with the shipped thresholds (green from 90, yellow from 60): EXEC's health score
# s does not depend on its sponsor (five_dimension has no sponsor measure), so setting the
# executive points to target - s lands its confidence on the target. For targets 90 and 60
# the sum s + (target - s) is exact in floating point (s is within [target/2, 2 target]).


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    connection = run_book(
        tmp_path_factory.mktemp("zones"),
        {
            "crm_accounts": [account("EXEC", executive_sponsor_engaged="true")],
            "surveys": [survey("EXEC", "nps", 10, "2026-03-01")],
            "support_tickets": [ticket("EXEC", "2026-03-01", "normal")],
        },
    )
    yield connection, health_scores(connection)["EXEC"]
    connection.close()


@pytest.mark.parametrize(
    ("target", "zone"), [(90, "green"), (89.9, "yellow"), (60, "yellow"), (59.9, "red")]
)
def test_zone_edges(zones, target, zone):
    connection, s = zones
    assert target / 2 <= s <= 2 * target
    operate(connection, D, with_renewals(executive_engaged_points=target - s))
    found = table(connection, "SELECT * FROM mart.renewal_pipeline").to_dicts()
    assert len(found) == 1
    assert found[0]["renewal_confidence"] == pytest.approx(target)
    if target in (90, 60):
        assert found[0]["renewal_confidence"] == target  # exactly on the edge
    assert found[0]["renewal_zone"] == zone


# === Portfolio KPIs =========================================================================

# Scored accounts, by CSM (P5 is churned: in the retention cohort, not scored):
#   csm_a: P1 P2 P3 P7 P11 (5)   csm_b: P4 P8 P9 P12 (4)   unassigned: P6 P10 (2)   = 11
# Retention cohort (active on 2025-03-01): P1 P3 P4 P5 P6, contracts 2024-06-01.
# New accounts (no subscriptions): P2 P7 P8 P9 P10 P11 P12, for time to first value.
NEW = {
    "P2": ("csm_a", "2025-04-01"),
    "P7": ("csm_a", "2025-03-31"),
    "P11": ("csm_a", "2025-09-01"),
    "P8": ("csm_b", "2026-01-01"),
    "P9": ("csm_b", "2026-02-01"),
    "P12": ("csm_b", "2025-10-01"),
    "P10": (None, "2025-06-01"),
}

PORTFOLIO_BOOK = {
    "crm_accounts": [
        account("P1"),
        account("P3"),
        account("P4", csm_owner="csm_b"),
        account("P5", csm_owner="csm_b"),
        account("P6", csm_owner=None),
        *[
            account(name, csm_owner=owner, contract_start_date=start)
            for name, (owner, start) in NEW.items()
        ],
    ],
    "billing_subscriptions": [
        subscription("P1", "2024-06-01", 1000),
        subscription("P1", "2025-06-01", 500),  # expansion: 1500 from June
        subscription("P3", "2024-06-01", 500, end="2026-03-01"),
        subscription("P3", "2026-03-01", 300),  # contraction on 2026-03-01
        subscription("P4", "2024-06-01", 400),
        subscription("P5", "2024-06-01", 800, end="2026-03-01"),  # churned on 2026-03-01
        subscription("P6", "2024-06-01", 600),
    ],
    "surveys": [
        # NPS, W(180) = 2025-10-03..2026-03-31, each contact's latest response in it
        survey("P1", "nps", 3, "2025-11-01", contact_id="C1"),
        survey("P1", "nps", 9, "2026-02-01", contact_id="C1"),  # C1's latest: promoter
        survey("P1", "nps", 6, "2026-03-01", contact_id="C2"),  # detractor ...
        survey("P1", "nps", 10, "2026-04-01", contact_id="C2"),  # ... after D: not counted
        survey("P3", "nps", 10, "2025-10-03", contact_id="C3"),  # first day of W: promoter
        survey("P3", "nps", 0, "2025-10-02", contact_id="C4"),  # the day before: not counted
        survey("P4", "nps", 8, "2026-03-15", contact_id="C5"),  # passive
        survey("P4", "nps", 10, "2026-01-10", contact_id="C6"),
        survey("P4", "nps", 2, "2026-03-20", contact_id="C6"),  # C6's latest: detractor
        survey("P6", "nps", 10, "2026-02-01"),  # no contact: each response counts
        survey("P6", "nps", 9, "2026-02-02"),
        survey("P5", "nps", 0, "2026-02-15", contact_id="C7"),  # P5 not scored
        # CSAT, W(180)
        survey("P1", "csat", 5, "2026-03-31"),  # D: in
        survey("P1", "csat", 4, "2025-10-03"),  # first day: in
        survey("P1", "csat", 1, "2025-10-02"),  # the day before: out
        survey("P1", "csat", 1, "2026-04-01"),  # after D: out
        survey("P6", "csat", 3, "2026-01-15"),
        survey("P5", "csat", 1, "2026-02-15"),  # P5 not scored
    ],
    "crm_activities": [
        # QBRs, W(90) = 2026-01-01..03-31
        activity("P1", "qbr", "2026-01-01"),  # first day: in
        activity("P2", "qbr", "2025-12-31"),  # the day before: out
        activity("P3", "qbr", "2026-03-31"),  # D: in
        activity("P4", "meeting_held", "2026-03-01"),  # not a QBR
        activity("P8", "qbr", "2026-02-15"),
        activity("P5", "qbr", "2026-02-15"),  # P5 not scored
    ],
    "onboarding_milestones": [
        # first_value, for contracts started in W(365) = 2025-04-01..2026-03-31
        milestone("P2", "2025-05-01", "2025-04-21"),  # 2025-04-01 + 20 days
        milestone("P7", "2025-05-01", "2025-04-05"),  # started 2025-03-31: outside W
        milestone("P8", "2026-02-01", "2026-02-10"),  # 2026-01-01 + 40 days
        milestone("P9", "2026-03-01", "2026-04-10"),  # completed after D: not yet
        milestone("P10", "2025-07-01", "2025-06-11"),  # 2025-06-01 + 10 days
        milestone("P12", "2025-11-01", "2026-03-31"),  # on D: 2025-10-01 + 181 days
        milestone("P1", "2024-07-01", "2024-06-05"),  # started 2024-06-01: outside W
        # P11: started 2025-09-01, no first value
    ],
}

GROUPS = {
    "all": ("all", "all"),
    "csm_a": ("csm", "csm_a"),
    "csm_b": ("csm", "csm_b"),
    "unassigned": ("csm", "unassigned"),
}


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory):
    """The portfolio book run for D: (KPI rows by (group, kpi), health rows by account)."""
    connection = run_book(tmp_path_factory.mktemp("portfolio"), PORTFOLIO_BOOK)
    kpis = {
        (r["group_value"], r["kpi"]): r
        for r in table(connection, "SELECT * FROM mart.portfolio_kpis").to_dicts()
    }
    health = {
        r["account_id"]: r
        for r in table(
            connection, "SELECT * FROM mart.account_health WHERE as_of_date = ?", D
        ).to_dicts()
    }
    connection.close()
    return kpis, health


def kpi(portfolio, group: str, name: str):
    return portfolio[0][(group, name)]["value"]


def test_one_row_per_group_and_kpi_with_its_target(portfolio):
    kpis, health = portfolio
    assert set(health) == {"P1", "P2", "P3", "P4", "P6", *NEW} - {"P5"}
    assert len(health) == 11
    assert len(kpis) == len(GROUPS) * len(KPIS)
    targets = load_operations().portfolio.targets
    for (group, name), found in kpis.items():
        assert (found["group_by"], found["group_value"]) == GROUPS[group]
        assert found["as_of_date"] == D
        assert (found["comparison"], found["target"]) == (targets[name][0], targets[name][1])


def members(health, group: str) -> list[dict]:
    owner = {"all": None, "unassigned": "unassigned"}.get(group, group)
    return [
        r for r in health.values() if group == "all" or (r["csm_owner"] or "unassigned") == owner
    ]


# Health scores are read back; on this book they come out (score, colour):
#   csm_a: P1 57.5 yellow, P2 0 red, P3 80.0 green, P7 0 red, P11 0 red
#   csm_b: P4 34.9 red, P8 55.9 yellow, P9 0 red, P12 0 red
#   unassigned: P6 25.5 red, P10 0 red
# so all: green 1/11, yellow 2/11, red 8/11, avg 253.8 / 11 = 23.07; csm_a: 0.2, 0.2, 0.6,
# avg 137.5 / 5 = 27.5; csm_b: 0, 0.25, 0.75, avg 90.8 / 4 = 22.7; unassigned: 0, 0, 1,
# avg 12.75.
@pytest.mark.parametrize("group", ["all", "csm_a", "csm_b", "unassigned"])
def test_tier_shares_and_average_health(portfolio, group):
    _, health = portfolio
    assert {r["colour"] for r in health.values()} == {"green", "yellow", "red"}
    accounts = members(health, group)
    assert len(accounts) == {"all": 11, "csm_a": 5, "csm_b": 4, "unassigned": 2}[group]
    for colour in ("green", "yellow", "red"):
        share = sum(r["colour"] == colour for r in accounts) / len(accounts)
        assert kpi(portfolio, group, f"share_{colour}") == pytest.approx(share)
    assert sum(kpi(portfolio, group, f"share_{c}") for c in ("green", "yellow", "red")) == (
        pytest.approx(1)
    )
    mean = sum(r["health_score"] for r in accounts) / len(accounts)
    assert kpi(portfolio, group, "avg_health") == pytest.approx(mean)


def test_nps_counts_each_contacts_latest_response_in_the_window(portfolio):
    # counted: C1 9 (its 3 of 2025-11-01 is older), C2 6 (its 10 is after D), C3 10
    # (2025-10-03, first day), C5 8, C6 2 (its 10 is older), P6's 10 and 9 (no contact);
    # not: C4 (2025-10-02, outside W), C7 (P5 is not scored).
    # all: 7 responses, promoters C1 C3 10 9 = 4, detractors C2 C6 = 2: 100 x (4 - 2) / 7
    assert kpi(portfolio, "all", "nps") == pytest.approx(100 * 2 / 7)  # 28.57
    # csm_a: C1 9, C2 6, C3 10: 100 x (2 - 1) / 3
    assert kpi(portfolio, "csm_a", "nps") == pytest.approx(100 / 3)
    # csm_b: C5 8, C6 2: 100 x (0 - 1) / 2
    assert kpi(portfolio, "csm_b", "nps") == pytest.approx(-50)
    assert kpi(portfolio, "unassigned", "nps") == pytest.approx(100)  # 10 and 9


def test_csat_is_the_mean_survey_score_in_the_window(portfolio):
    # P1: 5 (D) and 4 (2025-10-03); 1 on 2025-10-02 and 1 after D are outside; P6: 3;
    # P5's 1 is not a scored account's. all: (5 + 4 + 3) / 3 = 4.0
    assert kpi(portfolio, "all", "csat") == pytest.approx(4.0)
    assert kpi(portfolio, "csm_a", "csat") == pytest.approx(4.5)  # (5 + 4) / 2
    assert kpi(portfolio, "unassigned", "csat") == pytest.approx(3.0)
    assert kpi(portfolio, "csm_b", "csat") is None  # no csat survey


def test_qbr_completion_is_the_share_of_accounts_with_a_qbr_in_the_window(portfolio):
    # QBRs in W(90): P1 (2026-01-01), P3 (D), P8; not P2 (2025-12-31), P4 (a meeting)
    assert kpi(portfolio, "all", "qbr_completion") == pytest.approx(3 / 11)
    assert kpi(portfolio, "csm_a", "qbr_completion") == pytest.approx(2 / 5)  # P1, P3
    assert kpi(portfolio, "csm_b", "qbr_completion") == pytest.approx(1 / 4)  # P8
    assert kpi(portfolio, "unassigned", "qbr_completion") == 0  # P6, P10: none


def test_retention_kpis_come_from_the_ttm_row_ending_in_the_as_of_month(portfolio):
    # ttm 2025-03-01 -> 2026-03-01, MRR start -> end:
    #   P1 1000 -> 1500, P3 500 -> 300, P4 400 -> 400, P5 800 -> 0 (churned), P6 600 -> 600
    # all: starting 3300, ending 2800, retained min(.) 1000+300+400+0+600 = 2300; 4 of 5 logos
    assert kpi(portfolio, "all", "grr") == pytest.approx(2300 / 3300)  # 0.697
    assert kpi(portfolio, "all", "nrr") == pytest.approx(2800 / 3300)  # 0.848
    assert kpi(portfolio, "all", "logo_retention") == pytest.approx(4 / 5)
    # csm_a (P1, P3): starting 1500, ending 1800, retained 1300, 2 of 2
    assert kpi(portfolio, "csm_a", "grr") == pytest.approx(1300 / 1500)  # 0.867
    assert kpi(portfolio, "csm_a", "nrr") == pytest.approx(1800 / 1500)  # 1.2
    assert kpi(portfolio, "csm_a", "logo_retention") == 1
    # csm_b (P4, P5): starting 1200, ending 400, retained 400, 1 of 2
    assert kpi(portfolio, "csm_b", "grr") == pytest.approx(400 / 1200)
    assert kpi(portfolio, "csm_b", "nrr") == pytest.approx(400 / 1200)
    assert kpi(portfolio, "csm_b", "logo_retention") == pytest.approx(0.5)
    # unassigned (P6): flat
    assert [kpi(portfolio, "unassigned", name) for name in ("grr", "nrr", "logo_retention")] == [
        1,
        1,
        1,
    ]
    # The ttm row ending a month earlier (2025-02-01 -> 2026-02-01) had no churn and no
    # contraction yet: GRR 1, NRR 3500 / 3300, all 5 logos. It is not the one used.
    assert kpi(portfolio, "all", "grr") != 1


def test_an_older_date_run_later_keeps_its_own_retention_kpis(tmp_path):
    """P1 moves from csm_a to csm_b on D. Run D, then the day before: that day's KPIs
    count P1's retention for csm_a, its owner then, not from the marts of D."""
    extracts, before = tmp_path / "extracts", D - dt.timedelta(days=1)
    write_delivery(extracts, "crm_accounts", before, [account("P1", csm_owner="csm_a")])
    write_delivery(extracts, "crm_accounts", D, [account("P1", csm_owner="csm_b")])
    write_delivery(
        extracts, "billing_subscriptions", before, [subscription("P1", "2024-06-01", 100)]
    )
    connection = work_database(tmp_path / "work.duckdb")
    run_day(connection, extracts, D, run_id="run-1")
    run_day(connection, extracts, before, run_id="run-2")
    kpis = table(
        connection,
        "SELECT as_of_date, group_value, value FROM mart.portfolio_kpis "
        "WHERE kpi = 'grr' AND group_by = 'csm' ORDER BY ALL",
    )
    assert kpis.rows() == [(before, "csm_a", 1.0), (D, "csm_b", 1.0)]
    held = table(
        connection,
        "SELECT DISTINCT as_of_date, group_value FROM mart.retention WHERE group_by = 'csm'",
    )
    assert held.rows() == [(D, "csm_b")]
    connection.close()


def test_time_to_first_value_is_the_median_of_accounts_started_in_the_window(portfolio):
    # started in W(365) with first value by D: P2 20, P8 40, P10 10, P12 181 days (on D:
    # Oct 31 + Nov 30 + Dec 31 + Jan 31 + Feb 28 + Mar 30); not P7 (started 2025-03-31),
    # P1 (2024), P9 (first value after D), P11 (none).
    # all: median of 10, 20, 40, 181 = (20 + 40) / 2 = 30
    assert kpi(portfolio, "all", "time_to_first_value") == 30
    assert kpi(portfolio, "csm_a", "time_to_first_value") == 20  # P2 alone
    assert kpi(portfolio, "csm_b", "time_to_first_value") == 110.5  # (40 + 181) / 2
    assert kpi(portfolio, "unassigned", "time_to_first_value") == 10  # P10


def test_accounts_per_csm(portfolio):
    # 11 scored accounts / 2 CSMs with accounts (csm_a, csm_b; unassigned is no CSM)
    assert kpi(portfolio, "all", "accounts_per_csm") == 5.5
    assert kpi(portfolio, "csm_a", "accounts_per_csm") == 5
    assert kpi(portfolio, "csm_b", "accounts_per_csm") == 4
    # accounts without a CSM have no CSM to divide by: nothing to measure
    assert kpi(portfolio, "unassigned", "accounts_per_csm") is None


def test_met_compares_value_and_target_and_is_null_without_a_value(portfolio):
    kpis, _ = portfolio
    met = {key: found["met"] for key, found in kpis.items()}
    assert met["all", "nps"] is False  # 28.6 > 40
    assert met["unassigned", "nps"] is True  # 100 > 40
    assert met["csm_a", "csat"] is False  # 4.5 > 4.5: not strictly above
    assert met["csm_b", "csat"] is None  # no value
    assert met["all", "time_to_first_value"] is False  # 30 < 30: not strictly below
    assert met["csm_a", "time_to_first_value"] is True  # 20 < 30
    assert met["csm_a", "nrr"] is True  # 1.2 > 1.1
    assert met["all", "nrr"] is False  # 0.85 > 1.1
    assert met["all", "accounts_per_csm"] is True  # 5.5 <= 100
    assert met["unassigned", "accounts_per_csm"] is None
    assert met["all", "qbr_completion"] is False  # 0.27 > 0.9
    for found in kpis.values():
        assert (found["met"] is None) == (found["value"] is None), found


# Two scored accounts of csm_a, no subscriptions, no surveys, no activities; Q1 reached
# first value 20 days after its start.
SMALL_BOOK = {
    "crm_accounts": [account("Q1", contract_start_date="2026-01-01"), account("Q2")],
    "onboarding_milestones": [milestone("Q1", "2026-02-01", "2026-01-21")],
}


@pytest.fixture(scope="module")
def small_book(tmp_path_factory):
    connection = run_book(tmp_path_factory.mktemp("small"), SMALL_BOOK)
    yield connection
    connection.close()


def test_no_retention_row_and_no_surveys_leave_null_values(small_book):
    # no subscriptions: no ttm row; no surveys, no QBR, nothing in W for NPS and CSAT
    rows = table(
        small_book, "SELECT group_value, kpi, value, met FROM mart.portfolio_kpis"
    ).to_dicts()
    values = {(r["group_value"], r["kpi"]): (r["value"], r["met"]) for r in rows}
    for group in ("all", "csm_a"):
        for name in ("nps", "csat", "grr", "nrr", "logo_retention"):
            assert values[group, name] == (None, None)
        assert values[group, "qbr_completion"] == (0, False)
        assert values[group, "time_to_first_value"] == (20, True)  # Q1 only: 2026-01-21
    assert len(rows) == 2 * len(KPIS)


@pytest.mark.parametrize(
    ("comparison", "bound", "met"),
    [
        (">", 2, False),
        (">=", 2, True),
        ("<", 2, False),
        ("<=", 2, True),
        (">", 1.5, True),
        ("<", 2.5, True),
    ],
)
def test_met_for_each_comparison(small_book, comparison, bound, met):
    # accounts_per_csm: 2 accounts / 1 CSM = 2
    operate(small_book, D, with_targets(accounts_per_csm=(comparison, bound)))
    found = table(
        small_book,
        "SELECT * FROM mart.portfolio_kpis WHERE group_by = 'all' AND kpi = 'accounts_per_csm'",
    ).to_dicts()
    assert [(r["value"], r["comparison"], r["target"], r["met"]) for r in found] == [
        (2, comparison, bound, met)
    ]


def test_a_rerun_replaces_the_dates_rows_and_keeps_other_dates(tmp_path):
    connection = run_book(tmp_path, SMALL_BOOK)
    later = D + dt.timedelta(days=1)
    run_day(connection, tmp_path / "extracts", later)  # the same deliveries, a day later
    operate(connection, D, with_targets(avg_health=(">", 10)))  # D again, another target
    counts = dict(
        connection.execute(
            "SELECT as_of_date, count(*) FROM mart.portfolio_kpis GROUP BY ALL"
        ).fetchall()
    )
    assert counts == {D: 2 * len(KPIS), later: 2 * len(KPIS)}
    targets = dict(
        connection.execute(
            "SELECT as_of_date, target FROM mart.portfolio_kpis "
            "WHERE kpi = 'avg_health' AND group_value = 'all'"
        ).fetchall()
    )
    connection.close()
    assert targets == {D: 10, later: 75}  # D rewritten with the new target, later kept


def test_a_date_without_scored_accounts_has_a_book_row_of_nulls(tmp_path):
    # the only account's contract starts after D: nothing is scored, nothing to measure
    connection = run_book(tmp_path, {"crm_accounts": [account("Z1", contract_start_date=day(1))]})
    rows = table(connection, "SELECT * FROM mart.portfolio_kpis").to_dicts()
    connection.close()
    assert sorted(r["kpi"] for r in rows) == sorted(KPIS)
    assert {(r["group_by"], r["group_value"]) for r in rows} == {("all", "all")}
    assert {(r["value"], r["met"]) for r in rows} == {(None, None)}
