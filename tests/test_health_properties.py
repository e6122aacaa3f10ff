"""Properties of the scores on generated books: every score within 0..100, dimension scores
adding up to it, completeness within 0..1, and one account's data never moving another
account's measures (except depth_of_use, which ranks accounts against each other). And
on given measure values: the same scores whatever order the rows come in."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest
from conftest import VALID_ROWS, load_all, score, table, work_database, write_delivery
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import sql
from assets.health import config_frames, create_config_tables
from pipelines.demo_book import BookShape, generate_book
from pipelines.scorecards import scorecards_by_segment

END = dt.date(2026, 6, 30)
BY_SEGMENT = {"smb": "four_component"}  # both scorecards in one run


def invariant_breaches(connection) -> pl.DataFrame:
    return table(
        connection,
        """
        WITH measure_totals AS (
            SELECT account_id, sum(contribution) AS contributions,
                   bool_and(value IS NULL OR value BETWEEN 0 AND 1) AS values_in_range
            FROM mart.health_measures GROUP BY account_id)
        SELECT h.account_id, h.health_score, h.data_completeness, m.contributions
        FROM mart.account_health AS h JOIN measure_totals AS m USING (account_id)
        WHERE NOT (h.health_score BETWEEN 0 AND 100)
           OR NOT (h.data_completeness BETWEEN 0 AND 1)
           OR abs(coalesce(h.usage_score, 0) + coalesce(h.engagement_score, 0)
                  + coalesce(h.support_score, 0) + coalesce(h.satisfaction_score, 0)
                  + coalesce(h.financial_score, 0) + coalesce(h.product_engagement_score, 0)
                  + coalesce(h.relationship_score, 0) + coalesce(h.sentiment_score, 0)
                  - h.health_score) > 0.05 + 1e-9
           OR abs(m.contributions - h.health_score) > 0.05 + 1e-9
           OR NOT m.values_in_range
           OR h.tier IS NULL""",
    )


# Each example loads and scores a whole book (about a second): few examples, no shrinking.
SLOW = {
    "max_examples": 6,
    "deadline": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}


@settings(**SLOW)
@given(
    seed=st.integers(0, 10_000),
    accounts=st.integers(2, 30),
    days=st.integers(7, 60),
    scorecard=st.sampled_from(["five_dimension", "four_component"]),
)
# A day on which no account is live: the generator once wrote an Object column then.
@example(seed=5652, accounts=3, days=39, scorecard="five_dimension")
def test_scores_are_bounded_and_add_up(seed, accounts, days, scorecard):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_book(
            root / "extracts", BookShape(accounts=accounts, days=days, seed=seed, last_day=END)
        )
        connection = work_database(root / "work.duckdb")
        load_all(connection, root / "extracts", END)
        score(connection, END, scorecard)
        assert table(connection, "SELECT count(*) FROM mart.account_health").item() > 0
        assert invariant_breaches(connection).is_empty()
        connection.close()


@pytest.fixture(scope="module")
def base_book(tmp_path_factory):
    """A small book scored once; each example copies it and adds one account."""
    root = tmp_path_factory.mktemp("base")
    generate_book(root / "extracts", BookShape(accounts=12, days=40, seed=3, last_day=END))
    connection = work_database(root / "work.duckdb")
    load_all(connection, root / "extracts", END)
    score(connection, END, by_segment=BY_SEGMENT)
    connection.close()
    return root


def newest_folder(extracts: Path, dataset: str) -> dt.date:
    return max(
        dt.date.fromisoformat(p.name)
        for p in (extracts / dataset).iterdir()
        if p.name <= END.isoformat()
    )


def other_measures(connection) -> pl.DataFrame:
    return table(
        connection,
        """
        SELECT account_id, measure, raw_value, value, band FROM mart.health_measures
        WHERE account_id <> 'NEW' AND measure <> 'depth_of_use' ORDER BY ALL""",
    )


new_account = st.fixed_dictionaries(
    {
        "seats": st.integers(1, 40),
        "arr": st.integers(0, 300_000),
        "event_days": st.lists(st.integers(0, 35), max_size=30),
        "event_name": st.sampled_from(["login", "reports", "dashboards", "exports"]),
        "tickets": st.lists(
            st.tuples(
                st.integers(0, 100),
                st.sampled_from(["low", "normal", "urgent"]),
                st.sampled_from(["positive", "neutral", "negative"]),
            ),
            max_size=5,
        ),
        "nps": st.lists(st.integers(0, 10), max_size=4),
        "mrr": st.integers(1, 20_000),  # 0 would churn it: churned accounts are not scored
        "overdue_days": st.one_of(st.none(), st.integers(1, 90)),
    }
)


@settings(**SLOW)
@given(extra=new_account)
def test_one_accounts_data_never_moves_another_accounts_measures(base_book, extra):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "book"
        shutil.copytree(base_book, root)
        connection = work_database(root / "work.duckdb")
        before = other_measures(connection)
        extracts = root / "extracts"

        def add(dataset: str, rows: list[dict]) -> None:
            if rows:
                write_delivery(
                    extracts, dataset, newest_folder(extracts, dataset), rows, name="new_account"
                )

        def day(days_ago: int) -> dt.date:
            return END - dt.timedelta(days=days_ago)

        base = {name: {**VALID_ROWS[name], "account_id": "NEW"} for name in VALID_ROWS}
        add(
            "crm_accounts",
            [
                {
                    **base["crm_accounts"],
                    "licensed_seats": str(extra["seats"]),
                    "arr": str(extra["arr"]),
                }
            ],
        )
        add(
            "product_events",
            [
                {
                    **base["product_events"],
                    "event_id": f"NEW-E{n}",
                    "user_id": f"NEW-U{n % 3}",
                    "event_name": extra["event_name"],
                    "occurred_at": f"{day(days_ago)}T10:00:00Z",
                }
                for n, days_ago in enumerate(extra["event_days"])
            ],
        )
        add(
            "support_tickets",
            [
                {
                    **base["support_tickets"],
                    "ticket_id": f"NEW-T{n}",
                    "priority": priority,
                    "sentiment": sentiment,
                    "created_at": f"{day(days_ago)}T10:00:00Z",
                    "resolved_at": f"{day(days_ago)}T11:00:00Z",
                }
                for n, (days_ago, priority, sentiment) in enumerate(extra["tickets"])
            ],
        )
        add(
            "surveys",
            [
                {
                    **base["surveys"],
                    "response_id": f"NEW-R{n}",
                    "contact_id": None,
                    "score": str(nps),
                    "responded_at": f"{day(n)}T10:00:00Z",
                }
                for n, nps in enumerate(extra["nps"])
            ],
        )
        add(
            "billing_subscriptions",
            [
                {
                    **base["billing_subscriptions"],
                    "subscription_id": "NEW-S1",
                    "mrr": str(extra["mrr"]),
                }
            ],
        )
        if extra["overdue_days"]:
            add(
                "billing_invoices",
                [
                    {
                        **base["billing_invoices"],
                        "invoice_id": "NEW-I1",
                        "issued_date": str(day(extra["overdue_days"] + 30)),
                        "due_date": str(day(extra["overdue_days"])),
                    }
                ],
            )
        load_all(connection, extracts, END)
        score(connection, END, by_segment=BY_SEGMENT)
        assert (
            table(
                connection, "SELECT count(*) FROM mart.account_health WHERE account_id = 'NEW'"
            ).item()
            == 1
        )
        assert_frame_equal(other_measures(connection), before)
        connection.close()


def five_dimension_scores(path: Path, measure_values: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """sql/health_scores.sql alone, over given measure values of five_dimension accounts:
    mart.account_health, and how many accounts' rounded score depends on the order their
    contributions are added."""
    connection = work_database(path)
    create_config_tables(connection, config_frames(scorecards_by_segment("five_dimension", {})))
    connection.register("given_values", measure_values.to_arrow())
    connection.execute("CREATE TEMP TABLE measure_values AS SELECT * FROM given_values")
    connection.execute(
        """
        CREATE TEMP TABLE scored_accounts AS
        SELECT DISTINCT account_id, account_id AS account_name, 'smb' AS segment,
               NULL AS csm_owner, 0.0 AS arr, 'five_dimension' AS scorecard
        FROM measure_values"""
    )
    sql.run(connection, sql.load("health_scores"), {"as_of": END})
    scores = table(connection, "SELECT * FROM mart.account_health ORDER BY account_id")
    # Each account's contributions added one by one, in measure order and in reverse.
    order_sensitive = table(
        connection,
        """
        SELECT count(*) FROM (
            SELECT account_id,
                   list_reduce(list(contribution ORDER BY measure),
                               lambda a, b: a + b) AS forwards,
                   list_reduce(list(contribution ORDER BY measure DESC),
                               lambda a, b: a + b) AS backwards
            FROM mart.health_measures GROUP BY account_id)
        WHERE round(forwards, 1) <> round(backwards, 1)""",
    ).item()
    connection.close()
    return scores, order_sensitive


def test_a_score_does_not_depend_on_the_order_its_measures_are_added(tmp_path):
    """Scores at x.x5 once rounded up or down from one run to the next, as threads met
    the rows in another order: the same measure values give the same scores in any order."""
    measures = [
        measure for _, measure, *_ in scorecards_by_segment("five_dimension", {})["smb"].measures()
    ]
    accounts = 3_000
    # Values on a grid of 0.01: many accounts' contributions add up to exactly x.x5.
    values = (
        pl.DataFrame({"account_id": [f"A{n:05d}" for n in range(accounts)]})
        .join(pl.DataFrame({"measure": measures}), how="cross")
        .with_columns(
            value=(pl.int_range(pl.len()).hash(seed=7) % 101 / 100).cast(pl.Float64),
            scorecard=pl.lit("five_dimension"),
        )
        .select("scorecard", "account_id", "measure", raw_value="value", value="value")
    )
    forwards, sensitive = five_dimension_scores(
        tmp_path / "forwards.duckdb", values.sort("account_id", "measure")
    )
    backwards, _ = five_dimension_scores(
        tmp_path / "backwards.duckdb",
        values.sort("account_id", "measure", descending=True),
    )
    assert sensitive > 0  # the values do reach the order-dependent cases
    assert_frame_equal(forwards, backwards)


def test_an_accounts_mrr_does_not_depend_on_the_order_of_its_subscriptions(tmp_path):
    """0.1 + 0.2 + 0.3 added as DOUBLEs is 0.6000000000000001 in one order and 0.6 in the
    other: an account's ARR (12 x MRR) could change when a rerun's threads met its
    subscriptions in another order."""
    mrr = {}
    for order in ("ASC", "DESC"):
        connection = work_database(tmp_path / f"{order}.duckdb")
        connection.execute("SET threads = 1")
        for name in ("surveys", "crm_activities"):  # read by the other macros of the file
            connection.execute(
                f"CREATE TABLE core.{name} (account_id VARCHAR, contact_id VARCHAR, "
                "survey_type VARCHAR, responded_at TIMESTAMPTZ, response_id VARCHAR, "
                "score DOUBLE, activity_type VARCHAR, occurred_at TIMESTAMPTZ)"
            )
        connection.execute(
            f"""
            CREATE TABLE core.billing_subscriptions AS
            SELECT 'A1' AS account_id, DATE '2026-01-01' AS start_date,
                   CAST(NULL AS DATE) AS end_date, CAST(mrr_usd AS DOUBLE) AS mrr_usd
            FROM (VALUES (0.1), (0.2), (0.3)) AS subscription(mrr_usd)
            ORDER BY mrr_usd {order}"""
        )
        sql.run(connection, sql.load("core_macros"))
        mrr[order] = table(connection, "SELECT mrr FROM mrr_on(DATE '2026-06-30')").item()
        connection.close()
    assert mrr == {"ASC": 0.6, "DESC": 0.6}
