"""mart.weekly_usage and mart.feature_adoption on a hand-worked book. The ISO week of
Wednesday 2026-03-04 runs Monday 03-02 .. Sunday 03-08; Sunday 03-01 is the week before.

A1 (10 seats): U1 logs in on Monday, uses reports on Monday and Tuesday; U2 exports on
Tuesday; U3 logs in on Sunday 03-01 (last week). A2 (5 seats) has no events.
Week of 03-02 up to Wednesday: A1 has 2 active users (U1, U2), user-days U1 2 + U2 1 = 3,
4 events, 1 login; reports 1 user of 2 (0.5), export 1 of 2 (0.5), login is no catalog
feature. A2: 0 active users, adoption null.
"""

from __future__ import annotations

import datetime as dt

from conftest import run_day, table, work_database, write_delivery
from test_onboarding_expansion import account, event, row

MONDAY = dt.date(2026, 3, 2)
TUESDAY = dt.date(2026, 3, 3)
WEDNESDAY = dt.date(2026, 3, 4)


def book(extracts) -> None:
    write_delivery(
        extracts, "crm_accounts", MONDAY, [account("A1"), account("A2", licensed_seats=5)]
    )
    write_delivery(
        extracts,
        "feature_catalog",
        MONDAY,
        [
            row("feature_catalog", feature="reports", is_core="true", plan_tier="starter"),
            row("feature_catalog", feature="export", is_core="false", plan_tier=None),
        ],
    )
    write_delivery(
        extracts,
        "product_events",
        MONDAY,
        [
            event("A1", "U3", "login", "2026-03-01"),
            event("A1", "U1", "login", "2026-03-02"),
            event("A1", "U1", "reports", "2026-03-02"),
        ],
    )
    write_delivery(
        extracts,
        "product_events",
        TUESDAY,
        [event("A1", "U1", "reports", "2026-03-03"), event("A1", "U2", "export", "2026-03-03")],
    )


def usage(connection):
    return table(
        connection,
        "SELECT week_start, as_of_date, account_id, active_users, licensed_seats, "
        "active_user_share, user_days, events, logins, top_users "
        "FROM mart.weekly_usage ORDER BY account_id",
    )


def adoption(connection):
    return table(
        connection,
        "SELECT account_id, feature, is_core, users, active_users, adoption, events "
        "FROM mart.feature_adoption ORDER BY account_id, feature",
    )


def test_the_week_to_date_counts_users_days_and_features(extracts, tmp_path):
    book(extracts)
    connection = work_database(tmp_path / "work.duckdb")
    run_day(connection, extracts, WEDNESDAY)
    assert usage(connection).rows() == [
        (
            MONDAY,
            WEDNESDAY,
            "A1",
            2,
            10,
            0.2,
            3,
            4,
            1,
            [
                {"user_id": "U1", "active_days": 2, "events": 3},
                {"user_id": "U2", "active_days": 1, "events": 1},
            ],
        ),
        (MONDAY, WEDNESDAY, "A2", 0, 5, 0.0, 0, 0, 0, []),
    ]
    assert adoption(connection).rows() == [
        ("A1", "export", False, 1, 2, 0.5, 1),
        ("A1", "reports", True, 1, 2, 0.5, 2),
        ("A2", "export", False, 0, 0, None, 0),
        ("A2", "reports", True, 0, 0, None, 0),
    ]


def test_an_older_date_of_the_week_does_not_replace_a_newer_one(extracts, tmp_path):
    book(extracts)
    connection = work_database(tmp_path / "work.duckdb")
    run_day(connection, extracts, WEDNESDAY)
    newest = (usage(connection), adoption(connection))
    run_day(connection, extracts, TUESDAY, run_id="run-2")
    assert usage(connection).equals(newest[0]) and adoption(connection).equals(newest[1])

    # Run in the other order, the week ends the same.
    other = work_database(tmp_path / "other.duckdb")
    run_day(other, extracts, TUESDAY)
    assert usage(other)["as_of_date"].to_list() == [TUESDAY, TUESDAY]
    assert usage(other)["user_days"].to_list() == [3, 0]  # Tuesday's events are in
    run_day(other, extracts, WEDNESDAY, run_id="run-2")
    assert usage(other).equals(newest[0]) and adoption(other).equals(newest[1])


def test_the_week_holds_the_accounts_of_its_newest_date_in_any_order(extracts, tmp_path):
    """A3's subscription ends on Wednesday: it is scored on Tuesday, churned on Wednesday.
    The week is Wednesday's, without A3, whichever of the two dates runs first."""
    book(extracts)
    write_delivery(extracts, "crm_accounts", MONDAY, [account("A3")], name="a3")
    write_delivery(
        extracts,
        "billing_subscriptions",
        MONDAY,
        [
            row(
                "billing_subscriptions",
                account_id="A3",
                start_date="2026-01-01",
                end_date=WEDNESDAY,
                mrr=100,
            )
        ],
    )
    forwards = work_database(tmp_path / "forwards.duckdb")
    run_day(forwards, extracts, TUESDAY)
    assert "A3" in usage(forwards)["account_id"].to_list()
    run_day(forwards, extracts, WEDNESDAY, run_id="run-2")
    assert usage(forwards)["account_id"].to_list() == ["A1", "A2"]

    backwards = work_database(tmp_path / "backwards.duckdb")
    run_day(backwards, extracts, WEDNESDAY)
    run_day(backwards, extracts, TUESDAY, run_id="run-2")
    assert usage(backwards).equals(usage(forwards))
    assert adoption(backwards).equals(adoption(forwards))


def test_the_top_users_are_capped_by_the_config(extracts, tmp_path):
    from pipelines.operations import load_operations

    book(extracts)
    operations = load_operations()
    operations = operations.model_copy(
        update={"usage": operations.usage.model_copy(update={"power_users": 1})}
    )
    connection = work_database(tmp_path / "work.duckdb")
    run_day(connection, extracts, WEDNESDAY, operations=operations)
    assert usage(connection)["top_users"].to_list()[0] == [
        {"user_id": "U1", "active_days": 2, "events": 3}
    ]
