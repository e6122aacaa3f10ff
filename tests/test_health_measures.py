"""Every measure of both scorecards on a tiny book, worked by hand from the health-score
contract. The as-of date D is 2026-03-31, so:
W(28) = 03-04..03-31, W(30) = 03-02..03-31, W(90) = 2026-01-01..03-31,
W(180) = 2025-10-03..2026-03-31, W(365) = 2025-04-01..2026-03-31.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from conftest import VALID_ROWS, load_all, score, table, work_database, write_delivery

from pipelines.scorecards import scorecards_by_segment
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


def account(account_id: str, **values) -> dict:
    values = {
        "contract_start_date": "2025-01-01",
        "licensed_seats": 10,
        "arr": 30000,
        "renewal_budget_confirmed": "false",
        "executive_sponsor_identified": "false",
        "executive_sponsor_engaged": "false",
        **values,
    }
    return row("crm_accounts", account_id=account_id, account_name=account_id, **values)


def events(account_id: str, user_id: str, event_name: str, *times: str) -> list[dict]:
    return [
        row(
            "product_events",
            account_id=account_id,
            user_id=user_id,
            event_name=event_name,
            occurred_at=time,
            session_id=None,
        )
        for time in times
    ]


def activities(account_id: str, activity_type: str, *days: str, contact_id=None) -> list[dict]:
    return [
        row(
            "crm_activities",
            account_id=account_id,
            activity_type=activity_type,
            occurred_at=f"{day}T10:00:00Z",
            contact_id=contact_id,
        )
        for day in days
    ]


def ticket(
    account_id: str, created: str, priority="normal", resolved=None, csat=None, sentiment=None
) -> dict:
    return row(
        "support_tickets",
        account_id=account_id,
        created_at=f"{created}T09:00:00Z",
        resolved_at=f"{resolved}T09:00:00Z" if resolved else None,
        priority=priority,
        status="solved" if resolved else "open",
        csat_score=csat,
        sentiment=sentiment,
    )


def survey(account_id: str, survey_type: str, score_: int, day: str, contact_id=None) -> dict:
    return row(
        "surveys",
        account_id=account_id,
        survey_type=survey_type,
        score=score_,
        responded_at=f"{day}T12:00:00Z",
        contact_id=contact_id,
        comment=None,
    )


def subscription(account_id: str, start: str, mrr: float, end=None) -> dict:
    return row(
        "billing_subscriptions", account_id=account_id, start_date=start, end_date=end, mrr=mrr
    )


def invoice(account_id: str, due: str, status: str, paid=None) -> dict:
    return row(
        "billing_invoices",
        account_id=account_id,
        issued_date="2025-04-01",
        due_date=due,
        status=status,
        paid_date=paid,
    )


# A1 has data for every measure. A2 has a CRM row and nothing else. A3..A10 each exercise
# one branch. Accounts with too few peers leave depth_of_use missing.
BOOK = {
    "crm_accounts": [
        account(
            "A1",
            licensed_seats=20,
            executive_sponsor_identified="true",
            renewal_budget_confirmed="true",
        ),
        account("A2", csm_owner=None),
        account("A3"),
        account("A4"),
        account("A5"),
        account("A6"),
        account("A7"),
        account("A8", contract_start_date="2026-04-15"),
        account("A9"),
        account("A10"),
        account("A11", executive_sponsor_identified="true", executive_sponsor_engaged="true"),
    ],
    "feature_catalog": [
        row("feature_catalog", feature="reports", is_core="true"),
        row("feature_catalog", feature="dashboards", is_core="true"),
        row("feature_catalog", feature="sso", is_core="true"),
        row("feature_catalog", feature="exports", is_core="false"),
        row("feature_catalog", feature="alerts", is_core="false"),
    ],
    "product_events": [
        *events("A1", "U1", "login", *["2026-03-10T08:00:00Z"] * 12),
        *events("A1", "U2", "login", *["2026-03-20T08:00:00Z"] * 12),
        *events("A1", "U3", "reports", "2026-03-02T08:00:00Z"),  # W(30), not W(28)
        # 23:00 UTC on D, written with an offset; then the last second of D
        *events("A1", "U4", "dashboards", "2026-04-01T01:00:00+02:00", "2026-03-31T23:59:59Z"),
        *events("A1", "U5", "exports", "2026-03-01T12:00:00Z"),  # before W(30)
        *events("A1", "U6", "login", "2026-04-01T00:00:00Z"),  # after D: never counts
        # A11: one user on 15 distinct days of W(30)
        *[
            event
            for day in range(17, 32)
            for event in events("A11", "U11", "login", f"2026-03-{day:02d}T08:00:00Z")
        ],
    ],
    "crm_activities": [
        *activities("A1", "email_sent", "2026-03-01", "2026-03-05", "2026-03-10", "2026-03-30"),
        *activities("A1", "email_sent", "2025-12-31"),  # before W(90)
        *activities("A1", "email_reply", "2026-03-02", "2026-03-06", "2026-03-22"),
        *activities("A1", "meeting_held", "2026-01-15", "2026-02-15", "2026-03-15"),
        *activities("A1", "meeting_no_show", "2026-02-20"),
        *activities("A1", "qbr", "2026-01-01"),  # first day of W(90)
        *activities("A3", "call", "2025-10-01"),  # 181 days ago: recency clamps to 0
        *activities("A4", "email_sent", "2026-03-01", "2026-03-02"),  # no reply
    ],
    "support_tickets": [
        ticket("A1", "2026-03-05", "urgent", resolved="2026-03-06", csat=4, sentiment="negative"),
        ticket("A1", "2026-02-10", resolved="2026-02-11", csat=5, sentiment="positive"),
        ticket("A1", "2025-12-20", resolved="2026-01-05", csat=3, sentiment="neutral"),
        ticket("A1", "2026-03-15", "high"),
        *[ticket("A3", "2026-03-01") for _ in range(3)],  # 3 tickets, baseline 2: volume 0
    ],
    "surveys": [
        survey("A1", "nps", 3, "2025-11-01", contact_id="C1"),
        survey("A1", "nps", 9, "2026-02-01", contact_id="C1"),  # C1's latest: promoter
        survey("A1", "nps", 6, "2026-03-01", contact_id="C2"),  # detractor
        survey("A1", "nps", 10, "2026-03-10"),  # no contact: each response counts
        survey("A1", "nps", 8, "2026-03-11"),
        survey("A1", "nps", 0, "2025-10-01", contact_id="C3"),  # before W(180)
        survey("A1", "csat", 4, "2026-01-15"),
        survey("A1", "csat", 5, "2026-03-01"),
        survey("A1", "csat", 1, "2025-09-01"),  # before W(180)
    ],
    "billing_subscriptions": [
        subscription("A1", "2025-01-01", 1000),
        subscription("A1", "2025-06-01", 100),
        subscription("A1", "2024-01-01", 500, end="2025-01-01"),
        subscription("A3", "2024-01-01", 100),
        subscription("A4", "2024-01-01", 100),
        subscription("A5", "2025-09-01", 100),  # nothing a year ago: base is 2025-09-01
        subscription("A5", "2026-01-01", 50),
        subscription("A6", "2024-01-01", 100),  # flat
        subscription("A7", "2024-01-01", 100, end="2026-03-01"),  # churned: not scored
        subscription("A9", "2024-01-01", 1000, end="2026-01-01"),
        subscription("A9", "2026-01-01", 500),  # shrank
        subscription("A10", "2026-06-01", 100),  # starts after D
    ],
    "billing_invoices": [
        invoice("A1", "2026-03-10", "open"),  # 21 days overdue
        invoice("A1", "2026-02-01", "paid", paid="2026-02-05"),  # paid late
        invoice("A1", "2026-04-15", "open"),  # not due yet
        invoice("A3", "2026-02-01", "open"),  # 58 days overdue
        invoice("A3", "2026-01-01", "paid", paid="2026-01-01"),  # on time
        invoice("A4", "2025-06-01", "uncollectible"),
    ],
}


def write_book(root, book: dict[str, list[dict]]) -> None:
    for dataset, rows in book.items():
        write_delivery(root, dataset, D, rows)


def score_book(tmp_path, book: dict[str, list[dict]], scorecard: str):
    """Write `book` as deliveries dated D, load and score it: (health, measures) by key."""
    write_book(tmp_path / "extracts", book)
    connection = work_database(tmp_path / "work.duckdb")
    load_all(connection, tmp_path / "extracts", D)
    score(connection, D, scorecard)
    health = {
        r["account_id"]: r
        for r in table(connection, "SELECT * FROM mart.account_health").to_dicts()
    }
    measures = {
        (r["account_id"], r["measure"]): r
        for r in table(connection, "SELECT * FROM mart.health_measures").to_dicts()
    }
    connection.close()
    return health, measures


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The book scored with each shipped scorecard: {scorecard: (health, measures)}."""
    return {
        scorecard: score_book(tmp_path_factory.mktemp(scorecard), BOOK, scorecard)
        for scorecard in ("five_dimension", "four_component")
    }


def value(scored, scorecard: str, account_id: str, measure: str):
    return scored[scorecard][1][(account_id, measure)]["value"]


def raw(scored, scorecard: str, account_id: str, measure: str):
    return scored[scorecard][1][(account_id, measure)]["raw_value"]


# --- who is scored, segment ------------------------------------------------------------


def test_scored_accounts_leave_out_churned_and_not_yet_started(scored):
    health, _ = scored["five_dimension"]
    assert "A7" not in health  # subscriptions started, MRR(D) = 0
    assert "A8" not in health  # contract starts after D
    assert "A2" in health  # no subscriptions at all: scored
    assert "A10" in health  # only a future subscription: not churned


def test_segment_and_arr(scored):
    health, _ = scored["five_dimension"]
    assert health["A1"]["arr"] == pytest.approx(12 * 1100)  # 12 * MRR(D)
    assert health["A1"]["segment"] == "smb"
    assert health["A2"]["arr"] == 30000  # no subscriptions: CRM arr
    assert health["A2"]["segment"] == "mid_market"
    assert health["A10"]["arr"] == 0  # has a subscription, none running on D
    assert health["A2"]["flags"] == ["unassigned_csm"]


# --- five_dimension: usage -------------------------------------------------------------


def test_seat_utilisation(scored):
    # active users in W(30): U1, U2, U3 (03-02), U4; U5 is before W(30), U6 after D.
    assert value(scored, "five_dimension", "A1", "seat_utilisation") == pytest.approx(4 / 20)
    # A11: one user / 10 seats; A2: no events at all -> 0, not missing
    assert value(scored, "five_dimension", "A11", "seat_utilisation") == pytest.approx(0.1)
    assert value(scored, "five_dimension", "A2", "seat_utilisation") == 0


def test_feature_breadth(scored):
    # reports and dashboards of 5 catalog features; exports was used before W(30)
    assert value(scored, "five_dimension", "A1", "feature_breadth") == pytest.approx(2 / 5)
    assert value(scored, "five_dimension", "A2", "feature_breadth") == 0


def test_login_rate(scored):
    # 24 logins in W(28): (24 / 4 weeks) / (20 seats * 3 expected) = 0.1
    assert raw(scored, "five_dimension", "A1", "login_rate") == pytest.approx(24 / 4 / 20)
    assert value(scored, "five_dimension", "A1", "login_rate") == pytest.approx(0.1)
    # A11: 15 logins, 03-17..03-31, all in W(28): (15/4) / (10*3) = 0.125
    assert value(scored, "five_dimension", "A11", "login_rate") == pytest.approx(0.125)


# --- five_dimension: engagement --------------------------------------------------------


def test_email_response(scored):
    # 3 replies / 4 emails sent in W(90) (the 2025-12-31 one is outside)
    assert value(scored, "five_dimension", "A1", "email_response") == pytest.approx(0.75)
    assert value(scored, "five_dimension", "A4", "email_response") == 0  # sent, no reply
    assert value(scored, "five_dimension", "A2", "email_response") is None  # none sent


def test_meeting_attendance(scored):
    assert value(scored, "five_dimension", "A1", "meeting_attendance") == pytest.approx(3 / 4)
    assert value(scored, "five_dimension", "A2", "meeting_attendance") is None


def test_qbr_participation(scored):
    assert value(scored, "five_dimension", "A1", "qbr_participation") == 1  # on D-89
    assert value(scored, "five_dimension", "A2", "qbr_participation") == 0


def test_contact_recency(scored):
    # last two-way contact: the email_reply of 03-22, 9 days before D: 1 - 9/90
    assert raw(scored, "five_dimension", "A1", "contact_recency") == 9
    assert value(scored, "five_dimension", "A1", "contact_recency") == pytest.approx(0.9)
    assert value(scored, "five_dimension", "A3", "contact_recency") == 0  # 181 days: clamped
    assert value(scored, "five_dimension", "A4", "contact_recency") == 0  # email_sent only
    assert value(scored, "five_dimension", "A2", "contact_recency") == 0  # never


# --- five_dimension: support -----------------------------------------------------------


def test_ticket_volume(scored):
    # 3 tickets created in W(90); baseline max(1, 20 * 0.2) = 4: 1 - 3/4
    assert value(scored, "five_dimension", "A1", "ticket_volume") == pytest.approx(0.25)
    # A3: 3 tickets, baseline max(1, 10 * 0.2) = 2: clamped to 0
    assert value(scored, "five_dimension", "A3", "ticket_volume") == 0
    assert value(scored, "five_dimension", "A2", "ticket_volume") == 1  # no tickets


def test_critical_share(scored):
    # 1 urgent of 3 created in W(90)
    assert value(scored, "five_dimension", "A1", "critical_share") == pytest.approx(2 / 3)
    assert value(scored, "five_dimension", "A2", "critical_share") == 1  # no tickets


def test_support_csat(scored):
    # resolved in W(90) with a score: 4, 5 and 3 (created before W(90), resolved 01-05)
    assert value(scored, "five_dimension", "A1", "support_csat") == pytest.approx(4 / 5)
    assert value(scored, "five_dimension", "A3", "support_csat") is None  # none resolved


# --- five_dimension: satisfaction ------------------------------------------------------


def test_nps(scored):
    # latest per contact: C1 9, C2 6; no contact: 10 and 8; C3 is before W(180).
    # promoters 2, detractors 1, responses 4: NPS 25, value (25 + 100) / 200
    assert raw(scored, "five_dimension", "A1", "nps") == pytest.approx(25)
    assert value(scored, "five_dimension", "A1", "nps") == pytest.approx(0.625)
    assert value(scored, "five_dimension", "A2", "nps") is None


def test_csat(scored):
    assert value(scored, "five_dimension", "A1", "csat") == pytest.approx(4.5 / 5)
    assert value(scored, "five_dimension", "A2", "csat") is None


def test_sentiment(scored):
    # created in W(90) with a sentiment: negative 0, positive 1
    assert value(scored, "five_dimension", "A1", "sentiment") == pytest.approx(0.5)
    assert value(scored, "five_dimension", "A3", "sentiment") is None


# --- five_dimension: financial ---------------------------------------------------------


def test_payment_status(scored):
    assert value(scored, "five_dimension", "A1", "payment_status") == 0.5  # 21 days overdue
    assert raw(scored, "five_dimension", "A1", "payment_status") == 21
    assert value(scored, "five_dimension", "A3", "payment_status") == 0  # 58 days overdue
    assert value(scored, "five_dimension", "A4", "payment_status") == 0  # uncollectible
    assert value(scored, "five_dimension", "A2", "payment_status") == 1  # no invoices


def test_expansion(scored):
    # MRR(D) 1100, MRR(D-365) 1000: growth 0.1 / 0.2 target = 0.5
    assert raw(scored, "five_dimension", "A1", "expansion") == pytest.approx(0.1)
    assert value(scored, "five_dimension", "A1", "expansion") == pytest.approx(0.5)
    # A5: no MRR a year ago; base = MRR(2025-09-01) = 100; growth 0.5: clamped to 1
    assert raw(scored, "five_dimension", "A5", "expansion") == pytest.approx(0.5)
    assert value(scored, "five_dimension", "A5", "expansion") == 1
    assert value(scored, "five_dimension", "A6", "expansion") == 0  # flat MRR scores 0
    assert value(scored, "five_dimension", "A9", "expansion") == 0  # 1000 -> 500
    assert value(scored, "five_dimension", "A10", "expansion") is None  # no start <= D
    assert value(scored, "five_dimension", "A2", "expansion") is None  # no subscriptions


def test_renewal_budget(scored):
    assert value(scored, "five_dimension", "A1", "renewal_budget") == 1
    assert value(scored, "five_dimension", "A2", "renewal_budget") == 0


# --- every measure ---------------------------------------------------------------------


@pytest.mark.parametrize("scorecard", ["five_dimension", "four_component"])
def test_every_measure_gives_one_row_per_scored_account(tmp_path, scorecard):
    """The weighting (sql/health_scores.sql) starts from the measure values: an account a
    measure file left out, or gave twice, would lose or double its measure rows. The two
    shipped scorecards use every measure of the registry between them."""
    write_book(tmp_path / "extracts", BOOK)
    connection = work_database(tmp_path / "work.duckdb")
    load_all(connection, tmp_path / "extracts", D)
    score(connection, D, scorecard)
    measures = {
        measure
        for card in scorecards_by_segment(scorecard, {}).values()
        for _, measure, *_ in card.measures()
    }
    missing_or_doubled = table(
        connection,
        """
        WITH expected AS (
            SELECT health.account_id, measure.name AS measure
            FROM mart.account_health AS health, unnest(?::VARCHAR[]) AS measure(name)
        ),
        found AS (
            SELECT account_id, measure, count(*) AS found_rows
            FROM mart.health_measures GROUP BY ALL
        )
        SELECT * FROM expected FULL JOIN found USING (account_id, measure)
        WHERE found_rows IS DISTINCT FROM 1""",
        sorted(measures),
    )
    accounts = table(connection, "SELECT count(*) FROM mart.account_health").item()
    connection.close()
    assert accounts == 9
    assert missing_or_doubled.is_empty(), missing_or_doubled


# --- five_dimension: the whole score ---------------------------------------------------


def test_five_dimension_score_with_every_measure(scored):
    health, _ = scored["five_dimension"]
    a1 = health["A1"]
    # usage 30 * (0.4*0.2 + 0.3*0.4 + 0.3*0.1) = 30 * 0.23 = 6.9
    assert a1["usage_score"] == pytest.approx(6.9)
    # engagement 25 * (0.3*0.75 + 0.25*0.75 + 0.25*1 + 0.2*0.9) = 25 * 0.8425
    assert a1["engagement_score"] == pytest.approx(21.0625)
    # support 20 * (0.3*0.25 + 0.3*2/3 + 0.4*0.8) = 20 * 0.595
    assert a1["support_score"] == pytest.approx(11.9)
    # satisfaction 15 * (0.5*0.625 + 0.3*0.9 + 0.2*0.5) = 15 * 0.6825
    assert a1["satisfaction_score"] == pytest.approx(10.2375)
    # financial 10 * (0.4*0.5 + 0.3*0.5 + 0.3*1) = 10 * 0.65
    assert a1["financial_score"] == pytest.approx(6.5)
    # 6.9 + 21.0625 + 11.9 + 10.2375 + 6.5 = 56.6
    assert a1["health_score"] == 56.6
    assert (a1["tier"], a1["colour"], a1["review_cadence"]) == ("at_risk", "yellow", "bi-weekly")
    assert a1["data_completeness"] == 1
    assert a1["product_engagement_score"] is None


def test_missing_measures_reweighted_and_dimension_dropped(scored):
    health, measures = scored["five_dimension"]
    a2 = health["A2"]
    # A2 has only its CRM row. usage: three measures at 0. engagement: email and meeting
    # missing, qbr 0 and recency 0 -> 0. support: ticket_volume 1, critical_share 1,
    # support_csat missing -> (0.3 + 0.3) / 0.6 = 1. satisfaction: all missing: dropped.
    # financial: payment 1, expansion missing, renewal 0 -> 0.4 / 0.7.
    # The dropped 15 points go to the other 85 in proportion: each weight * 100 / 85.
    assert a2["satisfaction_score"] is None
    assert a2["usage_score"] == 0
    assert a2["engagement_score"] == 0
    assert a2["support_score"] == pytest.approx(20 * 100 / 85)
    assert a2["financial_score"] == pytest.approx(10 * 100 / 85 * 0.4 / 0.7)
    assert a2["health_score"] == round(2000 / 85 + 1000 / 85 * 0.4 / 0.7, 1) == 30.3
    assert a2["tier"] == "critical"
    # completeness: usage 0.30 + engagement 0.25*(0.25+0.20) + support 0.2*0.6
    # + financial 0.1*0.7 = 0.6025
    assert a2["data_completeness"] == pytest.approx(0.6025)
    assert "low_data" not in a2["flags"]
    # within support, the two measures with data share the dimension's effective points
    ticket_volume = measures[("A2", "ticket_volume")]
    assert ticket_volume["weight"] == pytest.approx(20 * 0.3)
    assert ticket_volume["effective_weight"] == pytest.approx(20 * 100 / 85 * 0.3 / 0.6)
    assert ticket_volume["contribution"] == pytest.approx(20 * 100 / 85 / 2)
    missing = measures[("A2", "nps")]
    assert (missing["value"], missing["effective_weight"], missing["contribution"]) == (None, 0, 0)


def test_top_drivers_without_history_name_the_measures_furthest_below_full_points(scored):
    health, _ = scored["five_dimension"]
    # A1's shortfalls (effective weight - contribution): seat_utilisation 30*0.4*0.8 = 9.6,
    # login_rate 30*0.3*0.9 = 8.1, feature_breadth 30*0.3*0.6 = 5.4, nps 15*0.5*0.375 =
    # 2.8125, ticket_volume 20*0.3*0.75 = 4.5 ...
    assert health["A1"]["top_drivers"] == (
        "seat_utilisation -9.6 pts, login_rate -8.1 pts, feature_breadth -5.4 pts"
    )


# --- four_component --------------------------------------------------------------------


def band(scored, account_id: str, measure: str):
    return scored["four_component"][1][(account_id, measure)]["band"]


def test_dau_mau(scored):
    # A1: user-days in W(30): U1 03-10, U2 03-20, U3 03-02, U4 03-31 -> 4; users 4.
    # (4 / 30) / 4 = 0.0333: critical
    assert raw(scored, "four_component", "A1", "dau_mau") == pytest.approx(1 / 30)
    assert band(scored, "A1", "dau_mau") == "critical"
    # A11: one user on 15 days: (15/30) / 1 = 0.5, not > 0.5: good
    assert raw(scored, "four_component", "A11", "dau_mau") == pytest.approx(0.5)
    assert band(scored, "A11", "dau_mau") == "good"
    assert raw(scored, "four_component", "A2", "dau_mau") is None  # no users: missing


def test_core_feature_adoption(scored):
    # reports and dashboards of 3 core features (sso unused): 66.7%: good
    assert raw(scored, "four_component", "A1", "core_feature_adoption") == pytest.approx(2 / 3)
    assert band(scored, "A1", "core_feature_adoption") == "good"
    assert band(scored, "A2", "core_feature_adoption") == "critical"  # 0 of 3


def test_depth_of_use_is_missing_with_fewer_than_five_peers(scored):
    # only A1 and A11 (both smb) have active users in W(28)
    assert raw(scored, "four_component", "A1", "depth_of_use") is None
    assert raw(scored, "four_component", "A2", "depth_of_use") is None  # no active users


def test_nps_category(scored):
    # mean of the latest per contact: (9 + 6 + 10 + 8) / 4 = 8.25: passive, good
    assert raw(scored, "four_component", "A1", "nps_category") == pytest.approx(8.25)
    assert band(scored, "A1", "nps_category") == "good"
    assert raw(scored, "four_component", "A2", "nps_category") is None


def test_csm_engagement(scored):
    # A1: 3 meetings held (>= 2) and response 0.75 (>= 0.5): both: excellent
    assert raw(scored, "four_component", "A1", "csm_engagement") == 2
    assert band(scored, "A1", "csm_engagement") == "excellent"
    # A4: emails sent, never answered, no meetings: none: critical
    assert raw(scored, "four_component", "A4", "csm_engagement") == 0
    assert band(scored, "A4", "csm_engagement") == "critical"


def test_executive_sponsor(scored):
    assert band(scored, "A11", "executive_sponsor") == "excellent"  # engaged
    assert band(scored, "A1", "executive_sponsor") == "good"  # identified
    assert band(scored, "A2", "executive_sponsor") == "critical"  # none


def test_payment_history(scored):
    # A1: due in W(365): 03-10 still open past due, 02-01 paid 02-05 late; 04-15 not in W
    assert raw(scored, "four_component", "A1", "payment_history") == 2
    assert band(scored, "A1", "payment_history") == "at_risk"
    # A3: one open past due, one paid on the due date
    assert raw(scored, "four_component", "A3", "payment_history") == 1
    assert band(scored, "A3", "payment_history") == "good"
    assert band(scored, "A2", "payment_history") == "excellent"  # no invoices


def test_growth_trajectory(scored):
    # A1: MRR(D) 1100 = MRR(D-90 = 2025-12-31) 1100: same: good
    assert raw(scored, "four_component", "A1", "growth_trajectory") == 0
    assert band(scored, "A1", "growth_trajectory") == "good"
    # A5: 150 vs 100 on 2025-12-31: up
    assert band(scored, "A5", "growth_trajectory") == "excellent"
    # A9: 500 vs 1000: down
    assert band(scored, "A9", "growth_trajectory") == "at_risk"
    # A2 (no subscriptions) and A10 (none running either day): both 0: missing
    assert raw(scored, "four_component", "A2", "growth_trajectory") is None
    assert raw(scored, "four_component", "A10", "growth_trajectory") is None


def test_sentiment_trend(scored):
    # A1: W(30) has the 03-05 ticket (negative, 0); D-89..D-30 has 02-10 (positive, 1)
    assert raw(scored, "four_component", "A1", "sentiment_trend") == -1
    assert band(scored, "A1", "sentiment_trend") == "at_risk"
    assert raw(scored, "four_component", "A3", "sentiment_trend") is None  # no sentiment


def test_feedback(scored):
    # mean csat survey in W(180): (4 + 5) / 2 = 4.5: excellent (>= 4.5)
    assert raw(scored, "four_component", "A1", "feedback") == 4.5
    assert band(scored, "A1", "feedback") == "excellent"
    assert raw(scored, "four_component", "A2", "feedback") is None


def test_four_component_score(scored):
    health, measures = scored["four_component"]
    a1 = health["A1"]
    # product_engagement 40 * mean(15 dau_mau, 75 core) / 100 = 18 (depth missing)
    assert a1["product_engagement_score"] == pytest.approx(18)
    # relationship 25 * mean(75 nps, 100 csm, 75 sponsor) / 100 = 20.8333
    assert a1["relationship_score"] == pytest.approx(25 * 250 / 3 / 100)
    # financial 20 * mean(45 payment, 75 growth) / 100 = 12
    assert a1["financial_score"] == pytest.approx(12)
    # sentiment 15 * mean(45 trend, 100 feedback) / 100 = 10.875
    assert a1["sentiment_score"] == pytest.approx(10.875)
    # 18 + 20.8333 + 12 + 10.875 = 61.708: stable
    assert a1["health_score"] == 61.7
    assert (a1["tier"], a1["colour"], a1["review_cadence"]) == ("stable", "yellow", "monthly")
    # depth_of_use is 1/3 of product_engagement's 40: completeness 1 - 0.4/3
    assert a1["data_completeness"] == pytest.approx(1 - 0.4 / 3)
    assert measures[("A1", "dau_mau")]["value"] == 0.15
    assert a1["usage_score"] is None


# --- datasets never delivered, and depth_of_use among peers ----------------------------


def test_absent_datasets_make_their_measures_missing_not_zero(tmp_path):
    # Only crm_accounts was ever delivered: "no tickets" is not "1 when no tickets".
    health, measures = score_book(
        tmp_path, {"crm_accounts": BOOK["crm_accounts"]}, "five_dimension"
    )
    assert all(
        measures[("A2", m)]["value"] is None
        for m in (
            "seat_utilisation",
            "ticket_volume",
            "critical_share",
            "contact_recency",
            "qbr_participation",
            "payment_status",
            "expansion",
        )
    )
    # Only renewal_budget is left: financial takes all 100 points.
    a1 = health["A1"]
    assert a1["financial_score"] == 100 and a1["health_score"] == 100
    assert a1["usage_score"] is None and a1["support_score"] is None
    # completeness: renewal_budget is 10/100 * 0.3 of the weight
    assert a1["data_completeness"] == pytest.approx(0.03)
    assert "low_data" in a1["flags"]
    assert health["A2"]["health_score"] == 0  # budget not confirmed


def test_absent_product_events_drop_usage_only(tmp_path):
    book = {name: rows for name, rows in BOOK.items() if name != "product_events"}
    health, _ = score_book(tmp_path, book, "five_dimension")
    a1 = health["A1"]
    assert a1["usage_score"] is None
    # the other four dimensions as worked above, scaled by 100 / 70
    assert a1["engagement_score"] == pytest.approx(21.0625 * 100 / 70)
    assert a1["health_score"] == round((21.0625 + 11.9 + 10.2375 + 6.5) * 100 / 70, 1)
    assert a1["data_completeness"] == pytest.approx(0.7)


def test_depth_of_use_ranks_within_the_segment(tmp_path):
    # B1..B5 (smb): one user each with 4, 8, 12, 16, 20 events in W(28): 1..5 per week.
    # percent_rank: 0, 0.25, 0.5, 0.75, 1. B6 (smb) has no events: missing.
    # E1 is enterprise and alone with active users there: missing.
    accounts = [account(f"B{n}", arr=10000) for n in range(1, 7)] + [account("E1", arr=500000)]
    events_ = [
        event
        for n in range(1, 6)
        for event in events(
            f"B{n}",
            f"UB{n}",
            "reports",
            *[f"2026-03-{10 + k % 10:02d}T08:00:00Z" for k in range(4 * n)],
        )
    ]
    events_ += events("E1", "UE1", "reports", "2026-03-20T08:00:00Z")
    _, measures = score_book(
        tmp_path, {"crm_accounts": accounts, "product_events": events_}, "four_component"
    )
    ranks = {
        a: measures[(a, "depth_of_use")]["raw_value"]
        for a in ("B1", "B2", "B3", "B4", "B5", "B6", "E1")
    }
    assert ranks == {"B1": 0, "B2": 0.25, "B3": 0.5, "B4": 0.75, "B5": 1, "B6": None, "E1": None}
    bands = {a: measures[(a, "depth_of_use")]["band"] for a in ranks}
    assert bands == {
        "B1": "critical",
        "B2": "at_risk",
        "B3": "good",
        "B4": "excellent",
        "B5": "excellent",
        "B6": None,
        "E1": None,
    }
