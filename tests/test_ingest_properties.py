"""Property: for any file with any faults, rows read = rows loaded + rows quarantined."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
from conftest import D1, SETTINGS, rows_of, write_delivery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sql
from assets.ingest import load_dataset, run_checks
from schemas.extracts import DATASETS

FAULTS = {
    "none": {},
    "bad_enum": {"priority": "p0"},
    "bad_integer": {"csat_score": "five"},
    "out_of_range": {"csat_score": "9"},
    "missing_required": {"status": None},
    "bad_timestamp": {"created_at": "2026-02-30T10:00:00"},
    "resolved_before_created": {"resolved_at": "2020-01-01T00:00:00Z"},
    "bad_boolean": {"escalated": "sometimes"},
}
FORMATS = ["csv", "csv.gz", "parquet", "jsonl", "jsonl.gz"]

ticket = st.tuples(st.sampled_from(sorted(FAULTS)), st.integers(0, 40))
files = st.lists(
    st.tuples(st.lists(ticket, min_size=0, max_size=25), st.sampled_from(FORMATS)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=files, corrupt=st.booleans())
def test_rows_in_equal_rows_loaded_plus_rows_quarantined(files, corrupt):
    with tempfile.TemporaryDirectory() as tmp:
        extracts = Path(tmp) / "extracts"
        written = 0
        for number, (tickets, fmt) in enumerate(files):
            rows = []
            for fault, key in tickets:
                row = rows_of("support_tickets", 1, ticket_id=f"T{key}")[0]
                row.update(FAULTS[fault])
                rows.append(row)
            if rows:
                write_delivery(extracts, "support_tickets", D1, rows, fmt=fmt, name=f"f{number}")
                written += len(rows)
        if corrupt:
            folder = extracts / "support_tickets" / D1.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "corrupt.csv").write_text('ticket_id,"unterminated\n1,2\n')
        connection = duckdb.connect(str(Path(tmp) / "work.duckdb"))
        sql.run(connection, sql.load("warehouse_schema"))
        load_dataset(connection, DATASETS["support_tickets"], extracts, D1, "run", SETTINGS)

        loaded = sql.scalar(connection, "SELECT count(*) FROM raw.support_tickets")
        quarantined = sql.scalar(connection, "SELECT count(*) FROM quarantine.rejected_rows")
        read = sql.scalar(connection, "SELECT coalesce(sum(rows_read), 0) FROM meta.deliveries")
        assert read == written
        assert loaded + quarantined == written
        rejected_files = sql.scalar(connection, "SELECT count(*) FROM quarantine.rejected_files")
        assert rejected_files == int(corrupt)
        checks = {
            c.name: c.passed
            for c in run_checks(connection, DATASETS["support_tickets"], "run", SETTINGS)
        }
        assert checks["rows_balance"] and checks["key_unique"]
        connection.close()
