"""The reports config: the shipped file loads, a bad value names its key."""

from __future__ import annotations

import re

import pytest
from conftest import edited_config

from pipelines.reports.config import DEFAULT_REPORTS_FILE, load_report_config
from pipelines.reports.data import MEASURES
from pipelines.settings import ConfigError


def test_the_shipped_config_loads():
    config = load_report_config()
    assert config.periods.qbr_days == 90 and config.periods.monthly_days == 30
    assert config.periods.compare_weeks == 4
    assert config.portfolio.renewal_window_days == 120
    assert config.portfolio.risk_register_rows == 20
    assert config.trends.steady_below == 0.005 and config.trends.win_min_gain == 0.05
    assert config.features.under_used_below == 0.5
    assert config.targets["seat_utilisation"] == (">=", 0.70)
    assert config.targets["ticket_volume"] == ("<", 30)
    assert set(config.targets) <= set(MEASURES) and len(config.targets) == 13


@pytest.mark.parametrize(
    ("section", "key", "value", "named", "words"),
    [
        ("periods", "qbr_days", -90, "periods.qbr_days", "greater than 0"),
        ("portfolio", "risk_register_rows", 0, "portfolio.risk_register_rows", "greater than"),
        (
            "features",
            "under_used_below",
            1.5,
            "features.under_used_below",
            "less than or equal to 1",
        ),
        ("features", "least_used", 3, "features.least_used", "Extra inputs"),
        ("trends", "win_min_gain", 0.001, "trends", "win_min_gain must be above steady_below"),
        (
            "targets",
            "seat_utilisation",
            [">=", 70],
            "targets",
            "seat_utilisation: target 70 is outside 0..1 (share)",
        ),
        ("targets", "nps", ["=", 40], "targets.nps.0", "Input should be"),
        ("targets", "no_such_measure", [">", 1], "targets", "no_such_measure: unknown measure"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path, section, key, value, named, words):
    path = edited_config(DEFAULT_REPORTS_FILE, tmp_path, section, key, value)
    with pytest.raises(ConfigError) as error:
        load_report_config(path)
    assert f"{path}: {named}" in str(error.value)
    assert words in str(error.value)


def test_an_unknown_section_and_a_missing_file_are_named(tmp_path):
    path = edited_config(DEFAULT_REPORTS_FILE, tmp_path, "colours", "green", "#2e9d5b")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: colours: Extra inputs"):
        load_report_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_report_config(tmp_path / "missing.yaml")
