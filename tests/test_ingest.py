"""Ingestion: formats, contract rules, quarantine, delivery semantics."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from conftest import D1, D2, D3, SETTINGS, load_all, rows_of, table, write_delivery

from assets.ingest import lake_dir, load_dataset, run_checks
from schemas.extracts import DATASETS

FORMATS = ["csv", "csv.gz", "parquet", "jsonl", "jsonl.gz"]


def with_account(extracts, day=D1, **changes):
    write_delivery(extracts, "crm_accounts", day, rows_of("crm_accounts", **changes))


def rejected(connection, dataset: str) -> pl.DataFrame:
    return table(
        connection,
        "SELECT * FROM quarantine.rejected_rows WHERE dataset = ? ORDER BY row_number",
        dataset,
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_each_dataset_loads_from_each_format(extracts, connection, dataset, fmt):
    if dataset != "crm_accounts":
        with_account(extracts)
    write_delivery(extracts, dataset, D1, rows_of(dataset, 2), fmt=fmt)
    load_all(connection, extracts, D1)
    assert rejected(connection, dataset).is_empty()
    assert table(connection, f"SELECT count(*) AS n FROM core.{dataset}")["n"][0] == 2


def test_typed_parquet_and_json_values_are_read_as_their_contract_types(extracts, connection):
    with_account(extracts)
    folder = extracts / "product_events" / D1.isoformat()
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "event_id": [1, 2],
            "occurred_at": [dt.datetime(2026, 2, 28, 12), None],
            "user_id": ["U1", "U1"],
            "account_id": ["A1", "A1"],
            "event_name": ["login", "x"],
            "duration_s": [1, 2],
        }
    ).with_columns(
        pl.col("occurred_at")
        .fill_null(dt.datetime(2026, 2, 28, 13))
        .dt.replace_time_zone("Europe/Berlin")
    ).write_parquet(folder / "e.parquet")
    tickets = extracts / "support_tickets" / D1.isoformat()
    tickets.mkdir(parents=True)
    ticket = {
        **rows_of("support_tickets")[0],
        "csat_score": 4,
        "escalated": True,
        "is_blocker": False,
    }
    (tickets / "t.jsonl").write_text(json.dumps(ticket) + "\n")
    load_all(connection, extracts, D1)
    events = table(
        connection,
        "SELECT event_id, occurred_at, duration_s FROM core.product_events ORDER BY event_id",
    )
    assert events["event_id"].to_list() == ["1", "2"]
    # 12:00 Berlin in winter is 11:00 UTC
    assert events["occurred_at"][0] == dt.datetime(2026, 2, 28, 11)
    assert events["duration_s"].to_list() == [1.0, 2.0]
    loaded = table(connection, "SELECT csat_score, escalated FROM core.support_tickets")
    assert loaded.row(0) == (4, True)


RULES = [
    ("crm_accounts", {"licensed_seats": "0"}, "licensed_seats: must be > 0"),
    ("crm_accounts", {"arr": "-1"}, "arr: must be >= 0"),
    (
        "billing_subscriptions",
        {"mrr": "inf"},
        "mrr: must be a finite amount below 1,000,000,000,000",
    ),
    (
        "billing_invoices",
        {"amount": "1e17"},
        "amount: must be a finite amount below 1,000,000,000,000",
    ),
    ("fx_rates", {"rate_to_usd": "inf"}, "rate_to_usd: must be a finite number"),
    (
        "crm_accounts",
        {"renewal_date": "2024-12-31"},
        "renewal_date: must be >= contract_start_date",
    ),
    (
        "crm_accounts",
        {"executive_sponsor_identified": "no", "executive_sponsor_engaged": "yes"},
        "executive_sponsor_engaged: implies executive_sponsor_identified",
    ),
    (
        "crm_accounts",
        {"contract_start_date": "2025-13-01"},
        "contract_start_date: not a valid date (YYYY-MM-DD)",
    ),
    ("crm_accounts", {"licensed_seats": "ten"}, "licensed_seats: not a valid integer"),
    ("crm_accounts", {"licensed_seats": "2.5"}, "licensed_seats: not a valid integer"),
    ("crm_accounts", {"arr": "1,000"}, "arr: not a valid decimal"),
    (
        "crm_accounts",
        {"champion_present": "maybe"},
        "champion_present: not a valid boolean (true/false, 1/0, yes/no)",
    ),
    ("crm_accounts", {"account_name": None}, "account_name: must not be empty"),
    (
        "crm_accounts",
        {"plan_tier": "platinum"},
        "plan_tier: must be one of starter, professional, enterprise",
    ),
    ("crm_accounts", {"currency": "US-D"}, "currency: must be an ISO-4217 code"),
    (
        "crm_contacts",
        {"role": "boss"},
        "role: must be one of executive_sponsor, champion, admin, user, other",
    ),
    ("crm_contacts", {"email": None}, "email: must not be empty"),
    (
        "crm_activities",
        {"activity_type": "webinar"},
        "activity_type: must be one of email_sent, "
        "email_reply, meeting_held, meeting_no_show, call, qbr, executive_meeting, "
        "training_session",
    ),
    (
        "crm_activities",
        {"occurred_at": "2026-03-02T00:00:00Z"},
        "occurred_at: must not be after the extract date",
    ),
    (
        "onboarding_milestones",
        {"milestone": "party"},
        "milestone: must be one of kickoff, "
        "provisioning, success_criteria, training_scheduled, first_workflow_live, users_trained, "
        "first_value, full_deployment, day90_review",
    ),
    (
        "product_users",
        {"created_at": "last tuesday"},
        "created_at: not a valid timestamp (ISO-8601)",
    ),
    ("product_events", {"duration_s": "-1"}, "duration_s: must be >= 0"),
    ("product_events", {"user_id": None}, "user_id: must not be empty"),
    (
        "feature_catalog",
        {"is_core": "perhaps"},
        "is_core: not a valid boolean (true/false, 1/0, yes/no)",
    ),
    (
        "support_tickets",
        {"resolved_at": "2026-02-19T08:00:00Z"},
        "resolved_at: must be >= created_at",
    ),
    ("support_tickets", {"priority": "p1"}, "priority: must be one of low, normal, high, urgent"),
    (
        "support_tickets",
        {"status": "done"},
        "status: must be one of new, open, pending, solved, closed",
    ),
    ("support_tickets", {"csat_score": "7"}, "csat_score: must be 1..5"),
    (
        "support_tickets",
        {"sentiment": "angry"},
        "sentiment: must be one of positive, neutral, negative",
    ),
    (
        "support_tickets",
        {"ticket_type": "bug"},
        "ticket_type: must be one of question, incident, problem, feature_request",
    ),
    ("surveys", {"score": "11"}, "score: must be 0..10 for nps, 1..5 for csat"),
    (
        "surveys",
        {"survey_type": "csat", "score": "0"},
        "score: must be 0..10 for nps, 1..5 for csat",
    ),
    ("surveys", {"survey_type": "ces"}, "survey_type: must be one of nps, csat"),
    ("billing_subscriptions", {"end_date": "2025-01-01"}, "end_date: must be > start_date"),
    ("billing_subscriptions", {"mrr": "-5"}, "mrr: must be >= 0"),
    ("billing_invoices", {"due_date": "2026-01-31"}, "due_date: must be >= issued_date"),
    (
        "billing_invoices",
        {"status": "late"},
        "status: must be one of draft, open, paid, void, uncollectible",
    ),
    ("fx_rates", {"rate_to_usd": "0"}, "rate_to_usd: must be > 0"),
]


@pytest.mark.parametrize(
    ("dataset", "changes", "reason"), RULES, ids=[f"{d}-{r.split(':')[0]}" for d, _, r in RULES]
)
def test_each_rule_quarantines_the_row_with_its_reason(
    extracts, connection, dataset, changes, reason
):
    if dataset != "crm_accounts":
        with_account(extracts)
    good, bad = rows_of(dataset, 2)
    bad.update(changes)
    write_delivery(extracts, dataset, D1, [good, bad])
    report = load_all(connection, extracts, D1)[dataset]
    quarantined = rejected(connection, dataset)
    assert quarantined["reasons"].to_list() == [[reason]]
    assert quarantined["row_number"].to_list() == [2]
    assert (
        json.loads(quarantined["record"][0])[DATASETS[dataset].key[-1]]
        == bad[DATASETS[dataset].key[-1]]
    )
    assert table(connection, f"SELECT count(*) AS n FROM raw.{dataset}")["n"][0] == 1
    checks = {
        c.name: c.passed for c in run_checks(connection, DATASETS[dataset], "run-1", SETTINGS)
    }
    assert checks["rows_balance"] and checks["key_unique"]
    assert report.loaded == [D1]


def test_every_rule_a_row_breaks_is_reported(extracts, connection):
    bad = rows_of(
        "crm_accounts",
        licensed_seats="0",
        arr="-3",
        renewal_date="2020-01-01",
        currency="usd!",
        champion_present="sometimes",
    )[0]
    write_delivery(extracts, "crm_accounts", D1, [bad])
    load_all(connection, extracts, D1)
    reasons = set(rejected(connection, "crm_accounts")["reasons"][0])
    assert reasons == {
        "licensed_seats: must be > 0",
        "arr: must be >= 0",
        "renewal_date: must be >= contract_start_date",
        "currency: must be an ISO-4217 code",
        "champion_present: not a valid boolean (true/false, 1/0, yes/no)",
    }


def test_a_key_twice_in_one_delivery_quarantines_both_copies(extracts, connection):
    with_account(extracts)
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets", 2), name="a")
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets", 1), name="b")
    load_all(connection, extracts, D1)
    quarantined = rejected(connection, "support_tickets")
    assert quarantined.height == 2
    assert quarantined["reasons"].to_list() == [["duplicate_key"], ["duplicate_key"]]
    assert table(connection, "SELECT ticket_id FROM core.support_tickets")[
        "ticket_id"
    ].to_list() == ["T1-1"]


def test_rows_of_unknown_or_quarantined_accounts_are_quarantined_for_the_as_of_date(
    extracts, connection
):
    accounts = rows_of("crm_accounts", 2)
    accounts[1]["licensed_seats"] = "-4"  # account A1-1 exists only as an invalid row
    write_delivery(extracts, "crm_accounts", D1, accounts)
    write_delivery(
        extracts,
        "product_events",
        D1,
        [
            *rows_of("product_events"),
            *rows_of("product_events", 1, event_id="E-unknown", account_id="NOPE"),
            *rows_of("product_events", 1, event_id="E-invalid", account_id="A1-1"),
        ],
    )
    load_all(connection, extracts, D1)
    core_rejects = table(
        connection,
        "SELECT record ->> 'event_id' AS event_id, reasons, stage, "
        "as_of_date FROM quarantine.rejected_rows "
        "WHERE dataset = 'product_events' ORDER BY 1",
    )
    assert core_rejects.rows() == [
        ("E-invalid", ["account_quarantined"], "core", D1),
        ("E-unknown", ["unknown_account"], "core", D1),
    ]
    assert table(connection, "SELECT event_id FROM core.product_events")["event_id"].to_list() == [
        "E1"
    ]


def test_an_account_that_left_the_latest_snapshot_keeps_its_billing(extracts, connection):
    write_delivery(extracts, "crm_accounts", D1, rows_of("crm_accounts", 2))
    write_delivery(extracts, "crm_accounts", D2, rows_of("crm_accounts", 1))
    write_delivery(
        extracts, "billing_invoices", D2, rows_of("billing_invoices", 1, account_id="A1-1")
    )
    load_all(connection, extracts, D2)
    assert table(connection, "SELECT account_id FROM core.crm_accounts")[
        "account_id"
    ].to_list() == ["A1"]
    assert table(connection, "SELECT account_id FROM core.billing_invoices").height == 1


def test_money_is_converted_to_usd_and_unknown_currencies_are_quarantined(extracts, connection):
    with_account(extracts)
    write_delivery(extracts, "fx_rates", D1, rows_of("fx_rates"))
    write_delivery(
        extracts,
        "billing_subscriptions",
        D1,
        [
            *rows_of("billing_subscriptions", 1, currency="EUR"),
            *rows_of("billing_subscriptions", 1, subscription_id="S-yen", currency="JPY"),
            *rows_of("billing_subscriptions", 1, subscription_id="S-usd", currency=None),
        ],
    )
    load_all(connection, extracts, D1)
    subscriptions = table(
        connection,
        "SELECT subscription_id, currency, mrr, mrr_usd FROM core.billing_subscriptions ORDER BY 1",
    )
    # EUR 1,000 at 1.1 USD per EUR is USD 1,100; no currency means USD.
    assert subscriptions.rows() == [
        ("S-usd", "USD", 1000.0, 1000.0),
        ("S1", "EUR", 1000.0, pytest.approx(1100.0)),
    ]
    reasons = rejected(connection, "billing_subscriptions")
    assert reasons["reasons"].to_list() == [["unknown_currency"]]
    assert json.loads(reasons["record"][0])["subscription_id"] == "S-yen"


def test_a_parser_message_does_not_quote_the_files_content(extracts, connection):
    """quarantine.rejected_files is published unredacted: the parser quotes the line it
    could not read, here a contact's name and email."""
    with_account(extracts)
    folder = extracts / "crm_contacts" / D1.isoformat()
    folder.mkdir(parents=True)
    (folder / "contacts.csv").write_text(
        'contact_id,account_id,full_name,email\nC1,A1,"Jane Roe,jane.roe@example.com\n'
    )
    load_all(connection, extracts, D1)
    message = table(connection, "SELECT message FROM quarantine.rejected_files").item()
    assert "contacts.csv: cannot be parsed: could not parse `...`" in message
    assert "Jane" not in message and "example.com" not in message


def test_unreadable_files_are_rejected_whole_and_the_others_still_load(extracts, connection):
    with_account(extracts)
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets"), name="good")
    broken = extracts / "support_tickets" / D1.isoformat() / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    missing = rows_of("support_tickets", 1, ticket_id="T9")
    del missing[0]["priority"]
    write_delivery(extracts, "support_tickets", D1, missing, name="no_priority")
    load_all(connection, extracts, D1)
    files = table(
        connection,
        "SELECT source_file, message FROM quarantine.rejected_files ORDER BY source_file",
    )
    assert files["source_file"].to_list() == [str(broken), str(broken.with_name("no_priority.csv"))]
    assert "broken.parquet: cannot be parsed" in files["message"][0]
    assert files["message"][1].endswith("no_priority.csv: missing required column(s) priority")
    assert table(connection, "SELECT ticket_id FROM core.support_tickets")[
        "ticket_id"
    ].to_list() == ["T1"]


def test_a_missing_optional_column_takes_its_default(extracts, connection):
    """A subscriptions file without a currency column is in USD, the contract's default,
    as an empty currency value is."""
    with_account(extracts)
    rows = rows_of("billing_subscriptions", 2)
    for row in rows:
        del row["currency"]
    write_delivery(extracts, "billing_subscriptions", D1, rows)
    load_all(connection, extracts, D1)
    assert rejected(connection, "billing_subscriptions").height == 0
    loaded = table(connection, "SELECT currency, mrr_usd FROM core.billing_subscriptions")
    assert loaded["currency"].to_list() == ["USD", "USD"]


def test_a_column_that_cannot_be_its_type_rejects_the_file_naming_the_column(extracts, connection):
    """A Parquet list column where text belongs cannot be cast at all: the file is
    rejected with the column named, the run goes on; an epoch number where a timestamp
    belongs is a bad value of its row."""
    with_account(extracts)
    folder = extracts / "support_tickets" / D1.isoformat()
    folder.mkdir(parents=True)
    listed = pl.DataFrame(rows_of("support_tickets", 2)).with_columns(
        pl.col("priority").map_elements(lambda value: [value], return_dtype=pl.List(pl.String))
    )
    listed.write_parquet(folder / "listed.parquet")
    epoch = rows_of("support_tickets", 1, ticket_id="T9")[0]
    (folder / "epoch.jsonl").write_text(json.dumps({**epoch, "created_at": 1764000000}) + "\n")
    load_all(connection, extracts, D1)
    files = table(connection, "SELECT message, line_count FROM quarantine.rejected_files")
    assert files.rows() == [
        (
            f"{folder / 'listed.parquet'}: column priority is List(String), which cannot be "
            "read as its type",
            2,
        )
    ]
    reasons = rejected(connection, "support_tickets")["reasons"].to_list()
    assert reasons == [["created_at: not a valid timestamp (ISO-8601)"]]


@pytest.mark.parametrize("name", ["tickets.csv.gz", "tickets.parquet"])
def test_a_file_cut_short_counts_the_lines_that_can_be_read(extracts, connection, name):
    """The reject ratio counts a rejected file as its lines: a gzip cut in half counts
    the lines before the break, a 'Parquet' file that is text its lines, not one."""
    import gzip

    with_account(extracts)
    folder = extracts / "support_tickets" / D1.isoformat()
    folder.mkdir(parents=True)
    rows = rows_of("support_tickets", 3000)
    text = pl.DataFrame(rows).write_csv().encode()
    if name.endswith(".gz"):
        packed = gzip.compress(text)
        (folder / name).write_bytes(packed[: len(packed) // 2])
    else:
        (folder / name).write_bytes(text)
    load_all(connection, extracts, D1)
    [(message, lines)] = table(
        connection, "SELECT message, line_count FROM quarantine.rejected_files"
    ).rows()
    assert "cannot be parsed" in message
    if name.endswith(".gz"):
        assert 500 < lines < 3000
    else:
        assert lines == 3000 + 1  # no header is known in a Parquet file: every line counts


def test_a_folder_whose_name_is_not_a_date_is_reported_and_not_read(extracts, connection):
    with_account(extracts)
    (extracts / "surveys" / "latest").mkdir(parents=True)
    write_delivery(extracts, "surveys", D1, rows_of("surveys"))
    (extracts / "surveys" / "latest" / "x.csv").write_text("response_id\nR9\n")
    load_all(connection, extracts, D1)
    files = table(connection, "SELECT message, line_count FROM quarantine.rejected_files")
    assert files.rows() == [
        (
            f"{extracts / 'surveys' / 'latest'}: folder name is not a "
            "delivery date (YYYY-MM-DD); not read",
            1,
        )
    ]


def test_files_that_are_never_read_are_said(extracts, connection):
    """A file outside a dated folder, one that is not an extract, a folder inside a
    delivery and a file name that is not UTF-8 are recorded with why, once; hidden
    files (.DS_Store, _SUCCESS) are not."""
    import os

    with_account(extracts)
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets"))
    root = extracts / "support_tickets"
    folder = root / D1.isoformat()
    (root / "loose.csv").write_text("ticket_id\nT8\n")
    (folder / "more_tickets.tsv").write_text("ticket_id\nT9\nT10\n")
    (folder / "nested").mkdir()
    (folder / "nested" / "t.csv").write_text("ticket_id\nT11\n")
    (folder / "_SUCCESS").write_text("")
    odd_name = os.path.join(os.fsencode(folder), b"caf\xe9.csv")
    with open(odd_name, "w") as stream:
        stream.write("ticket_id\nT12\n")
    load_all(connection, extracts, D1)
    load_all(connection, extracts, D1)  # said once
    files = table(
        connection,
        "SELECT message, line_count, delivery_date FROM quarantine.rejected_files ORDER BY 1",
    )
    assert files.rows() == [
        (f"{folder}/caf\\xe9.csv: file name is not UTF-8; not read", 1, None),
        (
            f"{folder}/more_tickets.tsv: not an extract file "
            "(.csv, .csv.gz, .parquet, .jsonl, .jsonl.gz); not read",
            3,  # not known to have a header: every line
            None,
        ),
        (f"{folder}/nested: a folder inside a delivery; not read", 1, None),
        (
            f"{root}/loose.csv: not in a dated delivery folder (<dataset>/YYYY-MM-DD/); not read",
            1,
            None,
        ),
    ]
    assert table(connection, "SELECT count(*) AS n FROM raw.support_tickets")["n"][0] == 1


def test_what_the_extracts_folder_holds_besides_the_datasets_is_said(extracts, connection):
    """A misspelled dataset folder is said under the dataset it resembles, with that
    name; a folder or file like no dataset under crm_accounts; each once."""
    with_account(extracts)
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets"))
    misspelled = extracts / "Support_Ticket"
    (misspelled / D1.isoformat()).mkdir(parents=True)
    (misspelled / D1.isoformat() / "t.csv").write_text("ticket_id\nT8\nT9\n")
    (extracts / "notes.txt").write_text("exported by hand\n")
    (extracts / ".hidden").write_text("skipped\n")
    reports = load_all(connection, extracts, D1)
    load_all(connection, extracts, D1)  # said once
    files = table(
        connection,
        "SELECT dataset, message, line_count FROM quarantine.rejected_files ORDER BY 1",
    )
    assert files.rows() == [
        (
            "crm_accounts",
            f"{extracts / 'notes.txt'}: not in a dataset folder "
            f"(the datasets: {', '.join(DATASETS)}); not read",
            1,
        ),
        (
            "support_tickets",
            f"{misspelled}: not a dataset folder (did you mean support_tickets/?); not read",
            2,  # the CSV's data lines
        ),
    ]
    assert reports["support_tickets"].not_read == [files["message"][1]]
    assert table(connection, "SELECT count(*) AS n FROM raw.support_tickets")["n"][0] == 1


def header_only(extracts, dataset: str, day) -> None:
    folder = extracts / dataset / day.isoformat()
    folder.mkdir(parents=True)
    (folder / "part.csv").write_text(",".join(rows_of(dataset)[0]) + "\n")


def snapshot_drop(connection, run_id: str, dataset: str = "crm_accounts"):
    outcomes = run_checks(connection, DATASETS[dataset], run_id, SETTINGS)
    return {outcome.name: outcome for outcome in outcomes}.get("snapshot_drop")


def test_a_snapshot_that_lost_more_than_half_its_rows_fails_its_blocking_check(
    extracts, connection
):
    """40 accounts, then 20 (half gone: at max_snapshot_drop 0.5, passes), then a
    header alone (all 20 gone: fails, naming both deliveries)."""
    write_delivery(extracts, "crm_accounts", D1, rows_of("crm_accounts", 40))
    load_all(connection, extracts, D1, "run-1")
    write_delivery(extracts, "crm_accounts", D2, rows_of("crm_accounts", 20))
    load_all(connection, extracts, D2, "run-2")
    header_only(extracts, "crm_accounts", D3)
    load_all(connection, extracts, D3, "run-3")
    first, half, empty = (snapshot_drop(connection, run) for run in ("run-1", "run-2", "run-3"))
    assert first.passed and first.metadata["snapshot_drop"] == 0.0  # nothing before it
    assert half.passed and half.metadata["snapshot_drop"] == 0.5
    assert not empty.passed
    assert {key: empty.metadata[key] for key in ("delivery", "rows", "delivery_before")} == {
        "delivery": str(D3),
        "rows": 0,
        "delivery_before": str(D2),
    }
    assert empty.metadata["rows_before"] == 20 and empty.metadata["snapshot_drop"] == 1.0
    # An incremental dataset's next delivery holds only what changed: no such check.
    assert snapshot_drop(connection, "run-3", "support_tickets") is None


def test_a_snapshot_drop_counts_only_from_min_rows_before(extracts, connection):
    write_delivery(extracts, "crm_accounts", D1, rows_of("crm_accounts", 19))
    load_all(connection, extracts, D1, "run-1")
    header_only(extracts, "crm_accounts", D2)
    load_all(connection, extracts, D2, "run-2")
    assert snapshot_drop(connection, "run-2").passed


def deliver_ticket_open_then_solved(extracts):
    """Ticket T1, open in the D1 folder and solved in the D2 folder."""
    with_account(extracts)
    write_delivery(
        extracts,
        "support_tickets",
        D1,
        rows_of("support_tickets", 1, status="open", resolved_at=None, csat_score=None),
    )
    write_delivery(extracts, "support_tickets", D2, rows_of("support_tickets"))


def test_the_newest_delivery_wins_per_key(extracts, connection):
    deliver_ticket_open_then_solved(extracts)
    load_all(connection, extracts, D1)
    assert table(connection, "SELECT status FROM core.support_tickets").rows() == [("open",)]
    load_all(connection, extracts, D2)
    assert table(connection, "SELECT status, csat_score FROM core.support_tickets").rows() == [
        ("solved", 5)
    ]


def test_a_key_in_two_deliveries_loaded_together_is_no_duplicate(extracts, connection):
    """Both folders are read and validated in one batch: the key repeats across
    deliveries, which is a newer version, not a duplicate."""
    deliver_ticket_open_then_solved(extracts)
    load_all(connection, extracts, D2)
    assert rejected(connection, "support_tickets").is_empty()
    assert table(connection, "SELECT status FROM core.support_tickets").rows() == [("solved",)]
    checks = {
        c.name: c for c in run_checks(connection, DATASETS["support_tickets"], "run-1", SETTINGS)
    }
    assert checks["key_unique"].passed


@pytest.mark.parametrize("compression", ["uncompressed", "zstd"])
def test_raw_files_are_written_with_the_configured_compression(extracts, connection, compression):
    import pyarrow.parquet as pq

    with_account(extracts)
    settings = SETTINGS.model_copy(update={"raw_compression": compression})
    load_all(connection, extracts, D1, settings=settings)
    raw_file = lake_dir(connection) / "crm_accounts" / f"{D1}.parquet"
    column = pq.ParquetFile(raw_file).metadata.row_group(0).column(0)
    assert column.compression == compression.upper()


def test_the_key_check_reads_raw_and_names_a_key_twice_in_a_delivery(extracts, connection):
    """The check verifies the files written, not the validation that wrote them."""
    with_account(extracts)
    write_delivery(extracts, "support_tickets", D1, rows_of("support_tickets", 2))
    load_all(connection, extracts, D1)
    raw_file = lake_dir(connection) / "support_tickets" / f"{D1}.parquet"
    rows = pl.read_parquet(raw_file)
    pl.concat([rows, rows.head(1)]).write_parquet(raw_file)
    checks = {
        c.name: c for c in run_checks(connection, DATASETS["support_tickets"], "run-1", SETTINGS)
    }
    assert not checks["key_unique"].passed
    assert "| T1 | 2 |" in checks["key_unique"].metadata["duplicates"].value
    assert "T2" not in checks["key_unique"].metadata["duplicates"].value


def test_a_key_invalid_in_the_newest_folder_keeps_its_last_valid_version(extracts, connection):
    with_account(extracts)
    write_delivery(extracts, "billing_invoices", D1, rows_of("billing_invoices"))
    write_delivery(extracts, "billing_invoices", D2, rows_of("billing_invoices", 1, status="lost"))
    load_all(connection, extracts, D2)
    assert table(connection, "SELECT status FROM core.billing_invoices").rows() == [("open",)]


def test_deliveries_dated_after_the_as_of_date_are_ignored(extracts, connection):
    with_account(extracts)
    with_account(extracts, day=D3, account_name="Renamed")
    write_delivery(extracts, "product_events", D3, rows_of("product_events"))
    reports = load_all(connection, extracts, D2)
    assert reports["crm_accounts"].in_force == [D1]
    assert table(connection, "SELECT account_name FROM core.crm_accounts").rows() == [("Acme",)]
    assert table(connection, "SELECT count(*) AS n FROM raw.product_events")["n"][0] == 0


def test_a_snapshot_uses_its_newest_folder_only(extracts, connection):
    with_account(extracts)
    write_delivery(extracts, "product_users", D1, rows_of("product_users", 3))
    write_delivery(extracts, "product_users", D2, rows_of("product_users", 1))
    reports = load_all(connection, extracts, D2)
    assert reports["product_users"].in_force == [D2]
    assert table(connection, "SELECT count(*) AS n FROM core.product_users")["n"][0] == 1


def test_timestamps_with_offsets_become_utc(extracts, connection):
    with_account(extracts)
    write_delivery(
        extracts,
        "crm_activities",
        D1,
        [
            *rows_of(
                "crm_activities", 1, activity_id="plus2", occurred_at="2026-02-27T10:00:00+02:00"
            ),
            *rows_of(
                "crm_activities",
                1,
                activity_id="minus0530",
                occurred_at="2026-02-27T10:00:00.250-05:30",
            ),
            *rows_of("crm_activities", 1, activity_id="naive", occurred_at="2026-02-27 10:00:00"),
            *rows_of("crm_activities", 1, activity_id="zulu", occurred_at="2026-02-27T10:00Z"),
            *rows_of(
                "crm_activities", 1, activity_id="compact", occurred_at="2026-02-28T23:30:00-0100"
            ),
        ],
    )
    load_all(connection, extracts, D1)
    times = dict(
        table(connection, "SELECT activity_id, occurred_at FROM core.crm_activities").rows()
    )
    assert times == {
        "plus2": dt.datetime(2026, 2, 27, 8),
        "minus0530": dt.datetime(2026, 2, 27, 15, 30, 0, 250000),
        "naive": dt.datetime(2026, 2, 27, 10),
        "zulu": dt.datetime(2026, 2, 27, 10),
        # 23:30 at -01:00 is already 1 March in UTC: not after the extract date D1.
        "compact": dt.datetime(2026, 3, 1, 0, 30),
    }


def test_csv_with_bom_crlf_quoted_newlines_and_yes_no_booleans(extracts, connection):
    folder = extracts / "crm_accounts" / D1.isoformat()
    folder.mkdir(parents=True)
    header = ",".join(rows_of("crm_accounts")[0])
    lines = [
        header,
        'A1,"Acme, ""the best""\r\nInc",retail,csm_1,2025-01-01,2026-01-01,10,12000,USD,'
        "starter,YES,No,yes,NO",
        "A2,Beta,,,2025-01-01,,5,0,,,1,0,True,false",
    ]
    (folder / "accounts.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    load_all(connection, extracts, D1)
    assert rejected(connection, "crm_accounts").is_empty()
    accounts = table(
        connection,
        "SELECT account_id, account_name, executive_sponsor_identified, "
        "executive_sponsor_engaged, champion_present, "
        "renewal_budget_confirmed, currency, industry "
        "FROM core.crm_accounts ORDER BY 1",
    )
    assert accounts.rows() == [
        ("A1", 'Acme, "the best"\r\nInc', True, False, True, False, "USD", "retail"),
        ("A2", "Beta", True, False, True, False, "USD", None),
    ]


def test_loading_the_same_delivery_twice_changes_nothing(extracts, connection):
    with_account(extracts)
    write_delivery(
        extracts,
        "support_tickets",
        D1,
        [
            *rows_of("support_tickets", 3),
            *rows_of("support_tickets", 1, ticket_id="bad", priority="x"),
        ],
    )
    load_all(connection, extracts, D1, run_id="run-1")
    snapshot = [
        table(connection, f"SELECT * EXCLUDE ({', '.join(excluded)}) FROM {name} ORDER BY ALL")
        for name, excluded in (
            ("raw.support_tickets", ["_run_id"]),
            ("quarantine.rejected_rows", ["run_id"]),
            ("meta.deliveries", ["run_id", "loaded_at"]),
        )
    ]
    reports = load_all(connection, extracts, D1, run_id="run-2")
    assert reports["support_tickets"].skipped == [D1] and not reports["support_tickets"].loaded
    again = [
        table(connection, f"SELECT * EXCLUDE ({', '.join(excluded)}) FROM {name} ORDER BY ALL")
        for name, excluded in (
            ("raw.support_tickets", ["_run_id"]),
            ("quarantine.rejected_rows", ["run_id"]),
            ("meta.deliveries", ["run_id", "loaded_at"]),
        )
    ]
    for before, after in zip(snapshot, again, strict=True):
        assert before.equals(after)


def test_a_folder_delivered_again_with_other_content_replaces_its_rows(extracts, connection):
    with_account(extracts)
    path = write_delivery(extracts, "surveys", D1, rows_of("surveys", 3))
    load_all(connection, extracts, D1, run_id="run-1")
    path.unlink()
    write_delivery(extracts, "surveys", D1, rows_of("surveys", 1, score="2"), name="again")
    load_all(connection, extracts, D1, run_id="run-2")
    assert table(connection, "SELECT response_id, score FROM core.surveys").rows() == [("R1", 2)]
    assert table(connection, "SELECT count(*) AS n FROM raw.surveys")["n"][0] == 1


def test_extra_columns_are_kept_in_raw_and_reported(extracts, connection):
    with_account(extracts)
    write_delivery(extracts, "surveys", D1, rows_of("surveys", 1, channel="in-app"))
    load_all(connection, extracts, D1)
    assert json.loads(table(connection, "SELECT _extra FROM raw.surveys")["_extra"][0]) == {
        "channel": "in-app"
    }
    assert table(connection, "SELECT extra_columns FROM meta.deliveries WHERE dataset = 'surveys'")[
        "extra_columns"
    ].to_list() == [["channel"]]


def test_only_crm_accounts_is_needed_and_absent_datasets_are_said(extracts, connection):
    with_account(extracts)
    reports = load_all(connection, extracts, D1)
    assert reports["crm_accounts"].delivered
    assert not reports["support_tickets"].delivered
    status = dict(table(connection, "SELECT dataset, delivered FROM core.dataset_status").rows())
    assert status["crm_accounts"] is True
    assert sorted(name for name, delivered in status.items() if not delivered) == sorted(
        name for name in DATASETS if name != "crm_accounts"
    )
    assert table(connection, "SELECT count(*) AS n FROM core.support_tickets")["n"][0] == 0


def test_an_empty_file_is_an_empty_delivery(extracts, connection):
    with_account(extracts)
    folder = extracts / "surveys" / D1.isoformat()
    folder.mkdir(parents=True)
    (folder / "empty.jsonl").write_text("")
    report = load_dataset(connection, DATASETS["surveys"], extracts, D1, "run-1", SETTINGS)
    assert report.loaded == [D1]
    files = table(connection, "SELECT * FROM quarantine.rejected_files")
    assert files.height == 1 and "missing required column" in files["message"][0]


def test_a_known_account_keeps_the_owner_of_its_newest_delivery(extracts, connection):
    """Owners change between snapshots; an account that left the CRM keeps its last one,
    and a newest row without an owner leaves the owner empty."""
    write_delivery(
        extracts,
        "crm_accounts",
        D1,
        rows_of("crm_accounts", 1, csm_owner="csm_1")
        + rows_of("crm_accounts", 1, account_id="A2", csm_owner="csm_1"),
    )
    write_delivery(
        extracts,
        "crm_accounts",
        D2,
        rows_of("crm_accounts", 1, csm_owner=None)
        + rows_of("crm_accounts", 1, account_id="A2", csm_owner="csm_2"),
    )
    write_delivery(extracts, "crm_accounts", D3, rows_of("crm_accounts", 1, csm_owner=None))
    load_all(connection, extracts, D3)
    owners = table(connection, "SELECT account_id, csm_owner FROM core.known_accounts ORDER BY 1")
    assert owners.rows() == [("A1", None), ("A2", "csm_2")]
