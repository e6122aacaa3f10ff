"""The operations config: the shipped file loads, a bad value names its key."""

from __future__ import annotations

import pytest
from conftest import edited_config

from pipelines.operations import DEFAULT_OPERATIONS_FILE, KPIS, load_operations
from pipelines.settings import ConfigError


def test_the_shipped_config_loads():
    operations = load_operations()
    assert operations.alerts.dropped_below_60.below_score == 60
    assert operations.alerts.payment_overdue.days_past_due == 30
    assert operations.renewals.green_from == 90 and operations.renewals.yellow_from == 60
    assert list(operations.portfolio.targets) == list(KPIS)
    assert operations.portfolio.targets["accounts_per_csm"] == ("<=", 100)


@pytest.mark.parametrize(
    ("section", "key", "value", "named", "words"),
    [
        ("onboarding", "window_days", 0, "onboarding.window_days", "greater than 0"),
        (
            "expansion",
            "feature_adoption_above",
            70,
            "expansion.feature_adoption_above",
            "less than or equal to 1",
        ),
        ("renewals", "yellow_from", 95, "renewals", "yellow_from must be below green_from"),
        ("renewals", "bonus_points", 3, "renewals.bonus_points", "Extra inputs"),
        (
            "renewals",
            "window_days",
            150,
            "renewals",
            "the last stage ends 120 days out, before window_days (150)",
        ),
        (
            "renewals",
            "stages",
            {"T-30": 30, "soon": 30, "T-120": 120},
            "renewals",
            "differ from stage to stage",
        ),
        (
            "alerts",
            "payment_overdue",
            {"severity": "urgent", "actions": ["x"], "days_past_due": 30},
            "alerts.payment_overdue.severity",
            "Input should be",
        ),
        ("portfolio", "targets", {"avg_health": [">", 75]}, "portfolio", "missing"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path, section, key, value, named, words):
    path = edited_config(DEFAULT_OPERATIONS_FILE, tmp_path, section, key, value)
    with pytest.raises(ConfigError) as error:
        load_operations(path)
    assert f"{path}: {named}" in str(error.value)
    assert words in str(error.value)
