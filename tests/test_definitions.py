"""The Dagster definitions load and hold what the nightly job needs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from dagster import AssetKey

import sql
from pipelines.definitions import defs
from pipelines.jobs import NIGHTLY_JOB, build_definitions, partitions_for
from schemas.extracts import DATASETS


def test_definitions_load_with_every_layer():
    repository = defs.get_repository_def()
    keys = set(repository.asset_graph.get_all_asset_keys())
    for name in DATASETS:
        assert AssetKey(["raw", name]) in keys
        assert AssetKey(["core", name]) in keys
    assert AssetKey(["mart", "account_health"]) in keys
    assert AssetKey(["mart", "health_measures"]) in keys
    assert AssetKey(["mart", "mrr_movements"]) in keys
    assert AssetKey(["mart", "retention"]) in keys
    assert AssetKey(["publish", "warehouse"]) in keys
    groups = {repository.asset_graph.get(key).group_name for key in keys}
    assert groups == {"ingest", "core", "health", "retention", "operations", "publish", "reports"}
    for name in (
        "health_alerts",
        "risk_register",
        "onboarding",
        "expansion_opportunities",
        "renewal_pipeline",
        "portfolio_kpis",
    ):
        assert AssetKey(["mart", name]) in keys
    assert defs.resolve_job_def(NIGHTLY_JOB) is not None


def test_each_dataset_has_its_checks_and_the_ratio_and_the_snapshot_drop_block():
    """The ratio is checked on raw (rows rejected as read) and again on core (with the
    account and currency rejections of the date); a snapshot's drop on raw."""
    graph = defs.get_repository_def().asset_graph
    checks = {
        ("/".join(key.asset_key.path), key.name): graph.get_check_spec(key)
        for key in graph.asset_check_keys
    }
    for name in DATASETS:
        raw, core = f"raw/{name}", f"core/{name}"
        assert {(raw, "rows_balance"), (raw, "key_unique"), (raw, "reject_ratio")} <= set(checks)
        assert checks[(raw, "reject_ratio")].blocking
        assert not checks[(raw, "rows_balance")].blocking
        assert checks[(core, "reject_ratio")].blocking
        snapshot = DATASETS[name].kind == "snapshot"
        assert ((raw, "snapshot_drop") in checks) == snapshot
        assert not snapshot or checks[(raw, "snapshot_drop")].blocking


def test_scores_and_retention_are_checked_before_publishing():
    graph = defs.get_repository_def().asset_graph
    publish = graph.get(AssetKey(["publish", "warehouse"]))
    for table, check in (
        ("account_health", "scores_consistent"),
        ("retention", "retention_consistent"),
        ("risk_register", "work_lists_consistent"),
    ):
        checks = {
            key.name: graph.get_check_spec(key)
            for key in graph.asset_check_keys
            if key.asset_key == AssetKey(["mart", table])
        }
        assert checks[check].blocking
        assert AssetKey(["mart", table]) in publish.parent_keys


def test_partitions_stretch_to_hold_any_as_of_date():
    early = partitions_for(dt.date(2026, 1, 1), include=dt.date(2017, 3, 1))
    assert early.get_first_partition_key() == "2017-03-01"
    today = dt.datetime.now(dt.UTC).date()
    assert today.isoformat() in partitions_for(dt.date(2026, 1, 1)).get_partition_keys()
    later = today + dt.timedelta(days=3)
    assert (
        later.isoformat() in partitions_for(dt.date(2026, 1, 1), include=later).get_partition_keys()
    )
    assert build_definitions(include_date=dt.date(2017, 3, 1)) is not None


def test_scoring_depends_on_every_core_table_its_sql_reads_and_no_other():
    """The health assets' lineage is the core tables named in the scoring SQL (the
    usage rollups are kept from core.product_events; known_accounts from crm_accounts)."""
    folder = Path(sql.__file__).parent
    files = [
        folder / f"{name}.sql"
        for name in ("health_inputs", "core_macros", "usage_rollups", "health_scores")
    ] + sorted((folder / "measures").glob("*.sql"))
    text = "\n".join(path.read_text() for path in files)
    read = set(re.findall(r"\bcore\.(\w+)", text)) - {"dataset_status"}
    read = {"crm_accounts" if name == "known_accounts" else name for name in read}
    if re.search(r"\brollup\.\w+", text):
        read.add("product_events")
    graph = defs.get_repository_def().asset_graph
    for key in (AssetKey(["mart", "account_health"]), AssetKey(["mart", "health_measures"])):
        deps = {parent.path[1] for parent in graph.get(key).parent_keys}
        assert deps == read
