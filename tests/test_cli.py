"""`cshealth run`: success, failures said in one line, blocked publishing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from conftest import D1, D2, rows_of, write_delivery

from pipelines.cli import main


@pytest.fixture(autouse=True)
def dagster_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("CSHEALTH_DAGSTER_STORAGE", str(tmp_path / "dagster"))
    for name in ("CSHEALTH_EXTRACTS_DIR", "CSHEALTH_WAREHOUSE", "CSHEALTH_WORK_DB"):
        monkeypatch.delenv(name, raising=False)


def book(root: Path, day: dt.date = D1, bad_tickets: int = 0) -> Path:
    write_delivery(root, "crm_accounts", day, rows_of("crm_accounts", 3))
    tickets = rows_of("support_tickets", 30)
    for ticket in tickets[:bad_tickets]:
        ticket["priority"] = "whenever"
    write_delivery(root, "support_tickets", day, tickets)
    return root


def run(extracts: Path, warehouse: Path, *extra: str) -> int:
    return main(["run", "--extracts", str(extracts), "--warehouse", str(warehouse), *extra])


def published(warehouse: Path, query: str):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(query).fetchall()


def test_a_run_publishes_and_records_itself(tmp_path, capsys):
    extracts, warehouse = book(tmp_path / "extracts"), tmp_path / "out" / "warehouse.duckdb"
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 0
    assert f"{D1}: published {warehouse}" in capsys.readouterr().out
    assert published(warehouse, "SELECT as_of_date, status FROM meta.runs") == [(D1, "success")]
    absent = published(warehouse, "SELECT absent_datasets FROM meta.runs")[0][0]
    assert "support_tickets" not in absent and "product_events" in absent
    assert (tmp_path / "out" / "warehouse.work.duckdb").exists()


def test_the_same_date_twice_gives_the_same_tables(tmp_path):
    extracts, warehouse = book(tmp_path / "extracts", bad_tickets=1), tmp_path / "w.duckdb"
    query = (
        "SELECT dataset, source_file, row_number, reasons FROM quarantine.rejected_rows "
        "ORDER BY ALL"
    )
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 0
    first = published(warehouse, query)
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 0
    assert published(warehouse, query) == first and len(first) == 1
    assert published(warehouse, "SELECT count(*) FROM meta.runs") == [(2,)]


def test_a_range_runs_every_day_and_dates_before_the_partitions_work(tmp_path, capsys):
    extracts = tmp_path / "extracts"
    write_delivery(extracts, "crm_accounts", dt.date(2017, 3, 1), rows_of("crm_accounts"))
    warehouse = tmp_path / "w.duckdb"
    assert run(extracts, warehouse, "--from", "2017-03-01", "--to", "2017-03-02") == 0
    assert published(warehouse, "SELECT as_of_date FROM meta.runs ORDER BY 1") == [
        (dt.date(2017, 3, 1),),
        (dt.date(2017, 3, 2),),
    ]


def test_a_blocked_check_leaves_the_published_file_as_it_was(tmp_path, capsys):
    extracts, warehouse = book(tmp_path / "extracts"), tmp_path / "w.duckdb"
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 0
    before = warehouse.read_bytes()
    book(extracts, day=D2, bad_tickets=3)  # 3 of 30 rows: 10% > 5%
    assert run(extracts, warehouse, "--as-of", D2.isoformat()) == 1
    err = capsys.readouterr().err
    assert (
        "check reject_ratio failed on raw/support_tickets: 10.0% of 30 rows rejected, limit: "
        "rejected share of rows read <= 0.05 (from 20 rows read); most often priority: must be "
        "one of"
    ) in err
    assert "(3 rows, e.g. " in err and "DagsterAssetCheckFailedError" not in err
    assert "Traceback" not in err
    assert warehouse.read_bytes() == before
    with duckdb.connect(str(tmp_path / "w.work.duckdb"), read_only=True) as work:
        status, message = work.execute(
            "SELECT status, message FROM meta.runs WHERE as_of_date = ?", [D2]
        ).fetchall()[0]
    assert status == "failed" and "reject_ratio" in message


def test_rows_of_unknown_accounts_count_in_the_reject_ratio(tmp_path, capsys):
    """They pass the load checks and are rejected by the core layer for the date: 3 of
    30 tickets (10% > 5%) block the publish all the same."""
    extracts, warehouse = book(tmp_path / "extracts"), tmp_path / "w.duckdb"
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 0
    before = warehouse.read_bytes()
    tickets = rows_of("support_tickets", 30)
    for ticket in tickets[:3]:
        ticket["account_id"] = "NOT-IN-CRM"
    write_delivery(extracts, "crm_accounts", D2, rows_of("crm_accounts", 3))
    write_delivery(extracts, "support_tickets", D2, tickets)
    assert run(extracts, warehouse, "--as-of", D2.isoformat()) == 1
    err = capsys.readouterr().err
    assert "check reject_ratio failed on core/support_tickets" in err
    assert ": 10.0% of 30 rows rejected" in err and "Traceback" not in err
    assert warehouse.read_bytes() == before


def test_a_crm_export_of_a_header_alone_is_not_published(tmp_path, capsys):
    """30 accounts, then a crm_accounts file with its header only: every account would
    leave the book; the snapshot_drop check blocks the publish and says why."""
    extracts, warehouse = tmp_path / "extracts", tmp_path / "w.duckdb"
    write_delivery(extracts, "crm_accounts", D1, rows_of("crm_accounts", 30))
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 0
    before = warehouse.read_bytes()
    folder = extracts / "crm_accounts" / D2.isoformat()
    folder.mkdir()
    (folder / "accounts.csv").write_text(",".join(rows_of("crm_accounts")[0]) + "\n")
    assert run(extracts, warehouse, "--as-of", D2.isoformat()) == 1
    err = capsys.readouterr().err
    assert (
        f"check snapshot_drop failed on raw/crm_accounts: the {D2} delivery has 0 rows, "
        f"100% fewer than the 30 of {D1}; limit max_snapshot_drop 0.5"
    ) in err
    assert "Traceback" not in err
    assert warehouse.read_bytes() == before
    # The date run again as it is: its delivery is loaded already, so it is published.
    assert run(extracts, warehouse, "--as-of", D2.isoformat()) == 0
    success = f"SELECT count(*) FROM meta.runs WHERE as_of_date = '{D2}' AND status = 'success'"
    assert published(warehouse, success) == [(1,)]


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    extracts = book(tmp_path / "extracts")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    cases = [
        (
            ["--extracts", str(tmp_path / "nowhere"), "--as-of", "2026-03-01"],
            f"extracts directory not found: {tmp_path / 'nowhere'}",
        ),
        (
            ["--extracts", str(tmp_path), "--as-of", "2026-03-01"],
            "no crm_accounts delivery dated on or before 2026-03-01 in "
            f"{tmp_path / 'crm_accounts'}",
        ),
        (
            ["--extracts", str(extracts), "--as-of", "2026-02-28"],
            "no crm_accounts delivery dated on or before 2026-02-28",
        ),
        (
            ["--extracts", str(extracts), "--as-of", "March 1st"],
            "--as-of: 'March 1st' is not a date (YYYY-MM-DD)",
        ),
        (
            [
                "--extracts",
                str(extracts),
                "--as-of",
                "2026-03-01",
                "--warehouse",
                str(not_a_folder / "w.duckdb"),
            ],
            f"cannot write the warehouse at {not_a_folder}",
        ),
        (
            ["--extracts", str(extracts), "--as-of", "2026-03-01", "--warehouse", str(tmp_path)],
            f"the warehouse path {tmp_path} is a folder, not a DuckDB file",
        ),
    ]
    for arguments, message in cases:
        assert main(["run", *arguments]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith("cshealth: error: ") and message in err


def test_the_working_database_cannot_be_the_published_file(tmp_path, capsys, monkeypatch):
    """Written in place, the published file would be half a run for its readers."""
    extracts = book(tmp_path / "extracts")
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("CSHEALTH_WORK_DB", str(warehouse))
    assert run(extracts, warehouse, "--as-of", D1.isoformat()) == 2
    err = capsys.readouterr().err
    assert "the working database and the published file are one file" in err
    assert not warehouse.exists()


def test_the_demo_replaces_only_a_demo_book(tmp_path, capsys):
    """`cshealth demo` replaces its extracts folder whole: a folder of real extracts, or a
    warehouse not built from a demo book, is refused and left as it was."""
    real = book(tmp_path / "real")
    before = sorted(path.relative_to(real) for path in real.rglob("*"))
    arguments = ["demo", "--accounts", "3", "--days", "7", "--no-run"]
    assert main([*arguments, "--extracts", str(real), "--warehouse", str(tmp_path / "w")]) == 2
    assert "holds files that are not a demo book" in capsys.readouterr().err
    assert sorted(path.relative_to(real) for path in real.rglob("*")) == before

    production = tmp_path / "production.duckdb"
    production.write_bytes(b"not touched")
    new_book = ["--extracts", str(tmp_path / "book"), "--warehouse", str(production)]
    assert main([*arguments, *new_book]) == 2
    assert "was not built from a demo book" in capsys.readouterr().err
    assert production.read_bytes() == b"not touched" and not (tmp_path / "book").exists()

    demo_book = ["--extracts", str(tmp_path / "book"), "--warehouse", str(tmp_path / "w")]
    assert main([*arguments, *demo_book]) == 0
    assert main([*arguments, *demo_book]) == 0  # an earlier book is replaced


def test_a_range_publishes_the_same_scores_as_each_day_run_alone(tmp_path):
    """`--from --to` against separate runs, last day first, into another warehouse."""
    from pipelines.demo_book import BookShape, generate_book

    shape = BookShape(accounts=8, days=10, seed=5, last_day=dt.date(2026, 5, 10))
    extracts = tmp_path / "extracts"
    generate_book(extracts, shape)
    first, last = shape.last_day - dt.timedelta(days=1), shape.last_day
    ranged, alone = tmp_path / "ranged.duckdb", tmp_path / "alone.duckdb"
    assert run(extracts, ranged, "--from", first.isoformat(), "--to", last.isoformat()) == 0
    assert run(extracts, alone, "--as-of", last.isoformat()) == 0
    assert run(extracts, alone, "--as-of", first.isoformat()) == 0
    query = "SELECT * FROM mart.account_health ORDER BY as_of_date, account_id"
    rows = published(ranged, query)
    assert {row[0] for row in rows} == {first, last}
    assert published(alone, query) == rows
    measures = "SELECT * FROM mart.health_measures ORDER BY ALL"
    assert published(alone, measures) == published(ranged, measures)
    # Latest-only tables: the older day, run after the newer one, left them alone.
    for latest_only in ("mrr_movements", "retention"):
        query = f"SELECT * FROM mart.{latest_only} ORDER BY ALL"
        rows = published(ranged, query)
        assert rows and {row[0] for row in rows} == {last}
        assert published(alone, query) == rows


def test_the_demo_example_queries_run_on_a_published_warehouse(tmp_path):
    from pipelines.demo import EXAMPLE_QUERIES
    from pipelines.demo_book import BookShape, generate_book

    shape = BookShape(accounts=12, days=10, seed=3, last_day=dt.date(2026, 5, 10))
    generate_book(tmp_path / "extracts", shape)
    warehouse = tmp_path / "w.duckdb"
    assert run(tmp_path / "extracts", warehouse, "--as-of", shape.last_day.isoformat()) == 0
    queries = [query for query in EXAMPLE_QUERIES.split(";") if query.strip()]
    assert len(queries) == 3
    for query in queries:
        assert published(warehouse, query), query
