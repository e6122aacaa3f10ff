"""The core rows of incremental datasets brought forward from the date before
(assets/core.py: previous_core_date) equal those built from every raw row."""

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

from assets.core import build_core, previous_core_date
from assets.ingest import load_dataset
from schemas.extracts import DATASETS

DAYS = [D1, D2, D3]
TICKETS = DATASETS["support_tickets"]
INVOICES = DATASETS["billing_invoices"]

VERSIONS = st.lists(
    st.tuples(
        st.integers(0, 2),  # delivery: D1, D2 or D3
        st.sampled_from(["support_tickets", "billing_invoices"]),
        st.integers(0, 3),  # key: a small pool, so keys get new versions
        st.sampled_from(["A1", "A2", "X"]),  # X: unknown to the CRM until known_from
        st.sampled_from(["USD", "EUR", "GBP"]),  # GBP: a rate only once fx_from delivers it
        st.sampled_from(["open", "solved"]),
    ),
    min_size=1,
    max_size=20,
)


def version(dataset: str, key: int, account: str, currency: str, status: str) -> dict:
    if dataset == "support_tickets":
        return rows_of(dataset, 1, ticket_id=f"T{key}", account_id=account, status=status)[0]
    paid = {"paid_date": "2026-02-10", "status": "paid"} if status == "solved" else {}
    return rows_of(dataset, 1, invoice_id=f"I{key}", account_id=account, currency=currency, **paid)[
        0
    ]


def core_state(connection, as_of: dt.date) -> dict[str, pl.DataFrame]:
    state = {}
    for dataset in (TICKETS, INVOICES):
        state[dataset.name] = table(connection, f"SELECT * FROM core.{dataset.name} ORDER BY ALL")
        state[f"rejected {dataset.name}"] = table(
            connection,
            "SELECT * EXCLUDE (run_id) FROM quarantine.rejected_rows "
            "WHERE stage = 'core' AND dataset = ? AND as_of_date = ? ORDER BY ALL",
            dataset.name,
            as_of,
        )
    return state


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    versions=VERSIONS,
    known_from=st.sampled_from([None, 1, 2]),
    fx_from=st.sampled_from([None, 1, 2]),
)
def test_rows_brought_forward_equal_rows_built_from_every_raw_row(
    tmp_path_factory, versions, known_from, fx_from
):
    """A nightly backfill of three dates: new versions of keys, accounts the CRM
    delivers from a later day on (their rejected rows become valid), a currency whose
    rate arrives later (then the rows are built afresh)."""
    root = tmp_path_factory.mktemp("book")
    extracts = root / "extracts"
    crm = rows_of("crm_accounts", 1) + rows_of("crm_accounts", 1, account_id="A2")
    write_delivery(extracts, "crm_accounts", D1, crm)
    if known_from is not None:
        crm_x = crm + rows_of("crm_accounts", 1, account_id="X")
        write_delivery(extracts, "crm_accounts", DAYS[known_from], crm_x)
    write_delivery(extracts, "fx_rates", D1, rows_of("fx_rates", 1))
    if fx_from is not None:
        write_delivery(extracts, "fx_rates", DAYS[fx_from], rows_of("fx_rates", 2))
    for index, day in enumerate(DAYS):
        for dataset in (TICKETS.name, INVOICES.name):
            rows = {}
            for delivery, name, key, account, currency, status in versions:
                if delivery == index and name == dataset:
                    rows[key] = version(dataset, key, account, currency, status)
            if rows:
                write_delivery(extracts, dataset, day, list(rows.values()))
    connection = work_database(root / "work.duckdb")
    for day in DAYS:
        load_all(connection, extracts, day, run_id=f"run-{day}")
        brought_forward = core_state(connection, day)
        build_core(connection, day, f"again-{day}")  # the same date: from every raw row
        for name, frame in core_state(connection, day).items():
            assert_frame_equal(brought_forward[name], frame), name
    connection.close()
    shutil.rmtree(root)


def test_rows_are_brought_forward_only_while_what_they_came_from_stands(extracts, connection):
    write_delivery(extracts, "crm_accounts", D1, rows_of("crm_accounts"))
    write_delivery(extracts, "fx_rates", D1, rows_of("fx_rates"))
    for dataset in ("support_tickets", "billing_invoices"):
        write_delivery(extracts, dataset, D1, rows_of(dataset))
    load_all(connection, extracts, D1)
    assert previous_core_date(connection, TICKETS, D2) == D1
    assert previous_core_date(connection, INVOICES, D2) == D1
    assert previous_core_date(connection, TICKETS, D1) is None  # the same date
    # New rates on D2: money is converted afresh.
    write_delivery(extracts, "fx_rates", D2, rows_of("fx_rates", 2))
    load_dataset(connection, DATASETS["fx_rates"], extracts, D2, "run-2", SETTINGS)
    assert previous_core_date(connection, INVOICES, D2) is None
    assert previous_core_date(connection, TICKETS, D2) == D1
    # The D1 tickets delivered again with other content: read every raw row.
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets", 2))
    load_dataset(connection, TICKETS, extracts, D2, "run-2", SETTINGS)
    assert previous_core_date(connection, TICKETS, D2) is None
    load_all(connection, extracts, D2, run_id="run-2")
    assert table(connection, "SELECT ticket_id FROM core.support_tickets ORDER BY 1").rows() == [
        ("T1",),
        ("T1-1",),
    ]
    assert previous_core_date(connection, TICKETS, D3) == D2


def test_a_rejected_row_that_becomes_valid_wins_only_where_it_is_the_newest(extracts, connection):
    """T1 came first for an account the CRM did not know, then for a known one; T2 only
    for the unknown account. Once the CRM knows the account, T2 comes in from the first
    delivery and T1 keeps its newer version."""
    crm = rows_of("crm_accounts")
    write_delivery(extracts, "crm_accounts", D1, crm)
    write_delivery(extracts, "crm_accounts", D3, crm + rows_of("crm_accounts", account_id="X"))
    write_delivery(
        extracts,
        "support_tickets",
        D1,
        [version("support_tickets", key, "X", "USD", "open") for key in (1, 2)],
    )
    write_delivery(
        extracts, "support_tickets", D2, [version("support_tickets", 1, "A1", "USD", "solved")]
    )
    for day in (D1, D2):
        load_all(connection, extracts, day, run_id=f"run-{day}")
    for dataset in DATASETS.values():
        load_dataset(connection, dataset, extracts, D3, "run-3", SETTINGS)
    assert previous_core_date(connection, TICKETS, D3) == D2
    build_core(connection, D3, "run-3")
    assert table(
        connection,
        "SELECT ticket_id, account_id, _delivery_date FROM core.support_tickets ORDER BY 1",
    ).rows() == [("T1", "A1", D2), ("T2", "X", D1)]
