"""Shared fixtures: tiny extract folders written by hand, and a working database."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from assets.core import build_core
from assets.health import build_health
from assets.ingest import LoadReport, load_dataset
from assets.operations import build_operations
from assets.retention import build_retention
from pipelines.operations import Operations, load_operations
from pipelines.resources import prepare_connection
from pipelines.scorecards import scorecards_by_segment
from pipelines.settings import PipelineSettings
from schemas.extracts import DATASETS

D1 = dt.date(2026, 3, 1)
D2 = dt.date(2026, 3, 2)
D3 = dt.date(2026, 3, 3)

# One valid row per dataset, as a CSV export would hold it (every value a string).
VALID_ROWS: dict[str, dict[str, str | None]] = {
    "crm_accounts": {
        "account_id": "A1",
        "account_name": "Acme",
        "industry": "retail",
        "csm_owner": "csm_1",
        "contract_start_date": "2025-01-01",
        "renewal_date": "2026-01-01",
        "licensed_seats": "10",
        "arr": "12000",
        "currency": "USD",
        "plan_tier": "starter",
        "executive_sponsor_identified": "true",
        "executive_sponsor_engaged": "false",
        "champion_present": "true",
        "renewal_budget_confirmed": "false",
    },
    "crm_contacts": {
        "contact_id": "C1",
        "account_id": "A1",
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "role": "champion",
        "is_active": "true",
    },
    "crm_activities": {
        "activity_id": "X1",
        "account_id": "A1",
        "contact_id": "C1",
        "activity_type": "meeting_held",
        "occurred_at": "2026-02-27T10:00:00Z",
    },
    "onboarding_milestones": {
        "account_id": "A1",
        "milestone": "kickoff",
        "due_date": "2025-01-05",
        "completed_date": "2025-01-04",
    },
    "product_users": {
        "user_id": "U1",
        "account_id": "A1",
        "created_at": "2025-01-02T09:00:00Z",
        "role": "admin",
    },
    "product_events": {
        "event_id": "E1",
        "occurred_at": "2026-02-28T12:00:00Z",
        "user_id": "U1",
        "account_id": "A1",
        "event_name": "login",
        "session_id": "S1",
        "duration_s": "3.5",
    },
    "feature_catalog": {"feature": "reports", "is_core": "true", "plan_tier": "starter"},
    "support_tickets": {
        "ticket_id": "T1",
        "account_id": "A1",
        "created_at": "2026-02-20T08:00:00Z",
        "resolved_at": "2026-02-21T08:00:00Z",
        "priority": "high",
        "status": "solved",
        "escalated": "false",
        "is_blocker": "false",
        "ticket_type": "question",
        "csat_score": "5",
        "sentiment": "positive",
    },
    "surveys": {
        "response_id": "R1",
        "account_id": "A1",
        "contact_id": "C1",
        "survey_type": "nps",
        "score": "9",
        "responded_at": "2026-02-25T10:00:00Z",
        "comment": "Great tool",
    },
    "billing_subscriptions": {
        "subscription_id": "S1",
        "account_id": "A1",
        "product": "platform",
        "start_date": "2025-01-01",
        "end_date": None,
        "mrr": "1000",
        "currency": "USD",
        "quantity": "10",
    },
    "billing_invoices": {
        "invoice_id": "I1",
        "account_id": "A1",
        "issued_date": "2026-02-01",
        "due_date": "2026-03-03",
        "paid_date": None,
        "amount": "1000",
        "currency": "USD",
        "status": "open",
    },
    "fx_rates": {"currency": "EUR", "rate_to_usd": "1.1"},
}

SETTINGS = PipelineSettings(plan_tiers=["starter", "professional", "enterprise"])


MILESTONES = [
    "kickoff",
    "provisioning",
    "success_criteria",
    "training_scheduled",
    "first_workflow_live",
    "users_trained",
    "first_value",
    "full_deployment",
    "day90_review",
]


def rows_of(dataset: str, count: int = 1, **changes) -> list[dict]:
    """`count` valid rows of a dataset with distinct keys, then `changes` applied."""
    key = DATASETS[dataset].key[-1]
    rows = []
    for n in range(count):
        row = dict(VALID_ROWS[dataset])
        if dataset == "onboarding_milestones":
            row[key] = MILESTONES[n]
        elif dataset == "fx_rates":
            row[key] = ["EUR", "GBP", "JPY", "CHF"][n]
        elif n:
            row[key] = f"{row[key]}-{n}"
        row.update(changes)
        rows.append(row)
    return rows


def write_delivery(
    root: Path, dataset: str, day: dt.date, rows: list[dict], fmt: str = "csv", name: str = "part"
) -> Path:
    """Write rows (string values) as one file of a delivery folder, in `fmt`."""
    folder = root / dataset / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{fmt}"
    frame = pl.DataFrame(rows, schema={column: pl.String for column in rows[0]})
    if fmt in ("csv", "csv.gz"):
        text = frame.write_csv()
        data = text.encode()
        path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    elif fmt == "parquet":
        typed = frame.select(pl.all())  # strings: the loader casts
        typed.write_parquet(path)
    else:
        lines = "".join(json.dumps(row) + "\n" for row in rows).encode()
        path.write_bytes(gzip.compress(lines) if fmt.endswith(".gz") else lines)
    return path


@pytest.fixture(autouse=True)
def no_stale_dagster_instance():
    """Entering a DagsterInstance sets a context variable (its state storage) that
    loading definitions reads. Instances entered and closed by one test can leave it
    pointing at a closed instance for the next; start each test without it."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield


@pytest.fixture
def extracts(tmp_path: Path) -> Path:
    root = tmp_path / "extracts"
    root.mkdir()
    return root


@pytest.fixture
def connection(tmp_path: Path):
    con = work_database(tmp_path / "work.duckdb")
    yield con
    con.close()


def work_database(path: Path) -> duckdb.DuckDBPyConnection:
    """A working database as a run opens it: UTC session, every schema in place."""
    connection = duckdb.connect(str(path))
    prepare_connection(connection)
    return connection


def load_all(
    connection,
    extracts: Path,
    as_of: dt.date,
    run_id: str = "run-1",
    settings: PipelineSettings = SETTINGS,
) -> dict[str, LoadReport]:
    """Ingest every dataset, then build core, as one run would."""
    reports = {
        name: load_dataset(connection, dataset, extracts, as_of, run_id, settings)
        for name, dataset in DATASETS.items()
    }
    build_core(connection, as_of, run_id)
    return reports


def score(
    connection,
    as_of: dt.date,
    scorecard: str = "five_dimension",
    by_segment: dict[str, str] | None = None,
) -> dict:
    """Score every account for `as_of` from the core layer, as the health asset does."""
    return build_health(connection, as_of, scorecards_by_segment(scorecard, by_segment or {}))


def operate(
    connection,
    as_of: dt.date,
    operations: Operations | None = None,
    scorecard: str = "five_dimension",
) -> bool:
    """Retention and the operations marts for `as_of`, once the date is scored, as their
    assets do. True when the latest-only work lists were refreshed."""
    build_retention(connection, as_of, SETTINGS.retention_targets)
    return build_operations(
        connection,
        as_of,
        operations or load_operations(),
        scorecards_by_segment(scorecard, {}),
        SETTINGS.plan_tiers,
    )


def run_day(
    connection,
    extracts: Path,
    as_of: dt.date,
    run_id: str = "run-1",
    operations: Operations | None = None,
    scorecard: str = "five_dimension",
) -> bool:
    """Everything a nightly run builds in the working database for `as_of`."""
    load_all(connection, extracts, as_of, run_id)
    score(connection, as_of, scorecard)
    return operate(connection, as_of, operations, scorecard)


def table(connection, query: str, *parameters) -> pl.DataFrame:
    return connection.sql(query, params=list(parameters) or None).pl()


def edited_config(shipped: Path, folder: Path, section: str, key: str, value) -> Path:
    """A copy of the shipped config file in `folder` with `section`.`key` set to
    `value` (a new section when `section` is not in the file)."""
    data = yaml.safe_load(shipped.read_text())
    data.setdefault(section, {})[key] = value
    path = folder / shipped.name
    path.write_text(yaml.safe_dump(data))
    return path
