"""History: deltas and drivers come from the snapshots of other dates, so running dates in
any order ends in the same table, and running a date again replaces its rows."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from conftest import load_all, score, table, work_database
from polars.testing import assert_frame_equal

from pipelines.demo_book import BookShape, generate_book

SHAPE = BookShape(accounts=25, days=45, seed=11, last_day=dt.date(2026, 6, 30))
END = SHAPE.last_day
DATES = [END - dt.timedelta(days=n) for n in (37, 30, 7, 0)]
ORDERS = {"forward": DATES, "shuffled": [DATES[3], DATES[0], DATES[2], DATES[1]]}


def run_dates(path, extracts, dates) -> duckdb.DuckDBPyConnection:
    connection = work_database(path)
    for as_of in dates:
        load_all(connection, extracts, as_of)
        score(connection, as_of)
    return connection


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    generate_book(root / "extracts", SHAPE)
    connections = {
        name: run_dates(root / f"{name}.duckdb", root / "extracts", dates)
        for name, dates in ORDERS.items()
    }
    connections["extracts"] = root / "extracts"
    yield connections
    for name in ORDERS:
        connections[name].close()


def health(connection) -> pl.DataFrame:
    return table(connection, "SELECT * FROM mart.account_health ORDER BY as_of_date, account_id")


def measures(connection) -> pl.DataFrame:
    return table(
        connection, "SELECT * FROM mart.health_measures ORDER BY as_of_date, account_id, measure"
    )


def test_any_order_gives_the_same_history(histories):
    forward, shuffled = histories["forward"], histories["shuffled"]
    assert health(forward).height > 50
    assert_frame_equal(health(forward), health(shuffled))
    assert_frame_equal(measures(forward), measures(shuffled))


def test_running_a_date_again_replaces_its_rows(histories):
    connection = histories["forward"]
    before_health, before_measures = health(connection), measures(connection)
    load_all(connection, histories["extracts"], DATES[2])
    score(connection, DATES[2])
    assert_frame_equal(health(connection), before_health)
    assert_frame_equal(measures(connection), before_measures)


def test_deltas_are_today_minus_7_and_30_days_before(histories):
    rows = health(histories["forward"])
    by_date = {date: frame for (date,), frame in rows.group_by("as_of_date")}
    today = by_date[END].join(
        by_date[DATES[2]].select("account_id", week="health_score"), on="account_id", how="left"
    )
    today = today.join(
        by_date[DATES[1]].select("account_id", month="health_score"), on="account_id", how="left"
    )
    expected_7 = (today["health_score"] - today["week"]).round(1)
    expected_30 = (today["health_score"] - today["month"]).round(1)
    assert today["score_delta_7d"].to_list() == expected_7.to_list()
    assert today["score_delta_30d"].to_list() == expected_30.to_list()
    assert today["score_delta_30d"].null_count() < today.height  # most had a snapshot
    # the first date has no snapshot 7 or 30 days before
    assert by_date[DATES[0]]["score_delta_7d"].null_count() == by_date[DATES[0]].height
    # END - 30 has END - 37 seven days before it, but nothing 30 days before
    assert by_date[DATES[1]]["score_delta_7d"].null_count() < by_date[DATES[1]].height
    assert by_date[DATES[1]]["score_delta_30d"].null_count() == by_date[DATES[1]].height


def expected_drivers(
    all_measures: pl.DataFrame, account_id: str, day: dt.date, compared: bool
) -> str:
    """Re-derive top_drivers in Python from health_measures."""

    def contributions(date):
        rows = all_measures.filter(pl.col("account_id") == account_id, pl.col("as_of_date") == date)
        return dict(zip(rows["measure"], rows["contribution"], strict=True)), dict(
            zip(rows["measure"], rows["effective_weight"], strict=True)
        )

    now, full = contributions(day)
    if compared:
        before, _ = contributions(day - dt.timedelta(days=30))
        changes = {m: now.get(m, 0) - before.get(m, 0) for m in now.keys() | before.keys()}
        order = sorted(changes, key=lambda m: (-round(abs(changes[m]), 6), m))
    else:
        changes = {m: now[m] - full[m] for m in now}
        order = sorted(changes, key=lambda m: (round(changes[m], 6), m))
    return ", ".join(f"{m} {changes[m]:+.1f} pts" for m in order[:3])


def test_top_drivers_compare_contributions_with_30_days_before(histories):
    connection = histories["forward"]
    rows = health(connection).filter(pl.col("as_of_date").is_in([END, DATES[1]]))
    all_measures = measures(connection)
    earlier = set(health(connection).filter(pl.col("as_of_date") == DATES[1])["account_id"])
    checked = 0
    for row in rows.iter_rows(named=True):
        compared = row["as_of_date"] == END and row["account_id"] in earlier
        assert row["top_drivers"] == expected_drivers(
            all_measures, row["account_id"], row["as_of_date"], compared
        )
        checked += compared
    assert checked > 10
