"""The reports config (config/reports.yaml): review windows, list lengths, the thresholds
that call a measure better, worse or a win, and the target a QBR holds each measure to.
Validated by Pydantic, with errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipelines.settings import REPO_ROOT, Strict, load_config

DEFAULT_REPORTS_FILE = REPO_ROOT / "config" / "reports.yaml"

Days = Field(gt=0, le=3650)
Share = Field(gt=0, le=1)
Rows = Field(ge=1, le=1000)

# The values a measure's raw_value can take, by its unit (data.MEASURES): a target outside
# them can never be met or missed (a share written as 70 instead of 0.70).
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "share": (0, 1),
    "percentile": (0, 1),
    "per_week": (0, 1000),
    "count": (0, 1_000_000),
    "days": (0, 3650),
    "score5": (0, 5),
    "score10": (0, 10),
    "nps": (-100, 100),
    "level": (0, 2),
    "delta": (-1, 1),
    "usd": (-1e12, 1e12),
}


class Periods(Strict):
    qbr_days: int = Days
    monthly_days: int = Days
    compare_weeks: int = Field(ge=1, le=52)


class Portfolio(Strict):
    renewal_window_days: int = Days
    risk_register_rows: int = Rows
    retention_months: int = Field(ge=1, le=120)


class Trends(Strict):
    steady_below: float = Field(ge=0, le=1)
    win_min_gain: float = Share
    win_min_score_points: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _win_above_steady(self) -> Trends:
        if self.win_min_gain <= self.steady_below:
            raise ValueError("win_min_gain must be above steady_below")
        return self


class Features(Strict):
    most_used: int = Field(ge=1, le=100)
    under_used: int = Field(ge=1, le=100)
    under_used_below: float = Share


class ReportConfig(Strict):
    periods: Periods
    portfolio: Portfolio
    trends: Trends
    features: Features
    targets: dict[str, tuple[Literal[">", ">=", "<", "<="], float]]

    @field_validator("targets")
    @classmethod
    def _known_measures_in_range(cls, value: dict) -> dict:
        from pipelines.reports.data import MEASURES

        problems = []
        for measure, (_, target) in value.items():
            if measure not in MEASURES:
                problems.append(f"{measure}: unknown measure; known: {', '.join(MEASURES)}")
                continue
            unit = MEASURES[measure].unit
            low, high = UNIT_RANGES.get(unit, (float("-inf"), float("inf")))
            if not low <= target <= high:
                problems.append(
                    f"{measure}: target {target:g} is outside {low:g}..{high:g} ({unit})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return value


def load_report_config(path: Path | str | None = None) -> ReportConfig:
    return load_config(ReportConfig, Path(path) if path else DEFAULT_REPORTS_FILE)
