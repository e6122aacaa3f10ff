"""The operations config (config/operations.yaml): alert thresholds and playbook actions,
onboarding, expansion and renewal rules, portfolio targets. Validated by Pydantic, with
errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from pipelines.settings import REPO_ROOT, Strict, load_config

DEFAULT_OPERATIONS_FILE = REPO_ROOT / "config" / "operations.yaml"

Days = Field(gt=0, le=3650)
Share = Field(ge=0, le=1)
Actions = list[str]


class Alert(Strict):
    severity: Literal["critical", "high", "medium", "low", "info"]
    actions: Actions = Field(min_length=1)
    tier_playbook: bool = True


class DroppedBelow(Alert):
    below_score: float = Field(gt=0, le=100)


class Improved(Alert):
    min_points_in_30_days: float = Field(gt=0, le=100)


class PaymentOverdue(Alert):
    days_past_due: int = Days


class RenewalAtRisk(Alert):
    within_days: int = Days


class Alerts(Strict):
    entered_critical: Alert
    dropped_below_60: DroppedBelow
    improved_20: Improved
    payment_overdue: PaymentOverdue
    renewal_at_risk: RenewalAtRisk
    onboarding_risk: Alert


class Playbook(Strict):
    first_steps: Actions
    actions: Actions


class Playbooks(Strict):
    green: Playbook
    yellow: Playbook
    red: Playbook


class Onboarding(Strict):
    window_days: int = Days
    kickoff_late_days: int = Field(ge=0, le=3650)
    first_week_days: int = Days
    blocker_open_days: int = Field(ge=0, le=3650)
    low_training_rate: float = Share
    low_training_from_day: int = Field(ge=0, le=3650)
    seat_adoption_window_days: int = Days


class Expansion(Strict):
    min_health_score: float = Field(ge=0, le=100)
    window_days: int = Days
    services_window_days: int = Days
    seat_utilisation_above: float = Field(ge=0, le=10)
    feature_adoption_above: float = Share
    products: list[str] = Field(min_length=1)


class Renewals(Strict):
    window_days: int = Days
    overdue_days: int = Days
    budget_confirmed_points: float = Field(ge=-100, le=100)
    executive_engaged_points: float = Field(ge=-100, le=100)
    payment_overdue_points: float = Field(ge=-100, le=100)
    green_from: float = Field(gt=0, le=100)
    yellow_from: float = Field(gt=0, le=100)
    # Each stage and the last day to renewal it holds; a renewal is in the nearest stage
    # whose last day it has not passed.
    stages: dict[str, int] = Field(
        default_factory=lambda: {"T-30": 30, "T-60": 60, "T-90": 90, "T-120": 120},
        min_length=1,
    )

    @model_validator(mode="after")
    def _zones_ordered(self) -> Renewals:
        if self.yellow_from >= self.green_from:
            raise ValueError("yellow_from must be below green_from")
        return self

    @model_validator(mode="after")
    def _stages_cover_the_window(self) -> Renewals:
        last_days = list(self.stages.values())
        if min(last_days) < 0 or len(set(last_days)) < len(last_days):
            raise ValueError("stages: last days must be >= 0 and differ from stage to stage")
        if max(last_days) < self.window_days:
            raise ValueError(
                f"stages: the last stage ends {max(last_days)} days out, before "
                f"window_days ({self.window_days}): renewals beyond it would have no stage"
            )
        return self


KPIS = (
    "share_green",
    "share_yellow",
    "share_red",
    "avg_health",
    "nps",
    "csat",
    "qbr_completion",
    "grr",
    "nrr",
    "logo_retention",
    "time_to_first_value",
    "accounts_per_csm",
)


class Portfolio(Strict):
    nps_window_days: int = Days
    csat_window_days: int = Days
    qbr_window_days: int = Days
    first_value_window_days: int = Days
    targets: dict[str, tuple[Literal[">", "<", ">=", "<="], float]]

    @model_validator(mode="after")
    def _every_kpi(self) -> Portfolio:
        unknown = sorted(set(self.targets) - set(KPIS))
        missing = [kpi for kpi in KPIS if kpi not in self.targets]
        if unknown or missing:
            raise ValueError(
                f"targets: unknown {unknown}, missing {missing}; the KPIs are {list(KPIS)}"
            )
        return self


class Usage(Strict):
    power_users: int = Field(ge=1, le=100)


class Operations(Strict):
    alerts: Alerts
    playbooks: Playbooks
    onboarding: Onboarding
    expansion: Expansion
    renewals: Renewals
    usage: Usage
    portfolio: Portfolio


def load_operations(path: Path | str | None = None) -> Operations:
    return load_config(Operations, Path(path) if path else DEFAULT_OPERATIONS_FILE)
