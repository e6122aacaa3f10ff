"""Bad configuration fails at start with a message that names the key."""

from __future__ import annotations

import pytest

from pipelines.settings import ConfigError, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_the_shipped_settings_load():
    settings = load_settings()
    assert settings.max_reject_ratio == 0.05
    assert settings.ready_datasets == ["crm_accounts"]
    assert settings.retention_targets.grr.mid_market == 0.85
    assert settings.retention_targets.grr.smb is None


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("max_reject_ratio: 1.5", "max_reject_ratio", "less than or equal to 1"),
        ("max_reject_ratio: lots", "max_reject_ratio", "valid number"),
        (
            "min_rows_for_reject_ratio: -1",
            "min_rows_for_reject_ratio",
            "greater than or equal to 0",
        ),
        ("max_snapshot_drop: -0.5", "max_snapshot_drop", "greater than or equal to 0"),
        ("ready_datasets: [crm_accounts, tickets]", "ready_datasets", "unknown dataset"),
        ("plan_tiers: [gold, gold]", "plan_tiers", "distinct"),
        ("schedule_hour: 25", "schedule_hour", "less than or equal to 23"),
        ("schedule_timezone: Mars/Olympus", "schedule_timezone", "unknown time zone"),
        ("raw_compression: gzip", "raw_compression", "'uncompressed', 'lz4', 'snappy' or 'zstd'"),
        ("max_reject_rate: 0.1", "max_reject_rate", "Extra inputs are not permitted"),
        ("retention_targets: {nrr: 110}", "retention_targets.nrr", "less than or equal to 5"),
        (
            "retention_targets: {grr: {mid_market: 85}}",
            "retention_targets.grr.mid_market",
            "less than or equal to 1",
        ),
        (
            "retention_targets: {grr: {startup: 0.8}}",
            "retention_targets.grr.startup",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_value_names_its_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert f"{path}: {key}:" in str(error.value)
    assert words in str(error.value)


def test_a_missing_or_broken_file_is_said(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, "max_reject_ratio: [0.1"))
    assert "not valid YAML at line 1, column 23: expected ',' or ']'" in str(error.value)
    assert "\n" not in str(error.value)
    not_text = tmp_path / "latin1.yaml"
    not_text.write_bytes("segments: {name: Gr\xfcn}".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"{not_text}: cannot be read: not UTF-8 text"):
        load_settings(not_text)
    with pytest.raises(ConfigError, match=f"{tmp_path}: cannot be read: Is a directory"):
        load_settings(tmp_path)
    with pytest.raises(ConfigError, match="a value cannot be read: month must be in 1..12"):
        load_settings(write(tmp_path, "partitions_start: 2026-13-01"))
