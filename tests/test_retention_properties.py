"""Generated subscription books against a plain-Python reading of the definitions: the
movements and the book's retention rows agree with it, the identities hold, and a rerun
changes nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets.retention import build_retention, retention_problems
from pipelines.resources import prepare_connection
from pipelines.settings import RetentionTargets

FIRST = dt.date(2024, 1, 1)
GRAINS = {"month": 1, "quarter": 3, "ttm": 12}


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def first_month_from(day: dt.date) -> dt.date:
    """The first first-of-month on or after `day`."""
    return day if day.day == 1 else add_months(day.replace(day=1), 1)


subscription = st.tuples(
    st.sampled_from(["A", "B", "C", "D", "E"]),
    st.integers(0, 30),  # start: months after FIRST ...
    st.sampled_from([1, 10, 28]),  # ... on this day of the month
    st.one_of(st.none(), st.integers(0, 14)),  # months until the end (None: open)
    st.sampled_from(
        [Decimal("0"), Decimal("10"), Decimal("25.50"), Decimal("100"), Decimal("333.33")]
    ),
)


def subscription_rows(drawn) -> list[tuple]:
    rows = []
    for account, start_month, start_day, length, mrr in drawn:
        start = add_months(FIRST, start_month).replace(day=start_day)
        end = None if length is None else add_months(start.replace(day=1), length + 1)
        rows.append((account, start, end, mrr))
    return rows


def expected(rows: list[tuple], as_of: dt.date) -> tuple[list[tuple], list[tuple]]:
    """Movements and the whole book's retention rows, month by month in Python."""
    last_month = as_of.replace(day=1)
    mrr: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for account, start, end, amount in rows:
        month = first_month_from(start)
        while month <= last_month and (end is None or month < end):
            mrr[(account, month)] += amount
            month = add_months(month, 1)
    active = {key: value for key, value in mrr.items() if value > 0}

    movements = []
    for account in sorted({account for account, _ in active}):
        months = sorted(month for owner, month in active if owner == account)
        month, previous = months[0], Decimal(0)
        while month <= min(add_months(months[-1], 1), last_month):
            current = active.get((account, month), Decimal(0))
            if current > 0 and month == months[0]:
                movement = "new"
            elif current > 0 and previous == 0:
                movement = "reactivation"
            elif previous > 0 and current > previous:
                movement = "expansion"
            elif 0 < current < previous:
                movement = "contraction"
            elif current == 0 and previous > 0:
                movement = "churn"
            else:
                movement = None
            movements.append((month, account, float(current), float(previous), movement))
            month, previous = add_months(month, 1), current

    periods = []
    if active:
        start = min(month for _, month in active)
        while start <= last_month:
            for grain, months in GRAINS.items():
                end = add_months(start, months)
                cohort = [account for account, month in active if month == start]
                if (
                    end > last_month
                    or not cohort
                    or (grain == "quarter" and start.month not in (1, 4, 7, 10))
                ):
                    continue
                starting = sum(active[(a, start)] for a in cohort)
                ending = sum(active.get((a, end), Decimal(0)) for a in cohort)
                kept = sum(
                    min(active.get((a, end), Decimal(0)), active[(a, start)]) for a in cohort
                )
                retained = sum(1 for a in cohort if (a, end) in active)
                periods.append(
                    (
                        grain,
                        start,
                        end,
                        float(starting),
                        float(ending),
                        float(kept / starting),
                        float(ending / starting),
                        len(cohort),
                        retained,
                    )
                )
            start = add_months(start, 1)
    return movements, periods


def load(connection, rows: list[tuple]) -> None:
    frame = pl.DataFrame(
        [
            (f"S{n}", account, start, end, float(mrr))
            for n, (account, start, end, mrr) in enumerate(rows)
        ],
        schema={
            "subscription_id": pl.String,
            "account_id": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "mrr_usd": pl.Float64,
        },
        orient="row",
    )
    connection.register("drawn", frame.to_arrow())
    connection.execute("CREATE OR REPLACE TABLE core.billing_subscriptions AS SELECT * FROM drawn")
    connection.execute(
        "CREATE OR REPLACE TABLE core.known_accounts AS SELECT DISTINCT "
        "account_id, 'csm_' || account_id AS csm_owner FROM drawn"
    )
    connection.unregister("drawn")


@settings(max_examples=60, deadline=None)
@given(drawn=st.lists(subscription, max_size=12), as_of_offset=st.integers(0, 40))
def test_movements_and_retention_follow_the_definitions(drawn, as_of_offset):
    rows = subscription_rows(drawn)
    as_of = add_months(FIRST, as_of_offset) + dt.timedelta(days=14)
    connection = duckdb.connect()
    prepare_connection(connection)
    load(connection, rows)
    assert build_retention(connection, as_of, RetentionTargets())

    movements, periods = expected(rows, as_of)
    assert (
        connection.execute(
            "SELECT month, account_id, mrr, previous_mrr, movement FROM mart.mrr_movements "
            "ORDER BY account_id, month"
        ).fetchall()
        == movements
    )
    found = connection.execute(
        "SELECT grain, period_start, period_end, starting_mrr, ending_mrr, grr, nrr, "
        "starting_logos, retained_logos FROM mart.retention WHERE group_by = 'all' "
        "ORDER BY period_start, period_end - period_start"
    ).fetchall()
    assert [row[:5] + row[7:] for row in found] == [row[:5] + row[7:] for row in periods]
    for got, want in zip(found, periods, strict=True):
        assert got[5:7] == pytest.approx(want[5:7])
    assert retention_problems(connection).is_empty()

    before = [
        connection.sql(f"SELECT * FROM mart.{name} ORDER BY ALL").pl()
        for name in ("mrr_movements", "retention")
    ]
    assert build_retention(connection, as_of, RetentionTargets())
    for name, frame in zip(("mrr_movements", "retention"), before, strict=True):
        assert_frame_equal(connection.sql(f"SELECT * FROM mart.{name} ORDER BY ALL").pl(), frame)
    connection.close()
