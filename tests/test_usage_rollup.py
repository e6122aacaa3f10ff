"""The product-usage rollups: kept per delivery, rebuilt only where deliveries changed, and
always equal to counting the events of core.product_events afresh."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
from conftest import (
    D1,
    D2,
    D3,
    SETTINGS,
    load_all,
    rows_of,
    table,
    work_database,
    write_delivery,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets.core import (
    build_core,
    core_reject_ratios,
    previous_core_date,
    update_last_days,
    update_usage_rollups,
)
from assets.ingest import load_dataset
from schemas.extracts import DATASETS

ROLLUP_TABLES = (
    "user_days",
    "account_days",
    "feature_days",
    "user_last_days",
    "feature_last_days",
    "last_day_dates",
    "resent_events",
    "deliveries",
)
EVENTS_DATASET = DATASETS["product_events"]


def event(event_id: str, occurred_at: str, user_id: str = "U1", name: str = "login", **changes):
    return dict(
        rows_of("product_events")[0],
        event_id=event_id,
        occurred_at=occurred_at,
        user_id=user_id,
        event_name=name,
        **changes,
    )


def accounts(extracts, day: dt.date = D1) -> None:
    write_delivery(extracts, "crm_accounts", day, rows_of("crm_accounts"))


def from_rollups(connection, as_of: dt.date) -> pl.DataFrame:
    """Usage per account as the measures read it as of `as_of` (sql/usage_rollups.sql):
    sums per account and day, the last day of each user and of each event name."""
    return connection.sql(
        """SELECT account_id,
                  CAST(sum(events) AS BIGINT) AS events,
                  CAST(sum(logins) AS BIGINT) AS logins,
                  (SELECT list(u.user_id || ' ' || u.last_day ORDER BY u.user_id)
                     FROM rollup.user_last_days AS u
                    WHERE u.as_of_date = $as_of AND u.account_id = a.account_id) AS last_days,
                  CAST(sum(user_days) AS BIGINT) AS user_days,
                  (SELECT list(f.event_name || ' ' || f.last_day ORDER BY f.event_name)
                     FROM rollup.feature_last_days AS f
                    WHERE f.as_of_date = $as_of AND f.account_id = a.account_id) AS event_names
           FROM rollup.account_days AS a
           WHERE delivery_date <= $as_of AND day <= $as_of
             AND account_id IN (SELECT account_id FROM core.known_accounts)
           GROUP BY 1 ORDER BY 1""",
        params={"as_of": as_of},
    ).pl()


def from_events(connection) -> pl.DataFrame:
    """The same counted afresh from core.product_events, up to its as-of date."""
    return table(
        connection,
        """WITH events AS (
               SELECT *, CAST(occurred_at AS DATE) AS day FROM core.product_events
               WHERE CAST(occurred_at AS DATE) <= as_of_date
           ),
           users AS (
               SELECT account_id, list(user_id || ' ' || last_day ORDER BY user_id) AS last_days
               FROM (SELECT account_id, user_id, max(day) AS last_day FROM events GROUP BY 1, 2)
               GROUP BY 1
           ),
           features AS (
               SELECT account_id,
                      list(event_name || ' ' || last_day ORDER BY event_name) AS event_names
               FROM (SELECT account_id, event_name, max(day) AS last_day FROM events
                     GROUP BY 1, 2)
               GROUP BY 1
           )
           SELECT account_id,
                  count(*) AS events,
                  count(*) FILTER (WHERE event_name = 'login') AS logins,
                  any_value(users.last_days) AS last_days,
                  count(DISTINCT (user_id, day)) AS user_days,
                  any_value(features.event_names) AS event_names
           FROM events JOIN users USING (account_id) JOIN features USING (account_id)
           GROUP BY 1 ORDER BY 1""",
    )


def event_rejections(connection, as_of: dt.date) -> pl.DataFrame:
    return table(
        connection,
        "SELECT * EXCLUDE (run_id) FROM quarantine.rejected_rows "
        "WHERE stage = 'core' AND dataset = 'product_events' AND as_of_date = ? ORDER BY ALL",
        as_of,
    )


def rollups(connection) -> dict[str, pl.DataFrame]:
    return {
        name: table(connection, f"SELECT * FROM rollup.{name} ORDER BY ALL")
        for name in ROLLUP_TABLES
    }


def test_resent_events_are_not_counted_as_rejected_in_the_reject_ratio(extracts, connection):
    """A feed that sends yesterday's 20 events again has sent nothing wrong; 3 events of
    an account the CRM never had are rejected: 3 of the 60 rows read."""
    accounts(extracts)
    first = [event(f"E{n}", "2026-03-01T08:00:00Z") for n in range(20)]
    unknown = [event(f"X{n}", "2026-03-02T08:00:00Z", account_id="NOT-IN-CRM") for n in range(3)]
    new = [event(f"N{n}", "2026-03-02T09:00:00Z") for n in range(17)]
    write_delivery(extracts, "product_events", D1, first)
    write_delivery(extracts, "product_events", D2, first + unknown + new)
    load_all(connection, extracts, D2)
    reasons = table(
        connection,
        "SELECT reasons[1] AS reason, count(*) AS n FROM quarantine.rejected_rows "
        "WHERE dataset = 'product_events' GROUP BY 1 ORDER BY 1",
    )
    assert reasons.rows() == [("already_delivered", 20), ("unknown_account", 3)]
    outcome = core_reject_ratios(connection, D2, "run-1", SETTINGS)["product_events"]
    assert outcome.metadata["rows_counted"] == 60
    assert outcome.metadata["rejected_at_core"] == 3
    assert outcome.metadata["reject_ratio"] == 0.05 and outcome.passed


def test_a_resent_event_counts_once_from_the_first_delivery(extracts, connection):
    accounts(extracts)
    write_delivery(
        extracts,
        "product_events",
        D1,
        [event("E1", "2026-02-28T12:00:00Z"), event("E2", "2026-03-01T08:00:00Z", name="reports")],
    )
    write_delivery(
        extracts,
        "product_events",
        D2,
        [event("E2", "2026-03-01T08:00:00Z", name="reports"), event("E3", "2026-03-02T09:00:00Z")],
    )
    load_all(connection, extracts, D2)
    events = table(
        connection, "SELECT event_id, _delivery_date FROM core.product_events ORDER BY 1"
    )
    assert events.rows() == [("E1", D1), ("E2", D1), ("E3", D2)]
    assert from_rollups(connection, D2).row(0) == (
        "A1",
        3,
        2,
        ["U1 2026-03-02"],
        3,
        ["login 2026-03-02", "reports 2026-03-01"],
    )
    assert_frame_equal(from_rollups(connection, D2), from_events(connection))
    quarantined = table(
        connection,
        "SELECT record ->> 'event_id' AS event_id, reasons, delivery_date "
        "FROM quarantine.rejected_rows WHERE stage = 'core' AND as_of_date = ?",
        D2,
    )
    assert quarantined.rows() == [("E2", ["already_delivered"], D2)]

    # The day before, only the first delivery is in force: nothing was resent yet.
    load_all(connection, extracts, D1, run_id="run-2")
    assert from_rollups(connection, D1).row(0) == (
        "A1",
        2,
        1,
        ["U1 2026-03-01"],
        2,
        ["login 2026-02-28", "reports 2026-03-01"],
    )
    assert_frame_equal(from_rollups(connection, D1), from_events(connection))
    assert (
        table(
            connection,
            "SELECT count(*) AS n FROM quarantine.rejected_rows WHERE stage = 'core' "
            "AND dataset = 'product_events' AND as_of_date = ?",
            D1,
        )["n"][0]
        == 0
    )


def test_a_late_event_adds_events_but_not_a_second_user_day(extracts, connection):
    accounts(extracts)
    write_delivery(extracts, "product_events", D1, [event("E1", "2026-02-28T12:00:00Z")])
    # The next delivery brings a late event of the same user and UTC day.
    write_delivery(
        extracts, "product_events", D2, [event("E2", "2026-02-28T18:00:00Z", name="reports")]
    )
    load_all(connection, extracts, D1)
    load_all(connection, extracts, D2, run_id="run-2")
    marks = table(
        connection,
        "SELECT delivery_date, day, first_delivery FROM rollup.user_days ORDER BY 1",
    )
    assert marks.rows() == [
        (D1, dt.date(2026, 2, 28), True),
        (D2, dt.date(2026, 2, 28), False),
    ]
    assert from_rollups(connection, D2).row(0) == (
        "A1",
        2,
        1,
        ["U1 2026-02-28"],
        1,
        ["login 2026-02-28", "reports 2026-02-28"],
    )
    assert_frame_equal(from_rollups(connection, D2), from_events(connection))


def test_the_nightly_run_rolls_up_only_the_new_delivery(extracts, connection):
    accounts(extracts)
    write_delivery(extracts, "product_events", D1, [event("E1", "2026-03-01T10:00:00Z")])
    load_all(connection, extracts, D1)
    first = table(connection, "SELECT * FROM rollup.user_days WHERE delivery_date = ?", D1)
    write_delivery(extracts, "product_events", D2, [event("E2", "2026-03-02T10:00:00Z")])
    load_dataset(connection, DATASETS["product_events"], extracts, D2, "run-2", SETTINGS)
    assert update_usage_rollups(connection) == [D2]
    assert update_usage_rollups(connection) == []  # up to date: nothing to do
    assert_frame_equal(
        table(connection, "SELECT * FROM rollup.user_days WHERE delivery_date = ?", D1), first
    )


def test_redelivered_and_late_folders_give_the_rollups_of_a_fresh_load(extracts, tmp_path):
    accounts(extracts)
    write_delivery(extracts, "product_events", D2, [event("E2", "2026-03-02T10:00:00Z")])
    write_delivery(
        extracts, "product_events", D3, [event("E3", "2026-03-01T23:00:00Z", user_id="U2")]
    )
    incremental = work_database(tmp_path / "incremental.duckdb")
    load_all(incremental, extracts, D3)
    # An earlier folder arrives late, and D2 is delivered again with other content.
    write_delivery(
        extracts, "product_events", D1, [event("E1", "2026-03-01T10:00:00Z", user_id="U2")]
    )
    write_delivery(
        extracts,
        "product_events",
        D2,
        [event("E2", "2026-03-02T10:00:00Z"), event("E1", "2026-03-01T10:00:00Z", user_id="U2")],
    )
    load_all(incremental, extracts, D3, run_id="run-2")

    fresh = work_database(tmp_path / "fresh.duckdb")
    load_all(fresh, extracts, D3)
    for name, expected in rollups(fresh).items():
        assert_frame_equal(rollups(incremental)[name], expected, check_row_order=False), name
    assert table(fresh, "SELECT event_id FROM rollup.resent_events")["event_id"].to_list() == ["E1"]
    assert_frame_equal(from_rollups(incremental, D3), from_events(incremental))


def test_a_run_killed_before_the_rollup_commit_is_redone(extracts, connection):
    accounts(extracts)
    write_delivery(extracts, "product_events", D1, [event("E1", "2026-03-01T10:00:00Z")])
    load_all(connection, extracts, D1)
    before = rollups(connection)
    # Ingest committed its fingerprints; the rollup transaction never did.
    connection.execute("DELETE FROM rollup.deliveries")
    connection.execute("DELETE FROM rollup.user_days")
    build_core(connection, D1, "run-2")
    for name, expected in before.items():
        assert_frame_equal(rollups(connection)[name], expected), name


def kept_dates(connection) -> list[dt.date]:
    return table(connection, "SELECT as_of_date FROM rollup.last_day_dates ORDER BY 1")[
        "as_of_date"
    ].to_list()


def test_last_days_build_on_the_latest_earlier_date_kept(extracts, connection):
    """Each date's last days of activity are those of the latest earlier date kept with
    the rows it lacks: after a skipped date, with an event dated after its delivery,
    and after an earlier delivery is sent again, they equal counting the events afresh.
    Only the date run, the latest before it and later dates are kept."""
    d4 = D3 + dt.timedelta(days=1)
    accounts(extracts)
    write_delivery(
        extracts,
        "product_events",
        D1,
        # U2's event is dated two days after its delivery: it counts from D3 on.
        [event("E1", "2026-03-01T10:00:00Z"), event("E2", "2026-03-03T10:00:00Z", "U2")],
    )
    write_delivery(extracts, "product_events", D2, [event("E3", "2026-03-02T10:00:00Z", "U3")])
    write_delivery(
        extracts, "product_events", D3, [event("E4", "2026-03-03T10:00:00Z", name="reports")]
    )
    write_delivery(extracts, "product_events", d4, [event("E5", "2026-03-02T10:00:00Z", "U3")])
    load_all(connection, extracts, D1)
    kept_d1 = table(connection, "SELECT * FROM rollup.user_last_days ORDER BY ALL")
    assert from_rollups(connection, D1)["last_days"].to_list() == [["U1 2026-03-01"]]
    load_all(connection, extracts, D2, run_id="run-2")
    assert kept_dates(connection) == [D1, D2]
    load_all(connection, extracts, d4, run_id="run-4")  # D3 skipped: built on D2
    assert kept_dates(connection) == [D2, d4]
    assert from_rollups(connection, d4)["last_days"].to_list() == [
        ["U1 2026-03-03", "U2 2026-03-03", "U3 2026-03-02"]
    ]
    assert_frame_equal(from_rollups(connection, d4), from_events(connection))

    # D2 sent again with other content: the dates from D2 on no longer stand.
    write_delivery(extracts, "product_events", D2, [event("E6", "2026-03-02T10:00:00Z", "U4")])
    load_all(connection, extracts, D3, run_id="run-5")
    assert kept_dates(connection) == [D3]
    assert_frame_equal(from_rollups(connection, D3), from_events(connection))

    # A date no longer kept (a health rerun of an older date) is built again, the same.
    update_last_days(connection, D1)
    assert kept_dates(connection) == [D1, D3]
    assert_frame_equal(
        table(connection, "SELECT * FROM rollup.user_last_days WHERE as_of_date = ?", D1),
        kept_d1,
    )


def test_events_of_unknown_accounts_are_quarantined_for_the_date(extracts, connection):
    accounts(extracts)
    write_delivery(
        extracts,
        "product_events",
        D1,
        [event("E1", "2026-03-01T10:00:00Z"), event("E9", "2026-03-01T11:00:00Z", account_id="X")],
    )
    load_all(connection, extracts, D1)
    assert table(connection, "SELECT DISTINCT account_id FROM core.product_user_days").rows() == [
        ("A1",)
    ]
    quarantined = table(
        connection,
        "SELECT record ->> 'event_id' AS event_id, reasons FROM quarantine.rejected_rows "
        "WHERE stage = 'core' AND dataset = 'product_events'",
    )
    assert quarantined.rows() == [("E9", ["unknown_account"])]


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 2),  # delivery: D1, D2 or D3
        st.integers(0, 7),  # event id: a small pool, so some are resent
        st.sampled_from(["A1", "A2", "X"]),  # X: unknown to the CRM
        st.sampled_from(["U1", "U2", "U3"]),
        st.integers(-2, 1),  # UTC day relative to the delivery: late and early events
        st.sampled_from(["login", "reports", "export", "training_completed"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(events=EVENTS, known_from=st.sampled_from([None, 1, 2]))
def test_the_rollups_always_equal_counting_the_events_afresh(tmp_path_factory, events, known_from):
    """For every as-of date of a nightly backfill, usage read from the rollups equals
    usage counted from core.product_events, and the product-event rejections built on
    the day before equal those found by reading every raw event: resent ids, late
    events, an unknown account that the CRM delivers from a later day on."""
    root = tmp_path_factory.mktemp("book")
    extracts = root / "extracts"
    days = [D1, D2, D3]
    crm = rows_of("crm_accounts", 1) + rows_of("crm_accounts", 1, account_id="A2")
    write_delivery(extracts, "crm_accounts", D1, crm)
    if known_from is not None:
        crm_x = crm + rows_of("crm_accounts", 1, account_id="X")
        write_delivery(extracts, "crm_accounts", days[known_from], crm_x)
    for index, day in enumerate(days):
        rows = {}
        for delivery, number, account, user, offset, name in events:
            if delivery == index:
                occurred = day + dt.timedelta(days=offset)
                rows[f"E{number}"] = event(
                    f"E{number}", f"{occurred}T12:00:00Z", user, name, account_id=account
                )
        if rows:
            write_delivery(extracts, "product_events", day, list(rows.values()))
    connection = work_database(root / "work.duckdb")
    for day in days:
        load_all(connection, extracts, day, run_id=f"run-{day}")
        assert_frame_equal(from_rollups(connection, day), from_events(connection))
        built_on_the_day_before = event_rejections(connection, day)
        build_core(connection, day, f"again-{day}")  # the same date: every raw event read
        assert_frame_equal(built_on_the_day_before, event_rejections(connection, day))
    connection.close()
    shutil.rmtree(root)


def test_event_rejections_build_on_the_day_before_only_while_its_deliveries_stand(
    extracts, connection
):
    accounts(extracts)
    write_delivery(extracts, "product_events", D1, [event("E1", "2026-03-01T10:00:00Z")])
    load_all(connection, extracts, D1)
    assert previous_core_date(connection, EVENTS_DATASET, D2) == D1
    assert previous_core_date(connection, EVENTS_DATASET, D1) is None  # the same date: read afresh
    # D1 delivered again with other content: its rejections no longer stand.
    write_delivery(
        extracts,
        "product_events",
        D1,
        [event("E1", "2026-03-01T10:00:00Z"), event("E9", "2026-03-01T11:00:00Z", account_id="X")],
    )
    load_dataset(connection, DATASETS["product_events"], extracts, D2, "run-2", SETTINGS)
    assert previous_core_date(connection, EVENTS_DATASET, D2) is None
    load_all(connection, extracts, D2, run_id="run-2")
    assert event_rejections(connection, D2)["record"].str.contains('"E9"').to_list() == [True]
    assert previous_core_date(connection, EVENTS_DATASET, D3) == D2


def test_a_working_database_with_core_product_events_as_a_table_is_upgraded(extracts, connection):
    accounts(extracts)
    write_delivery(extracts, "product_events", D1, [event("E1", "2026-03-01T10:00:00Z")])
    connection.execute("CREATE TABLE core.product_events AS SELECT 1 AS written_by_an_old_version")
    load_all(connection, extracts, D1)
    assert table(connection, "SELECT event_id FROM core.product_events").rows() == [("E1",)]
