"""mart.onboarding and mart.expansion_opportunities on two tiny books, every number worked
by hand from the CS-operations contract. The as-of date D is 2026-03-31, so:
W(30) = 2026-03-02..03-31 (D-29..D), W(90) = 2026-01-01..03-31 (D-89..D);
D-6 = 03-25, D-7 = 03-24, D-29 = 03-02, D-30 = 03-01, D-119 = 2025-12-02,
D-120 = 2025-12-01. Dates of timestamps are UTC dates (the session is UTC).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from conftest import VALID_ROWS, operate, run_day, table, work_database, write_delivery

from pipelines.operations import Operations, load_operations
from schemas.extracts import DATASETS

D = dt.date(2026, 3, 31)
_ids = itertools.count(1)


def row(dataset: str, **values) -> dict:
    """A valid row of `dataset` with `values`; keys get a fresh id unless given."""
    defaults = dict(VALID_ROWS[dataset])
    key = DATASETS[dataset].key[0]
    defaults[key] = f"{key}-{next(_ids)}"
    defaults.update({name: None if value is None else str(value) for name, value in values.items()})
    return defaults


def account(account_id: str, start: str = "2025-01-01", **values) -> dict:
    values = {
        "licensed_seats": 10,
        "arr": 30000,
        "plan_tier": "starter",
        "executive_sponsor_identified": "false",
        "executive_sponsor_engaged": "false",
        "champion_present": "false",
        "renewal_budget_confirmed": "false",
        "renewal_date": None,
        **values,
    }
    return row(
        "crm_accounts",
        account_id=account_id,
        account_name=account_id,
        contract_start_date=start,
        **values,
    )


def user(account_id: str, user_id: str, created: str) -> dict:
    return row(
        "product_users", user_id=user_id, account_id=account_id, created_at=f"{created}T09:00:00Z"
    )


def event(account_id: str, user_id: str, event_name: str, at: str) -> dict:
    """`at`: a day (10:00 UTC that day) or a whole timestamp."""
    occurred = at if "T" in at else f"{at}T10:00:00Z"
    return row(
        "product_events",
        account_id=account_id,
        user_id=user_id,
        event_name=event_name,
        occurred_at=occurred,
        session_id=None,
    )


def milestone(account_id: str, name: str, due: str, completed: str | None = None) -> dict:
    return row(
        "onboarding_milestones",
        account_id=account_id,
        milestone=name,
        due_date=due,
        completed_date=completed,
    )


def ticket(
    account_id: str,
    created: str,
    status: str = "solved",
    is_blocker: bool = False,
    ticket_type: str = "question",
) -> dict:
    """`created`: a day (09:00 UTC that day) or a whole timestamp."""
    created_at = created if "T" in created else f"{created}T09:00:00Z"
    solved = status in ("solved", "closed")
    return row(
        "support_tickets",
        account_id=account_id,
        created_at=created_at,
        resolved_at=created_at if solved else None,
        status=status,
        is_blocker=str(is_blocker).lower(),
        ticket_type=ticket_type,
        priority="normal",
        csat_score=None,
        sentiment=None,
    )


def subscription(
    account_id: str,
    product: str,
    mrr: float = 1000,
    start: str = "2025-01-01",
    end: str | None = None,
) -> dict:
    return row(
        "billing_subscriptions",
        account_id=account_id,
        product=product,
        mrr=mrr,
        start_date=start,
        end_date=end,
    )


def good_start(account_id: str, start: str) -> tuple[dict, list[dict]]:
    """A product user created on the start day who logs in and completes training that
    day, and their events: first login on day 0 and training completion 1/1, so neither
    no_login_first_week nor low_training can fire."""
    user_id = f"{account_id}-U"
    return user(account_id, user_id, start), [
        event(account_id, user_id, "login", start),
        event(account_id, user_id, "training_completed", f"{start}T11:00:00Z"),
    ]


def write_book(root, book: dict[str, list[dict]]):
    for dataset, rows in book.items():
        write_delivery(root, dataset, D, rows)
    return root


def with_min_health(operations: Operations, min_health_score: float) -> Operations:
    return operations.model_copy(
        update={
            "expansion": operations.expansion.model_copy(
                update={"min_health_score": min_health_score}
            )
        }
    )


# --- onboarding ---------------------------------------------------------------------------

GOOD_STARTS = [
    good_start(account_id, start)
    for account_id, start in (
        ("K15", "2026-03-10"),
        ("K15open", "2026-03-10"),
        ("K14open", "2026-03-10"),
        ("B8", "2026-03-10"),
        ("B7", "2026-03-10"),
        ("W119", "2025-12-02"),
        ("W120", "2025-12-01"),
    )
]

# O1 exercises every measure (start 03-01, D - start = 30). K*, N*, T*, B* each sit on one
# side of a flag's edge; W* on either side of the 120-day window.
ONBOARDING = {
    "crm_accounts": [
        account("O1", "2026-03-01", licensed_seats=4),
        account("K15", "2026-03-10"),
        account("K15open", "2026-03-10"),
        account("K14open", "2026-03-10"),
        account("N6", "2026-03-25"),
        account("N7", "2026-03-24"),
        account("N7day7", "2026-03-24"),
        account("N7day6", "2026-03-24"),
        account("Npre", "2026-03-10"),
        account("T29", "2026-03-02"),
        account("T30", "2026-03-01"),
        account("Tnone", "2026-01-01"),
        account("B8", "2026-03-10"),
        account("B7", "2026-03-10"),
        account("W119", "2025-12-02"),
        account("W120", "2025-12-01"),
        account("Wchurned", "2026-03-01"),
        account("Wfuture", "2026-04-01"),
    ],
    "product_users": [
        user("O1", "O1-U1", "2026-03-01"),
        user("O1", "O1-U2", "2026-03-02"),
        user("O1", "O1-U3", "2026-03-10"),
        user("O1", "O1-U4", "2026-03-01"),
        user("O1", "O1-U5", "2026-04-02"),  # created after D: not a user yet
        user("T29", "T29-U1", "2026-03-02"),
        user("T29", "T29-U2", "2026-03-02"),
        *[user("T30", f"T30-U{n}", "2026-03-01") for n in (1, 2, 3)],
        *[user_row for user_row, _ in GOOD_STARTS],
    ],
    "product_events": [
        event("O1", "O1-U4", "reports", "2026-03-01T12:00:00Z"),  # not a login; before W(30)
        # 01:30 at +02:00 is 03-03 23:30 UTC: the first login is on 03-03
        event("O1", "O1-U2", "login", "2026-03-04T01:30:00+02:00"),
        event("O1", "O1-U1", "login", "2026-03-04"),
        event("O1", "O1-U1", "training_completed", "2026-03-20"),
        event("O1", "O1-U3", "training_completed", "2026-03-12"),
        event("O1", "O1-U3", "training_completed", "2026-03-25"),  # U3 counts once
        event("O1", "O1-U2", "training_completed", "2026-04-01T00:00:00Z"),  # after D
        event("N7day7", "N7day7-U", "login", "2026-03-31T08:00:00Z"),  # day 7
        event("N7day6", "N7day6-U", "login", "2026-03-30T23:59:59Z"),  # day 6
        event("Npre", "Npre-U", "login", "2026-03-08"),  # 2 days before the contract
        event("Npre", "Npre-U", "login", "2026-03-17"),  # day 7
        event("T29", "T29-U1", "login", "2026-03-02"),
        event("T29", "T29-U2", "login", "2026-03-02"),
        *[event("T30", f"T30-U{n}", "login", "2026-03-01") for n in (1, 2, 3)],
        event("T30", "T30-U1", "training_completed", "2026-03-05"),
        *[start_event for _, start_events in GOOD_STARTS for start_event in start_events],
    ],
    "onboarding_milestones": [
        milestone("O1", "kickoff", "2026-03-05", "2026-03-19"),  # 14 days late
        milestone("O1", "provisioning", "2026-03-10", "2026-03-08"),  # early
        milestone("O1", "first_workflow_live", "2026-03-15", "2026-03-16"),  # 1 day late
        milestone("O1", "first_value", "2026-03-25", "2026-03-21"),  # early
        milestone("O1", "success_criteria", "2026-03-20"),  # open, D - due = 11
        milestone("O1", "training_scheduled", "2026-03-31"),  # open, D - due = 0
        milestone("O1", "users_trained", "2026-03-28", "2026-04-05"),  # done after D
        milestone("K15", "kickoff", "2026-03-12", "2026-03-27"),  # 03-27 - 03-12 = 15
        milestone("K15open", "kickoff", "2026-03-16"),  # open: D - 03-16 = 15
        milestone("K14open", "kickoff", "2026-03-17"),  # open: D - 03-17 = 14
    ],
    "support_tickets": [
        ticket("B8", "2026-03-23T15:00:00Z", "open", is_blocker=True),  # D - 03-23 = 8
        ticket("B7", "2026-03-24T08:00:00Z", "pending", is_blocker=True),  # D - 03-24 = 7
        ticket("B7", "2026-03-11", "solved", is_blocker=True),  # old but solved
        ticket("B7", "2026-03-11", "open"),  # old and open, not a blocker
    ],
    "billing_subscriptions": [
        subscription("Wchurned", "platform", start="2026-03-01", end="2026-03-15"),
    ],
}


@pytest.fixture(scope="module")
def onboarding(tmp_path_factory):
    """The onboarding book run for D: {account_id: mart.onboarding row}."""
    root = tmp_path_factory.mktemp("onboarding")
    connection = work_database(root / "work.duckdb")
    run_day(connection, write_book(root / "extracts", ONBOARDING), D)
    rows = table(connection, "SELECT * FROM mart.onboarding").to_dicts()
    rejected = table(connection, "SELECT * FROM quarantine.rejected_rows")
    connection.close()
    assert rejected.is_empty()  # every hand-written row is valid and loaded
    return {r["account_id"]: r for r in rows}


def test_window_is_fewer_than_120_days_and_only_scored_accounts(onboarding):
    assert onboarding["W119"]["days_since_start"] == 119  # 03-31 - 2025-12-02
    assert "W120" not in onboarding  # D - 2025-12-01 = 120: not fewer than 120
    assert "Wchurned" not in onboarding  # subscriptions started, MRR(D) = 0: not scored
    assert "Wfuture" not in onboarding  # contract starts after D: not scored
    assert set(onboarding) == {
        "O1",
        "K15",
        "K15open",
        "K14open",
        "N6",
        "N7",
        "N7day7",
        "N7day6",
        "Npre",
        "T29",
        "T30",
        "Tnone",
        "B8",
        "B7",
        "W119",
    }
    assert {r["as_of_date"] for r in onboarding.values()} == {D}


def test_days_to_first_login(onboarding):
    # O1's first login is 03-03 23:30 UTC (written 03-04 01:30+02:00): 03-03 - 03-01 = 2;
    # the 03-01 'reports' event is not a login
    assert onboarding["O1"]["days_since_start"] == 30
    assert onboarding["O1"]["days_to_first_login"] == 2
    assert onboarding["N7day7"]["days_to_first_login"] == 7  # 03-31 - 03-24
    assert onboarding["N7day6"]["days_to_first_login"] == 6  # 03-30 - 03-24
    assert onboarding["Npre"]["days_to_first_login"] == -2  # 03-08 - 03-10
    assert onboarding["N7"]["days_to_first_login"] is None  # no login yet
    assert onboarding["K15"]["days_to_first_login"] == 0  # logs in on the start day


def test_days_to_first_value(onboarding):
    # first_value completed 03-21: 03-21 - 03-01 = 20
    assert onboarding["O1"]["days_to_first_value"] == 20
    assert onboarding["K15"]["days_to_first_value"] is None  # no first_value milestone


def test_training_completion_rate(onboarding):
    # O1 users created <= D: U1..U4 (U5 is created 04-02). Trained by D: U1 (03-20) and
    # U3 (twice, counts once); U2's training is on 04-01, after D. 2 / 4 = 0.5
    assert onboarding["O1"]["training_completion_rate"] == pytest.approx(0.5)
    assert onboarding["T30"]["training_completion_rate"] == pytest.approx(1 / 3)
    assert onboarding["T29"]["training_completion_rate"] == 0  # 0 of 2
    assert onboarding["K15"]["training_completion_rate"] == 1  # 1 of 1
    assert onboarding["Tnone"]["training_completion_rate"] is None  # no users


def test_seat_adoption(onboarding):
    # O1 active in W(30) = 03-02..03-31: U2 (03-03), U1 (03-04), U3 (03-12, 03-25); U4's
    # only event is on 03-01. 3 active / 4 licensed seats = 0.75
    assert onboarding["O1"]["seat_adoption"] == pytest.approx(0.75)
    assert onboarding["K15"]["seat_adoption"] == pytest.approx(0.1)  # 1 / 10 seats
    # T29: 2 users active on 03-02 (D-29, first day of W(30)): 2 / 10. T30: 3 users log
    # in on 03-01, before W(30); U1's training on 03-05 makes 1 active: 1 / 10
    assert onboarding["T29"]["seat_adoption"] == pytest.approx(0.2)
    assert onboarding["T30"]["seat_adoption"] == pytest.approx(0.1)
    assert onboarding["W119"]["seat_adoption"] == 0  # last event 2025-12-02
    assert onboarding["N7"]["seat_adoption"] == 0  # no events at all


def test_milestones_done_and_late(onboarding):
    # O1, (completed or D) - due:
    #   kickoff 03-19 - 03-05 = 14 (done, late), provisioning 03-08 - 03-10 = -2 (done),
    #   first_workflow_live 03-16 - 03-15 = 1 (done, late), first_value 03-21 - 03-25 = -4
    #   (done), success_criteria open: 03-31 - 03-20 = 11 (late), training_scheduled open:
    #   03-31 - 03-31 = 0 (not late), users_trained completed 04-05, after D, so open on D:
    #   03-31 - 03-28 = 3 (late, not done).
    assert onboarding["O1"]["milestones_done"] == 4
    assert onboarding["O1"]["milestones_late"] == 4
    assert (onboarding["K15"]["milestones_done"], onboarding["K15"]["milestones_late"]) == (1, 1)
    assert (onboarding["K14open"]["milestones_done"], onboarding["K14open"]["milestones_late"]) == (
        0,
        1,
    )
    assert (onboarding["N7"]["milestones_done"], onboarding["N7"]["milestones_late"]) == (0, 0)


def test_flag_kickoff_late(onboarding):
    assert onboarding["K15"]["flags"] == ["kickoff_late"]  # done 15 days after due
    assert onboarding["K15open"]["flags"] == ["kickoff_late"]  # open, D - due = 15
    assert onboarding["K14open"]["flags"] == []  # open, D - due = 14: not more than 14
    assert "kickoff_late" not in onboarding["O1"]["flags"]  # done exactly 14 days late


def test_flag_no_login_first_week(onboarding):
    assert onboarding["N6"]["flags"] == []  # D - start = 6: the first week is not over
    assert onboarding["N7"]["flags"] == ["no_login_first_week"]  # 7 days, never logged in
    # first login on day 7 (03-31): the first 7 days are days 0..6, 03-24..03-30
    assert onboarding["N7day7"]["flags"] == ["no_login_first_week"]
    assert onboarding["N7day6"]["flags"] == []  # 03-30 23:59:59 UTC is day 6
    # a login 2 days before the contract start is not a login in its first week; the
    # next one is on day 7
    assert onboarding["Npre"]["flags"] == ["no_login_first_week"]


def test_flag_blocker_open(onboarding):
    assert onboarding["B8"]["flags"] == ["blocker_open"]  # open blocker, D - 03-23 = 8 days
    # pending blocker D - 03-24 = 7 days: not more than 7; the 03-11 blocker is solved and
    # the open 03-11 ticket is not a blocker
    assert onboarding["B7"]["flags"] == []


def test_flag_low_training(onboarding):
    assert onboarding["T29"]["flags"] == []  # 0 of 2 trained, but D - start = 29 < 30
    assert onboarding["T30"]["flags"] == ["low_training"]  # day 30, 1/3 < 0.5
    assert onboarding["O1"]["flags"] == []  # day 30, 2/4 = 0.5: not below 0.5
    # day 89 with no product users: nobody trained (rate null, read as 0), nobody
    # logged in either
    assert onboarding["Tnone"]["flags"] == ["no_login_first_week", "low_training"]
    assert onboarding["W119"]["flags"] == []  # day 119, 1 of 1 trained, logged in day 0


# --- expansion ----------------------------------------------------------------------------

# Catalog tiers: starter reports, dashboards; professional exports; enterprise sso; alerts
# has no tier and counts for every plan. Features of a plan tier or below:
# starter 3 (reports, dashboards, alerts), professional 4 (+ exports), enterprise 5.
CATALOG = [
    row("feature_catalog", feature="reports", plan_tier="starter"),
    row("feature_catalog", feature="dashboards", plan_tier="starter"),
    row("feature_catalog", feature="exports", plan_tier="professional"),
    row("feature_catalog", feature="sso", plan_tier="enterprise"),
    row("feature_catalog", feature="alerts", plan_tier=None),
]
ALL_PRODUCTS = ["platform", "analytics", "automation"]


def users_active(account_id: str, count: int, day: str = "2026-03-20") -> list[dict]:
    return [event(account_id, f"{account_id}-U{n}", "login", day) for n in range(1, count + 1)]


def paying(account_id: str, products: list[str]) -> list[dict]:
    return [subscription(account_id, product) for product in products]


EXPANSION = {
    "crm_accounts": [
        account("X_SEAT", champion_present="true"),
        account("X_EDGE", licensed_seats=20),
        account(
            "X_LIMIT",
            plan_tier="professional",
            executive_sponsor_identified="true",
            executive_sponsor_engaged="true",
        ),
        account("X_ABOVE", renewal_budget_confirmed="true"),
        account("X_PRODUCT", plan_tier="professional"),
        account("X_NONE"),
        account("X_NOTIER", plan_tier=None, licensed_seats=1),
        account("X_TICKET"),
        account("X_LATE", "2026-02-01"),
        account("X_LATE_OLD"),
        account(
            "X_MULTI",
            licensed_seats=2,
            champion_present="true",
            executive_sponsor_identified="true",
            executive_sponsor_engaged="true",
            renewal_budget_confirmed="true",
        ),
    ],
    "feature_catalog": CATALOG,
    "product_events": [
        # X_SEAT: 9 users active on 03-20, a 10th only on 03-01 (before W(30))
        *users_active("X_SEAT", 9),
        event("X_SEAT", "X_SEAT-U10", "login", "2026-03-01"),
        *users_active("X_EDGE", 17),  # 17 / 20 = 0.85: not above 0.85
        *users_active("X_LIMIT", 1),
        event("X_LIMIT", "X_LIMIT-U1", "limit_reached", "2026-03-05"),
        event("X_LIMIT", "X_LIMIT-U1", "limit_reached", "2026-03-31T23:59:59Z"),
        event("X_LIMIT", "X_LIMIT-U1", "limit_reached", "2026-03-01T23:00:00Z"),  # before
        event("X_ABOVE", "X_ABOVE-U1", "reports", "2026-03-10"),
        event("X_ABOVE", "X_ABOVE-U1", "sso", "2026-03-11"),  # enterprise > starter
        event("X_ABOVE", "X_ABOVE-U1", "sso", "2026-03-12"),
        event("X_ABOVE", "X_ABOVE-U1", "exports", "2026-03-13"),  # professional > starter
        event("X_ABOVE", "X_ABOVE-U1", "exports", "2026-03-01"),  # before W(30)
        # X_PRODUCT (professional): reports, dashboards, alerts of its 4 features
        event("X_PRODUCT", "X_PRODUCT-U1", "reports", "2026-03-10"),
        event("X_PRODUCT", "X_PRODUCT-U1", "dashboards", "2026-03-11"),
        event("X_PRODUCT", "X_PRODUCT-U1", "alerts", "2026-03-12"),
        # X_NONE (starter): every feature of its plan (adoption 1) but pays for all three
        event("X_NONE", "X_NONE-U1", "reports", "2026-03-10"),
        event("X_NONE", "X_NONE-U1", "dashboards", "2026-03-11"),
        event("X_NONE", "X_NONE-U1", "alerts", "2026-03-12"),
        # X_NOTIER (no plan tier) uses the enterprise feature sso
        event("X_NOTIER", "X_NOTIER-U1", "sso", "2026-03-10"),
        # X_MULTI: both of its 2 seats active, every starter feature, a limit hit
        event("X_MULTI", "X_MULTI-U1", "reports", "2026-03-10"),
        event("X_MULTI", "X_MULTI-U1", "dashboards", "2026-03-11"),
        event("X_MULTI", "X_MULTI-U1", "alerts", "2026-03-12"),
        event("X_MULTI", "X_MULTI-U2", "limit_reached", "2026-03-30"),
    ],
    "support_tickets": [
        ticket("X_TICKET", "2026-01-01", ticket_type="problem"),  # first day of W(90)
        ticket("X_TICKET", "2026-03-20", "open", ticket_type="feature_request"),
        ticket("X_TICKET", "2025-12-31", ticket_type="feature_request"),  # before W(90)
        ticket("X_TICKET", "2026-03-15", ticket_type="question"),
        ticket("X_TICKET", "2026-03-16", ticket_type="incident"),
        ticket("X_MULTI", "2026-03-15", ticket_type="feature_request"),
    ],
    "onboarding_milestones": [
        # X_LATE is in onboarding (D - 02-01 = 58): provisioning open, D - 03-01 = 30 late
        milestone("X_LATE", "kickoff", "2026-02-05", "2026-02-04"),
        milestone("X_LATE", "provisioning", "2026-03-01"),
        # X_LATE_OLD started 2025-01-01: late milestones, but not in onboarding
        milestone("X_LATE_OLD", "kickoff", "2025-01-05", "2025-03-01"),
        milestone("X_LATE_OLD", "provisioning", "2025-02-01"),
    ],
    "billing_subscriptions": [
        *paying("X_SEAT", ALL_PRODUCTS),
        *paying("X_EDGE", ALL_PRODUCTS),
        *paying("X_LIMIT", ALL_PRODUCTS),
        *paying("X_ABOVE", ["platform"]),
        # X_PRODUCT pays for platform and analytics (twice: one product); automation
        # ended on 03-01 and consulting is not one of the configured products
        *paying("X_PRODUCT", ["platform", "analytics", "analytics", "consulting"]),
        subscription("X_PRODUCT", "automation", end="2026-03-01"),
        *paying("X_NONE", ALL_PRODUCTS),
        *paying("X_NOTIER", ALL_PRODUCTS),
        *paying("X_TICKET", ALL_PRODUCTS),
        *paying("X_LATE", ALL_PRODUCTS),
        *paying("X_LATE_OLD", ALL_PRODUCTS),
        *paying("X_MULTI", ["platform"]),
    ],
}


@pytest.fixture(scope="module")
def expansion(tmp_path_factory):
    """The expansion book run for D with expansion.min_health_score lowered to 0: a
    hand-made account hardly scores above 80, and the threshold has its own test below.
    {(account_id, opportunity_type): row}, and the health scores."""
    root = tmp_path_factory.mktemp("expansion")
    connection = work_database(root / "work.duckdb")
    run_day(
        connection,
        write_book(root / "extracts", EXPANSION),
        D,
        operations=with_min_health(load_operations(), 0),
    )
    rows = table(connection, "SELECT * FROM mart.expansion_opportunities").to_dicts()
    health = dict(
        connection.execute("SELECT account_id, health_score FROM mart.account_health").fetchall()
    )
    rejected = table(connection, "SELECT * FROM quarantine.rejected_rows")
    connection.close()
    assert rejected.is_empty()  # every hand-written row is valid and loaded
    # every account clears the lowered threshold, so only the signals decide
    assert len(health) == len(EXPANSION["crm_accounts"])
    assert min(health.values()) > 0
    return {(r["account_id"], r["opportunity_type"]): r for r in rows}


def test_seat_opportunity(expansion):
    # 9 active users in W(30) / 10 seats = 0.9 > 0.85; no catalog feature used (0 / 3)
    seat = expansion[("X_SEAT", "seat")]
    assert seat["seat_utilisation"] == pytest.approx(0.9)
    assert seat["feature_adoption"] == 0
    assert seat["signals"] == ["seat_utilisation 90%", "champion_present"]
    assert seat["as_of_date"] == D
    assert seat["account_name"] == "X_SEAT"
    assert [key for key in expansion if key[0] == "X_SEAT"] == [("X_SEAT", "seat")]
    # 17 / 20 = 0.85 is not above 0.85, and X_EDGE has no other signal: no row
    assert not [key for key in expansion if key[0] == "X_EDGE"]


def test_tier_opportunity_from_limit_reached(expansion):
    # two limit_reached in W(30) (03-05, 03-31 23:59:59); the 03-01 one is before it
    tier = expansion[("X_LIMIT", "tier")]
    assert tier["signals"] == ["limit_reached x2", "executive_engaged"]
    assert tier["seat_utilisation"] == pytest.approx(0.1)  # 1 / 10
    assert tier["feature_adoption"] == 0  # none of the 4 professional features
    assert [key for key in expansion if key[0] == "X_LIMIT"] == [("X_LIMIT", "tier")]


def test_tier_opportunity_from_features_above_the_plan(expansion):
    # starter account using sso (enterprise) and exports (professional) in W(30)
    tier = expansion[("X_ABOVE", "tier")]
    assert tier["signals"] == ["features above plan: exports, sso", "budget_confirmed"]
    # adoption: reports of starter's 3 = 1/3, not above 0.7, so no product row even
    # though it pays for 1 of 3 products
    assert tier["feature_adoption"] == pytest.approx(1 / 3)
    assert [key for key in expansion if key[0] == "X_ABOVE"] == [("X_ABOVE", "tier")]
    # an account without a plan tier is read as on the top tier: no feature is above it,
    # and all 5 catalog features are its tier's. It uses sso (1 / 5 = 0.2) with 1 user on
    # 1 seat: a seat row only
    assert [key for key in expansion if key[0] == "X_NOTIER"] == [("X_NOTIER", "seat")]
    assert expansion[("X_NOTIER", "seat")]["feature_adoption"] == pytest.approx(0.2)


def test_product_opportunity(expansion):
    # paid on D, of platform/analytics/automation: platform, analytics -> 2 < 3.
    # adoption: reports, dashboards, alerts (no tier) of professional's 4 = 0.75 > 0.7
    product = expansion[("X_PRODUCT", "product")]
    assert product["feature_adoption"] == pytest.approx(0.75)
    assert product["signals"] == ["products 2 of 3", "feature_adoption 75%"]
    assert [key for key in expansion if key[0] == "X_PRODUCT"] == [("X_PRODUCT", "product")]
    # X_NONE: adoption 3/3 = 1 but pays for all 3 products; no other signal: no row
    assert not [key for key in expansion if key[0] == "X_NONE"]


def test_services_opportunity_from_tickets(expansion):
    # problem on 01-01 (D-89, first day of W(90)) and feature_request on 03-20; the
    # 2025-12-31 one is before W(90); question and incident tickets do not count
    services = expansion[("X_TICKET", "services")]
    assert services["signals"] == ["problem or feature_request tickets x2"]
    assert [key for key in expansion if key[0] == "X_TICKET"] == [("X_TICKET", "services")]


def test_services_opportunity_from_late_onboarding(expansion):
    # X_LATE is in onboarding (day 58) with provisioning 30 days late
    services = expansion[("X_LATE", "services")]
    assert services["signals"] == ["onboarding milestones late x1"]
    assert [key for key in expansion if key[0] == "X_LATE"] == [("X_LATE", "services")]
    # X_LATE_OLD has late milestones too, but its contract started 454 days ago
    assert not [key for key in expansion if key[0] == "X_LATE_OLD"]


def test_one_account_has_a_row_per_type(expansion):
    # X_MULTI: 2 / 2 seats active (1.0 > 0.85); a limit_reached; pays for 1 of 3 products
    # with adoption 3/3 = 1; a feature_request ticket. Every row lists the seed triggers.
    triggers = [
        "feature_adoption 100%",
        "executive_engaged",
        "budget_confirmed",
        "champion_present",
    ]
    rows = {key[1]: r for key, r in expansion.items() if key[0] == "X_MULTI"}
    assert {kind: r["signals"] for kind, r in rows.items()} == {
        "seat": ["seat_utilisation 100%", *triggers],
        "tier": ["limit_reached x1", *triggers],
        "product": ["products 1 of 3", *triggers],
        "services": ["problem or feature_request tickets x1", *triggers],
    }
    assert {(r["seat_utilisation"], r["feature_adoption"]) for r in rows.values()} == {(1, 1)}


def test_health_at_or_below_the_threshold_gives_no_row(connection, extracts):
    """With the shipped config (80), and with the threshold set to the account's own
    score (at it) or above it: no row; just below its score: the seat row."""
    book = {
        "crm_accounts": [account("H1", licensed_seats=1)],
        "product_events": users_active("H1", 1),  # 1 / 1 seat: utilisation 1
        "billing_subscriptions": paying("H1", ALL_PRODUCTS),
    }
    write_book(extracts, book)
    run_day(connection, extracts, D)
    health = connection.execute(
        "SELECT health_score FROM mart.account_health WHERE account_id = 'H1'"
    ).fetchall()[0][0]
    assert 0 < health <= 80
    assert table(connection, "SELECT * FROM mart.expansion_opportunities").is_empty()

    def types(min_health_score: float) -> list[str]:
        operate(connection, D, with_min_health(load_operations(), min_health_score))
        return [
            r[0]
            for r in connection.execute(
                "SELECT opportunity_type FROM mart.expansion_opportunities"
            ).fetchall()
        ]

    assert types(health) == []  # at the threshold: not above it
    assert types(health + 1) == []  # below it
    assert types(health - 0.1) == ["seat"]  # scores are rounded to 0.1
