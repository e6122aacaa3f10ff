"""Alert episodes over multi-day backfills: each alert type fires once per episode, not
again while its condition holds, and again after the condition clears and returns; the
same dates run in another order give the same alerts. The risk register ranks the
latest date's accounts and shows their open alerts, also once older dates have run.

The score alerts read only mart.account_health, so these books write each day's scores
directly (`day()`); everything else comes from the extracts as in a run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import VALID_ROWS, load_all, operate, table, write_delivery

from assets.operations import operations_problems

D = dt.date(2026, 3, 1)


def days(count: int) -> list[dt.date]:
    return [D + dt.timedelta(days=n) for n in range(count)]


def tier_of(score: float) -> tuple[str, str, str]:
    """five_dimension tiers: healthy >= 80, at_risk >= 50, critical below."""
    if score >= 80:
        return "healthy", "green", "monthly"
    if score >= 50:
        return "at_risk", "yellow", "bi-weekly"
    return "critical", "red", "weekly"


def crm(root: Path, accounts: list[str], day: dt.date = D, **values) -> None:
    defaults = {"contract_start_date": "2025-01-01", "renewal_date": "2027-01-01"}
    write_delivery(
        root,
        "crm_accounts",
        day,
        [
            dict(
                VALID_ROWS["crm_accounts"],
                account_id=account,
                account_name=f"Name {account}",
                **{**defaults, **values},
            )
            for account in accounts
        ],
    )


def day(
    connection,
    root: Path,
    as_of: dt.date,
    scores: dict[str, float],
    deltas: dict[str, float] | None = None,
    arr: dict[str, float] | None = None,
) -> None:
    """Load the extracts for `as_of`, write its scores, build the operations marts."""
    load_all(connection, root, as_of)
    connection.execute("DELETE FROM mart.account_health WHERE as_of_date = ?", [as_of])
    connection.execute("DELETE FROM mart.health_measures WHERE as_of_date = ?", [as_of])
    for account, score in scores.items():
        tier, colour, cadence = tier_of(score)
        connection.execute(
            "INSERT INTO mart.account_health (as_of_date, account_id, account_name, segment, "
            "csm_owner, arr, scorecard, health_score, tier, colour, score_delta_30d, "
            "review_cadence, top_drivers) VALUES (?, ?, ?, 'smb', 'csm_1', ?, "
            "'five_dimension', ?, ?, ?, ?, ?, 'nps -1.0 pts')",
            [
                as_of,
                account,
                f"Name {account}",
                (arr or {}).get(account, 12000),
                score,
                tier,
                colour,
                (deltas or {}).get(account),
                cadence,
            ],
        )
        # Two measures whose contributions move with the score, for the drivers.
        connection.execute(
            "INSERT INTO mart.health_measures (as_of_date, account_id, dimension, measure, "
            "contribution) VALUES (?, ?, 'usage', 'login_rate', ?), "
            "(?, ?, 'support', 'ticket_volume', ?)",
            [as_of, account, score * 0.75, as_of, account, score * 0.25],
        )
    operate(connection, as_of)


def alerts(connection, alert_type: str) -> list[tuple]:
    return connection.execute(
        "SELECT account_id, as_of_date, cleared_on FROM mart.health_alerts "
        "WHERE alert_type = ? ORDER BY account_id, as_of_date",
        [alert_type],
    ).fetchall()


def critical(connection, raised: dt.date) -> dict:
    return table(
        connection,
        "SELECT * FROM mart.health_alerts WHERE as_of_date = ? AND alert_type = 'entered_critical'",
        raised,
    ).to_dicts()[0]


def test_entered_critical_fires_once_per_episode(connection, extracts):
    crm(extracts, ["A", "B"])
    d1, d2, d3, d4, d5 = days(5)
    # A: critical at its first scoring, stays, recovers, falls again. B: never critical.
    for as_of, a_score in zip(days(5), [40, 45, 60, 30, 30], strict=True):
        day(connection, extracts, as_of, {"A": a_score, "B": 90})
    assert alerts(connection, "entered_critical") == [("A", d1, d3), ("A", d4, None)]
    first = critical(connection, d1)
    assert first["severity"] == "critical"
    assert first["message"] == "Health score 40.0: critical, at its first scoring"
    assert first["actions"][:2] == ["Alert the CSM now", "Alert the CS manager"]
    assert first["actions"][-1] == "Start a root-cause analysis"  # red playbook, first steps
    second = critical(connection, d4)
    assert second["message"] == "Health score 30.0: critical (was 60.0 on 2026-03-03)"
    # Contributions fell 30 x 0.75 = 22.5 and 30 x 0.25 = 7.5 points since the day before.
    assert second["drivers"] == "login_rate -22.5 pts, ticket_volume -7.5 pts"
    assert first["alert_id"] != second["alert_id"]


def test_dropped_below_60_needs_a_previous_snapshot_at_or_above_60(connection, extracts):
    crm(extracts, ["A", "B"])
    d1, d2, d3, d4, d5, d6 = days(6)
    # A: 65, 58 (raised), 55 (held), 60 (cleared), 59 (raised again), 59.
    # B: below 60 from its first scoring: never raised, even while it stays there.
    scores = {"A": [65, 58, 55, 60, 59, 59], "B": [55, 55, 55, 55, 55, 55]}
    for n, as_of in enumerate(days(6)):
        day(connection, extracts, as_of, {name: values[n] for name, values in scores.items()})
    assert alerts(connection, "dropped_below_60") == [("A", d2, d4), ("A", d5, None)]
    message = connection.execute(
        "SELECT message, severity FROM mart.health_alerts WHERE alert_type = "
        "'dropped_below_60' AND as_of_date = ?",
        [d2],
    ).fetchone()
    assert message == ("Health score fell below 60 to 58.0 (was 65.0 on 2026-03-01)", "high")


def test_improved_20_fires_once_while_the_gain_lasts(connection, extracts):
    crm(extracts, ["A"])
    d1, d2, d3, d4 = days(4)
    for as_of, delta in zip(days(4), [20, 25, 19, 21], strict=True):
        day(connection, extracts, as_of, {"A": 85}, deltas={"A": delta})
    assert alerts(connection, "improved_20") == [("A", d1, d3), ("A", d4, None)]
    row = table(
        connection,
        "SELECT * FROM mart.health_alerts WHERE alert_type = 'improved_20' AND as_of_date = ?",
        d1,
    ).to_dicts()[0]
    assert row["severity"] == "info"
    assert row["message"] == "Health score up 20.0 points in 30 days, to 85.0"
    # No tier playbook after an improvement: only the alert's own actions.
    assert row["actions"] == [
        "Flag an expansion opportunity",
        "Schedule a success-story interview",
        "Ask for a testimonial or referral",
    ]


def invoice(invoice_id: str, due: str, status: str, paid: str | None = None) -> dict:
    return dict(
        VALID_ROWS["billing_invoices"],
        invoice_id=invoice_id,
        account_id="A",
        issued_date="2025-12-01",
        due_date=due,
        status=status,
        paid_date=paid,
        amount="1500",
    )


def test_payment_overdue_clears_when_paid_and_returns_with_another_invoice(connection, extracts):
    crm(extracts, ["A"])
    d1, d2, d3, d4, d5 = days(5)
    # I1 due 2026-01-30: 30 days late on d1 (no alert), 31 on d2 (raised), paid on d4.
    write_delivery(extracts, "billing_invoices", d1, [invoice("I1", "2026-01-30", "open")])
    write_delivery(
        extracts, "billing_invoices", d4, [invoice("I1", "2026-01-30", "paid", paid="2026-03-04")]
    )
    # I2 is written off on d5: overdue again, a new episode.
    write_delivery(extracts, "billing_invoices", d5, [invoice("I2", "2026-03-01", "uncollectible")])
    for as_of in days(5):
        day(connection, extracts, as_of, {"A": 70})
    assert alerts(connection, "payment_overdue") == [("A", d2, d4), ("A", d5, None)]
    messages = [
        row[0]
        for row in connection.execute(
            "SELECT message FROM mart.health_alerts WHERE alert_type = 'payment_overdue' "
            "ORDER BY as_of_date"
        ).fetchall()
    ]
    assert messages == [
        "1 invoice(s) past due, 1,500 USD; the oldest 31 days late",
        "1 uncollectible invoice(s), 1,500 USD",
    ]


def test_renewal_at_risk_clears_out_of_the_red_zone_or_once_renewed(connection, extracts):
    # A renews on 2026-05-30: 90 days after d1. B renews on d3.
    write_delivery(
        extracts,
        "crm_accounts",
        D,
        [
            dict(
                VALID_ROWS["crm_accounts"],
                account_id=account,
                contract_start_date="2025-01-01",
                renewal_date=renewal,
            )
            for account, renewal in (("A", "2026-05-30"), ("B", "2026-03-03"))
        ],
    )
    d1, d2, d3, d4, d5 = days(5)
    # Confidence = score (no budget, no executive engaged, nothing overdue): red below 60.
    a_scores = [59, 50, 75, 40, 40]  # red, red, yellow (clears), red (new episode), red
    b_scores = [40, 40, 40, 40, 40]  # red until the renewal date passes (d4)
    for n, as_of in enumerate(days(5)):
        day(connection, extracts, as_of, {"A": a_scores[n], "B": b_scores[n]})
    assert alerts(connection, "renewal_at_risk") == [("A", d1, d3), ("A", d4, None), ("B", d1, d4)]
    message = connection.execute(
        "SELECT message FROM mart.health_alerts WHERE alert_type = 'renewal_at_risk' "
        "AND account_id = 'A' AND as_of_date = ?",
        [d1],
    ).fetchone()[0]
    assert message == "Renews in 90 days (2026-05-30) at 59% confidence: red zone"


def ticket(ticket_id: str, created: str, status: str) -> dict:
    return dict(
        VALID_ROWS["support_tickets"],
        ticket_id=ticket_id,
        account_id="A",
        created_at=created,
        resolved_at=None,
        status=status,
        is_blocker="true",
        csat_score=None,
    )


def test_onboarding_risk_follows_its_flags(connection, extracts):
    # A started on 2026-02-05 and logged in the next day; it is under 30 days old (no
    # training flag yet) on every day here: its only possible flag is a blocker.
    crm(extracts, ["A"], contract_start_date="2026-02-05")
    write_delivery(
        extracts,
        "product_events",
        D,
        [dict(VALID_ROWS["product_events"], account_id="A", occurred_at="2026-02-06T09:00:00Z")],
    )
    write_delivery(
        extracts, "product_users", D, [dict(VALID_ROWS["product_users"], account_id="A")]
    )
    d1, d2, d3, d4 = days(4)
    # T1 opened 2026-02-21: open 8 days on d1 (flag), solved on d3; T2 open 8 days on d4.
    write_delivery(extracts, "support_tickets", d1, [ticket("T1", "2026-02-21T09:00:00Z", "open")])
    write_delivery(
        extracts, "support_tickets", d3, [ticket("T1", "2026-02-21T09:00:00Z", "solved")]
    )
    write_delivery(
        extracts, "support_tickets", d4, [ticket("T2", "2026-02-24T09:00:00Z", "pending")]
    )
    for as_of in days(4):
        day(connection, extracts, as_of, {"A": 70})
    assert alerts(connection, "onboarding_risk") == [("A", d1, d3), ("A", d4, None)]
    row = table(
        connection,
        "SELECT * FROM mart.health_alerts WHERE alert_type = 'onboarding_risk' AND as_of_date = ?",
        d4,
    ).to_dicts()[0]
    assert row["message"] == "Onboarding at risk on day 27: blocker_open"
    assert row["severity"] == "medium"
    assert row["drivers"] == "nps -1.0 pts"  # the day's top_drivers


def test_dates_in_any_order_give_the_same_alerts(tmp_path):
    from conftest import work_database

    root = tmp_path / "extracts"
    crm(root, ["A", "B"])
    write_delivery(root, "billing_invoices", D, [invoice("I1", "2026-01-15", "open")])
    scores = {"A": [70, 40, 40, 65, 45, 45], "B": [90, 85, 55, 52, 70, 30]}
    dates = days(6)

    def backfill(order: list[int], name: str):
        connection = work_database(tmp_path / f"{name}.duckdb")
        for n in order:
            day(connection, root, dates[n], {a: values[n] for a, values in scores.items()})
        found = table(connection, "SELECT * FROM mart.health_alerts ORDER BY ALL")
        connection.close()
        return found

    forward = backfill(list(range(6)), "forward")
    assert backfill([3, 0, 5, 1, 4, 2], "shuffled").equals(forward)
    assert set(forward["alert_type"]) == {"entered_critical", "dropped_below_60", "payment_overdue"}


def test_the_risk_register_ranks_the_latest_date(connection, extracts):
    crm(extracts, ["A", "B", "C", "E", "F"])
    d1, d2 = days(2)
    day(connection, extracts, d1, {"A": 90, "B": 45, "C": 70, "E": 30, "F": 75})
    day(
        connection,
        extracts,
        d2,
        {"A": 90, "B": 45, "C": 70, "E": 30, "F": 75},
        arr={"B": 50000, "E": 12000, "C": 30000, "F": 30000},
    )
    register = table(connection, "SELECT * FROM mart.risk_register ORDER BY rank").to_dicts()
    # critical first (B before E: higher ARR), then at_risk (C and F: same ARR, the lower
    # score first), then healthy.
    assert [row["account_id"] for row in register] == ["B", "E", "C", "F", "A"]
    assert [row["rank"] for row in register] == [1, 2, 3, 4, 5]
    assert {row["as_of_date"] for row in register} == {d2}
    worst = register[0]
    assert worst["open_alerts"] == ["entered_critical"]
    assert worst["review_cadence"] == "weekly"
    assert worst["recommended_actions"][0] == "Escalate to CS leadership now"
    assert register[2]["recommended_actions"][0] == "Schedule an executive check-in"
    assert register[4]["open_alerts"] == [] and register[4]["onboarding_flags"] == []
    assert worst["days_to_renewal"] == (dt.date(2027, 1, 1) - d2).days

    assert operations_problems(connection, d2).is_empty()
    connection.execute("DELETE FROM mart.risk_register WHERE account_id = 'C'")
    problems = operations_problems(connection, d2)["problem"].to_list()
    assert "scored account missing" in problems and "rank not 1..n" in problems

    # A backfill of an older date leaves the work list alone.
    day(connection, extracts, d1 - dt.timedelta(days=1), {"A": 10})
    assert table(connection, "SELECT DISTINCT as_of_date FROM mart.risk_register")[
        "as_of_date"
    ].to_list() == [d2]


def test_an_older_date_run_later_refreshes_the_registers_open_alerts(tmp_path):
    """C scores 65 on d1 and 55 on d2. Run d2 first, there is no earlier snapshot: no
    alert. Running d1 afterwards raises dropped_below_60 on d2, and the register, which
    holds d2, shows it, as when the dates run in order."""
    from conftest import work_database

    root = tmp_path / "extracts"
    crm(root, ["C"])
    d1, d2 = days(2)
    scores = {d1: {"C": 65}, d2: {"C": 55}}

    def register(order: list[dt.date], name: str) -> list[dict]:
        connection = work_database(tmp_path / f"{name}.duckdb")
        for as_of in order:
            day(connection, root, as_of, scores[as_of])
        found = table(connection, "SELECT as_of_date, open_alerts FROM mart.risk_register")
        connection.close()
        return found.to_dicts()

    in_order = register([d1, d2], "in_order")
    assert in_order == [{"as_of_date": d2, "open_alerts": ["dropped_below_60"]}]
    assert register([d2, d1], "newest_first") == in_order
