"""MRR movements and retention, with every figure worked by hand from the definitions in
the README ("Revenue and logo retention")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import VALID_ROWS, load_all, rows_of, table, write_delivery
from polars.testing import assert_frame_equal

from assets.retention import build_retention, retention_problems
from pipelines.cli import main
from pipelines.settings import RetentionTargets

AS_OF = dt.date(2026, 4, 30)
DATA = Path(__file__).parent / "data" / "mrr_playbook"


def write_book(
    root: Path,
    subscriptions: list[tuple],
    owners: dict[str, str] | None = None,
    day: dt.date = AS_OF,
    fx: dict[str, str] | None = None,
) -> Path:
    """subscriptions: (account_id, start, end or None, mrr[, currency]); every account
    gets a CRM row owned by owners[account] (csm_1 by default)."""
    owners = owners or {}
    accounts = sorted({row[0] for row in subscriptions} | set(owners))
    write_delivery(
        root,
        "crm_accounts",
        day,
        [
            dict(
                VALID_ROWS["crm_accounts"],
                account_id=account,
                csm_owner=owners.get(account, "csm_1"),
            )
            for account in accounts
        ],
    )
    write_delivery(
        root,
        "billing_subscriptions",
        day,
        [
            dict(
                VALID_ROWS["billing_subscriptions"],
                subscription_id=f"S{n}",
                account_id=row[0],
                start_date=row[1],
                end_date=row[2],
                mrr=str(row[3]),
                currency=row[4] if len(row) > 4 else "USD",
            )
            for n, row in enumerate(subscriptions)
        ],
    )
    if fx:
        write_delivery(
            root,
            "fx_rates",
            day,
            [{"currency": currency, "rate_to_usd": rate} for currency, rate in fx.items()],
        )
    return root


def run_book(connection, root: Path, as_of: dt.date = AS_OF) -> None:
    load_all(connection, root, as_of)
    assert build_retention(connection, as_of, RetentionTargets())
    assert retention_problems(connection).is_empty()


def movements(connection, account_id: str) -> list[tuple]:
    return connection.execute(
        "SELECT CAST(month AS VARCHAR), mrr, previous_mrr, movement FROM mart.mrr_movements "
        "WHERE account_id = ? ORDER BY month",
        [account_id],
    ).fetchall()


def period(
    connection, grain: str, start: str, group_by: str = "all", group_value: str = "all"
) -> dict:
    rows = table(
        connection,
        "SELECT * FROM mart.retention WHERE grain = ? AND "
        "period_start = ? AND group_by = ? AND group_value = ?",
        grain,
        dt.date.fromisoformat(start),
        group_by,
        group_value,
    ).to_dicts()
    assert len(rows) == 1, (grain, start, group_by, group_value, rows)
    return rows[0]


# --- the public worked example ------------------------------------------------------------


@pytest.fixture
def dagster_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(tmp_path / "dagster"))
    for name in ("CSHEALTH_EXTRACTS_DIR", "CSHEALTH_WAREHOUSE", "CSHEALTH_WORK_DB"):
        monkeypatch.delenv(name, raising=False)


def test_the_mrr_playbook_example_row_for_row(tmp_path, dagster_storage):
    """121 subscription periods of 55 customers (2017-09 to 2020-01), run through
    `cshealth run` for 2020-06-30: every one of the 417 expected rows, and no other."""
    as_of = dt.date(2020, 6, 30)
    periods = pl.read_csv(DATA / "subscription_periods.csv", infer_schema=False)
    root = write_book(
        tmp_path / "extracts",
        [
            (row["customer_id"], row["start_date"], row["end_date"], row["monthly_amount"])
            for row in periods.iter_rows(named=True)
        ],
        day=as_of,
    )
    warehouse = tmp_path / "warehouse.duckdb"
    assert (
        main(
            [
                "run",
                "--as-of",
                as_of.isoformat(),
                "--extracts",
                str(root),
                "--warehouse",
                str(warehouse),
            ]
        )
        == 0
    )

    expected = pl.read_csv(
        DATA / "expected_mrr_movements.csv",
        try_parse_dates=True,
        schema_overrides={"account_id": pl.String, "mrr": pl.Float64, "previous_mrr": pl.Float64},
    )
    with duckdb.connect(str(warehouse), read_only=True) as published:
        found = published.sql(
            "SELECT month, account_id, mrr, previous_mrr, movement FROM mart.mrr_movements"
        ).pl()
        assert published.sql("SELECT DISTINCT as_of_date FROM mart.mrr_movements").fetchall() == [
            (as_of,)
        ]
    assert expected.height == 417
    assert_frame_equal(found.sort("account_id", "month"), expected.sort("account_id", "month"))


# --- movements ----------------------------------------------------------------------------


def test_months_run_from_first_activity_to_the_month_after_the_last(connection, extracts):
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("A", "2026-01-01", "2026-03-01", 100),  # Jan, Feb; March shows the churn
                ("B", "2026-01-15", None, 50),  # starts mid-month: counts from February
                ("C", "2026-01-01", "2026-02-01", 70),  # a gap of two months, then back
                ("C", "2026-04-01", None, 80),
                ("D", "2026-05-01", None, 90),  # starts after the as-of date's month: no rows
                ("E", "2026-02-10", "2026-02-20", 60),  # never spans a first of month: no rows
            ],
        ),
    )
    assert movements(connection, "A") == [
        ("2026-01-01", 100, 0, "new"),
        ("2026-02-01", 100, 100, None),
        ("2026-03-01", 0, 100, "churn"),
    ]
    assert movements(connection, "B") == [
        ("2026-02-01", 50, 0, "new"),
        ("2026-03-01", 50, 50, None),
        ("2026-04-01", 50, 50, None),
    ]
    assert movements(connection, "C") == [
        ("2026-01-01", 70, 0, "new"),
        ("2026-02-01", 0, 70, "churn"),
        ("2026-03-01", 0, 0, None),
        ("2026-04-01", 80, 0, "reactivation"),
    ]
    assert movements(connection, "D") == movements(connection, "E") == []


def test_two_subscriptions_of_one_account_add_up(connection, extracts):
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("A", "2026-01-01", None, 100),
                ("A", "2026-02-01", "2026-04-01", 40),  # add-on for Feb and March
                ("A", "2026-03-01", None, 0),  # a free product changes nothing
            ],
        ),
    )
    assert movements(connection, "A") == [
        ("2026-01-01", 100, 0, "new"),
        ("2026-02-01", 140, 100, "expansion"),
        ("2026-03-01", 140, 140, None),
        ("2026-04-01", 100, 140, "contraction"),
    ]
    assert sql_sum(connection, "mrr_change") == 100  # movements add up to today's MRR


def sql_sum(connection, column: str) -> float:
    return connection.execute(f"SELECT sum({column}) FROM mart.mrr_movements").fetchone()[0]


# --- retention over a period ---------------------------------------------------------------


def test_the_worked_example(connection, extracts):
    """Cohort at s: A 1,000, B 500, C 300. At e: A 1,200, B 0, C 250, and a new D 400."""
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("A", "2026-01-01", "2026-02-01", 1000),
                ("A", "2026-02-01", None, 1200),
                ("B", "2026-01-01", "2026-02-01", 500),
                ("C", "2026-01-01", "2026-02-01", 300),
                ("C", "2026-02-01", None, 250),
                ("D", "2026-02-01", None, 400),
            ],
            owners={"A": "csm_1", "B": "csm_1", "C": "csm_2", "D": "csm_2"},
        ),
    )
    january = period(connection, "month", "2026-01-01")
    assert january["period_end"] == dt.date(2026, 2, 1)
    assert january["starting_mrr"] == 1800
    assert january["grr"] == pytest.approx((1000 + 0 + 250) / 1800)  # 69.4%
    assert january["nrr"] == pytest.approx((1200 + 0 + 250) / 1800)  # 80.6%
    assert (january["starting_logos"], january["retained_logos"]) == (3, 2)  # D in neither
    assert january["logo_retention"] == pytest.approx(2 / 3)
    assert (
        january["expansion_mrr"],
        january["contraction_mrr"],
        january["churned_mrr"],
        january["ending_mrr"],
    ) == (200, 50, 500, 1450)
    # Each CSM's cohort: csm_1 holds A and B, csm_2 holds C (D is new).
    first = period(connection, "month", "2026-01-01", "csm", "csm_1")
    assert first["grr"] == pytest.approx(1000 / 1500)
    assert first["nrr"] == pytest.approx(1200 / 1500)
    second = period(connection, "month", "2026-01-01", "csm", "csm_2")
    assert (second["starting_mrr"], second["ending_mrr"], second["starting_logos"]) == (300, 250, 1)


def test_a_cohort_with_expansion_contraction_and_churn(connection, extracts):
    """Start 100; over the quarter P +10, Q -10, R churns 10, S unchanged."""
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("P", "2026-01-01", "2026-02-01", 50),
                ("P", "2026-02-01", None, 60),
                ("Q", "2026-01-01", "2026-03-01", 30),
                ("Q", "2026-03-01", None, 20),
                ("R", "2026-01-01", "2026-02-01", 10),
                ("S", "2026-01-01", None, 10),
            ],
        ),
    )
    quarter = period(connection, "quarter", "2026-01-01")
    assert quarter["period_end"] == dt.date(2026, 4, 1)
    assert (
        quarter["starting_mrr"],
        quarter["expansion_mrr"],
        quarter["contraction_mrr"],
        quarter["churned_mrr"],
        quarter["ending_mrr"],
    ) == (100, 10, 10, 10, 90)
    assert quarter["grr"] == pytest.approx(0.80)
    assert quarter["nrr"] == pytest.approx(0.90)
    assert quarter["logo_retention"] == pytest.approx(3 / 4)


def test_a_reactivation_inside_a_period_counts_at_its_end(connection, extracts):
    """A leaves in February and is back in March: in the Q1 cohort, measured in April
    with its new MRR; in the movements, March is a reactivation, not new."""
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("A", "2026-01-01", "2026-02-01", 100),
                ("A", "2026-03-01", None, 120),
                ("B", "2026-01-01", None, 100),
            ],
        ),
    )
    quarter = period(connection, "quarter", "2026-01-01")
    assert quarter["nrr"] == pytest.approx((120 + 100) / 200)
    assert quarter["grr"] == pytest.approx((100 + 100) / 200)
    assert quarter["churned_mrr"] == 0 and quarter["retained_logos"] == 2
    assert [row[3] for row in movements(connection, "A")] == ["new", "churn", "reactivation", None]
    # A month cohort that meets A inactive at its start leaves it out.
    february = period(connection, "month", "2026-02-01")
    assert february["starting_logos"] == 1 and february["starting_mrr"] == 100


def test_a_new_account_inside_a_period_is_in_no_cohort(connection, extracts):
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("A", "2026-01-01", None, 100),
                ("N", "2026-02-01", None, 500),  # new in February
            ],
        ),
    )
    quarter = period(connection, "quarter", "2026-01-01")
    assert (quarter["starting_logos"], quarter["starting_mrr"], quarter["ending_mrr"]) == (
        1,
        100,
        100,
    )
    assert quarter["nrr"] == 1.0
    assert period(connection, "month", "2026-02-01")["starting_mrr"] == 600  # from then on


def test_segments_by_arr_at_period_start(connection, extracts):
    """ARR = 12 x MRR in whole dollars: 25,000 and 100,000 contracts billed monthly
    (2,083.33 and 8,333.33) are mid-market; just above 100,000 is enterprise."""
    run_book(
        connection,
        write_book(
            extracts,
            [
                ("M25", "2026-01-01", None, 2083.33),  # ARR 24,999.96 -> 25,000: mid_market
                ("M100", "2026-01-01", None, 8333.33),  # ARR 99,999.96 -> 100,000: mid_market
                ("E", "2026-01-01", None, 8333.42),  # ARR 100,001.04: enterprise
                ("S", "2026-01-01", None, 2083.00),  # ARR 24,996: smb
                ("G", "2026-01-01", "2026-03-01", 2000.00),  # smb in January ...
                ("G", "2026-03-01", None, 9000.00),  # ... enterprise from March (ARR 108,000)
            ],
        ),
    )
    logos = dict(
        connection.execute(
            "SELECT group_value, starting_logos FROM mart.retention WHERE grain = 'month' "
            "AND period_start = '2026-01-01' AND group_by = 'segment'"
        ).fetchall()
    )
    assert logos == {"mid_market": 2, "enterprise": 1, "smb": 2}
    march = dict(
        connection.execute(
            "SELECT group_value, starting_logos FROM mart.retention WHERE grain = 'month' "
            "AND period_start = '2026-03-01' AND group_by = 'segment'"
        ).fetchall()
    )
    assert march == {"mid_market": 2, "enterprise": 2, "smb": 1}
    # G's January cohort is smb: its expansion counts there, whatever it is now.
    smb = period(connection, "quarter", "2026-01-01", "segment", "smb")
    assert smb["expansion_mrr"] == pytest.approx(7000)


def test_money_in_another_currency_is_converted_before_any_sum(connection, extracts):
    root = write_book(
        extracts,
        [
            ("A", "2026-01-01", None, 1000, "EUR"),  # 1,000 EUR x 1.1 = 1,100 USD
            ("A", "2026-03-01", None, 100, "USD"),
            ("B", "2026-01-01", None, 500, "XXX"),  # no rate: quarantined, never summed
        ],
        fx={"EUR": "1.1"},
    )
    run_book(connection, root)
    assert movements(connection, "A")[0] == ("2026-01-01", pytest.approx(1100), 0, "new")
    assert movements(connection, "A")[2] == (
        "2026-03-01",
        pytest.approx(1200),
        pytest.approx(1100),
        "expansion",
    )
    assert movements(connection, "B") == []
    reasons = connection.execute(
        "SELECT reasons FROM quarantine.rejected_rows WHERE dataset = 'billing_subscriptions'"
    ).fetchall()
    assert reasons == [(["unknown_currency"],)]


def test_playbook_targets_fill_the_ttm_rows_only(connection, extracts):
    subscriptions = [
        ("S", "2025-01-01", None, 100),
        ("M", "2025-01-01", None, 3000),
        ("E", "2025-01-01", None, 10000),
    ]
    run_book(connection, write_book(extracts, subscriptions, owners={"S": "csm_1"}))
    targets = {
        (row[0], row[1]): row[2:]
        for row in connection.execute(
            "SELECT group_by, group_value, grr_target, nrr_target, logo_target FROM mart.retention "
            "WHERE grain = 'ttm' AND period_start = '2025-01-01'"
        ).fetchall()
    }
    assert targets == {
        ("all", "all"): (0.90, 1.10, 0.95),
        ("csm", "csm_1"): (0.90, 1.10, 0.95),
        ("segment", "enterprise"): (0.90, 1.10, 0.95),
        ("segment", "mid_market"): (0.85, 1.10, 0.95),
        ("segment", "smb"): (None, 1.10, 0.95),
    }
    others = connection.execute(
        "SELECT count(*) FROM mart.retention WHERE grain <> 'ttm' AND (grr_target IS NOT NULL "
        "OR nrr_target IS NOT NULL OR logo_target IS NOT NULL)"
    ).fetchone()[0]
    assert others == 0
    ends = connection.execute("SELECT max(period_end) FROM mart.retention").fetchone()[0]
    assert ends == dt.date(2026, 4, 1)  # no period ends after the as-of date's month


def test_latest_only_tables_keep_the_newest_date(connection, extracts):
    """A backfill of an older date leaves them alone; the same date again changes
    nothing; a newer date replaces them."""
    day = dt.date(2026, 3, 31)
    root = write_book(extracts, [("A", "2026-01-01", None, 100)], day=day)
    write_delivery(
        root,
        "billing_subscriptions",
        AS_OF,
        rows_of("billing_subscriptions", account_id="A", start_date="2026-01-01", mrr="150"),
    )
    run_book(connection, root, AS_OF)
    newest = table(connection, "SELECT * FROM mart.mrr_movements ORDER BY ALL")
    retention = table(connection, "SELECT * FROM mart.retention ORDER BY ALL")
    assert newest["as_of_date"].unique().to_list() == [AS_OF]

    load_all(connection, root, day)
    assert not build_retention(connection, day, RetentionTargets())
    assert_frame_equal(table(connection, "SELECT * FROM mart.mrr_movements ORDER BY ALL"), newest)

    run_book(connection, root, AS_OF)
    assert_frame_equal(table(connection, "SELECT * FROM mart.mrr_movements ORDER BY ALL"), newest)
    assert_frame_equal(table(connection, "SELECT * FROM mart.retention ORDER BY ALL"), retention)

    later = dt.date(2026, 5, 31)
    run_book(connection, root, later)
    assert table(connection, "SELECT DISTINCT as_of_date FROM mart.retention")[
        "as_of_date"
    ].to_list() == [later]
