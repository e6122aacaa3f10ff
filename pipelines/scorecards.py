"""Scorecards: YAML files validated by Pydantic, and the measures they may use.

A measure is defined once, in `sql/measures/<id>.sql`: a query giving `raw_value` (the
measure in its own unit) and `value` (0..1) for every scored account. Its `{parameters}`
(windows, thresholds) are filled from the scorecard, so the SQL file is also the list of
parameters a scorecard must give for that measure.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

import sql
from pipelines.settings import REPO_ROOT, ConfigError, load_config

SCORECARD_DIR = REPO_ROOT / "config" / "scorecards"
SEGMENTS = ("enterprise", "mid_market", "smb")
# Each dimension is a column `<dimension>_score` of mart.account_health.
DIMENSIONS = (
    "usage",
    "engagement",
    "support",
    "satisfaction",
    "financial",
    "product_engagement",
    "relationship",
    "sentiment",
)
BAND_COMPARISONS = ("above", "at_least", "at_most", "below")


@dataclass(frozen=True)
class MeasureDefinition:
    """What the scorer needs to know about a measure besides its SQL."""

    datasets: tuple[str, ...]  # the measure is missing when one was never delivered
    banded: bool = False  # gives raw_value only: the scorecard's bands turn it into points
    sql_name: str = ""  # file in sql/measures/ when it is not the measure's own id

    def sql_file(self, measure: str) -> str:
        return f"measures/{self.sql_name or measure}"


MEASURES: dict[str, MeasureDefinition] = {
    "seat_utilisation": MeasureDefinition(("product_events",)),
    "feature_breadth": MeasureDefinition(("product_events", "feature_catalog")),
    "login_rate": MeasureDefinition(("product_events",)),
    "email_response": MeasureDefinition(("crm_activities",)),
    "meeting_attendance": MeasureDefinition(("crm_activities",)),
    "qbr_participation": MeasureDefinition(("crm_activities",)),
    "contact_recency": MeasureDefinition(("crm_activities",)),
    "ticket_volume": MeasureDefinition(("support_tickets",)),
    "critical_share": MeasureDefinition(("support_tickets",)),
    "support_csat": MeasureDefinition(("support_tickets",)),
    "nps": MeasureDefinition(("surveys",)),
    "csat": MeasureDefinition(("surveys",)),
    "sentiment": MeasureDefinition(("support_tickets",)),
    "payment_status": MeasureDefinition(("billing_invoices",)),
    "expansion": MeasureDefinition(("billing_subscriptions",)),
    "renewal_budget": MeasureDefinition(()),
    "dau_mau": MeasureDefinition(("product_events",), banded=True),
    "core_feature_adoption": MeasureDefinition(("product_events", "feature_catalog"), banded=True),
    "depth_of_use": MeasureDefinition(("product_events",), banded=True),
    "nps_category": MeasureDefinition(("surveys",), banded=True),
    "csm_engagement": MeasureDefinition(("crm_activities",), banded=True),
    "executive_sponsor": MeasureDefinition((), banded=True),
    "payment_history": MeasureDefinition(("billing_invoices",), banded=True),
    "growth_trajectory": MeasureDefinition(("billing_subscriptions",), banded=True),
    "sentiment_trend": MeasureDefinition(("support_tickets",), banded=True),
    "feedback": MeasureDefinition(("surveys",), banded=True, sql_name="csat"),
}


def measure_parameters(measure: str) -> set[str]:
    """The `{placeholders}` of a measure's SQL: the parameters a scorecard must give."""
    text = sql.load(MEASURES[measure].sql_file(measure))
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    band: str
    above: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Band:
        if sum(getattr(self, name) is not None for name in BAND_COMPARISONS) > 1:
            raise ValueError(f"give at most one of {', '.join(BAND_COMPARISONS)}")
        return self

    @property
    def comparison(self) -> tuple[str, float | None]:
        for name in BAND_COMPARISONS:
            if getattr(self, name) is not None:
                return name, getattr(self, name)
        return "otherwise", None


class MeasureConfig(BaseModel):
    """A measure's weight in its dimension, its bands, and its SQL parameters (the
    other keys)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    weight: float | None = Field(None, gt=0, le=1)
    bands: list[Band] | None = None

    @property
    def parameters(self) -> dict[str, float]:
        return dict(self.model_extra or {})


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(gt=0, le=100)
    measures: dict[str, MeasureConfig] = Field(min_length=1)

    def measure_weights(self) -> dict[str, float]:
        """Weights in the dimension: as configured, or equal when none is given."""
        if all(measure.weight is None for measure in self.measures.values()):
            return {name: 1 / len(self.measures) for name in self.measures}
        return {name: measure.weight for name, measure in self.measures.items()}


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    min_score: float = Field(ge=0, le=100)
    colour: str = Field(pattern="^(green|yellow|red)$")
    review_cadence: str = Field(pattern="^(weekly|bi-weekly|monthly)$")


class Scorecard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    low_data_below: float = Field(0.5, ge=0, le=1)
    band_points: dict[str, float] = Field(default_factory=dict)
    dimensions: dict[str, Dimension] = Field(min_length=1)
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        problems = [*self._dimension_problems(), *self._measure_problems(), *self._tier_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _dimension_problems(self) -> list[str]:
        problems = [
            f"dimensions.{name}: unknown dimension; use one of {', '.join(DIMENSIONS)}"
            for name in self.dimensions
            if name not in DIMENSIONS
        ]
        total = sum(dimension.weight for dimension in self.dimensions.values())
        if abs(total - 100) > 1e-6:
            problems.append(f"dimensions: weights add up to {total:g}, not 100")
        for name, dimension in self.dimensions.items():
            given = [m.weight for m in dimension.measures.values()]
            if any(weight is None for weight in given) and any(w is not None for w in given):
                problems.append(
                    f"dimensions.{name}.measures: give every measure a weight, "
                    "or none (equal weights)"
                )
            elif given[0] is not None and abs(sum(given) - 1) > 1e-6:
                problems.append(
                    f"dimensions.{name}.measures: weights add up to {sum(given):g}, not 1"
                )
        return problems

    def _measure_problems(self) -> list[str]:
        problems = []
        seen: set[str] = set()
        for dimension_name, dimension in self.dimensions.items():
            for name, measure in dimension.measures.items():
                key = f"dimensions.{dimension_name}.measures.{name}"
                if name not in MEASURES:
                    problems.append(f"{key}: unknown measure; known: {', '.join(MEASURES)}")
                    continue
                if name in seen:
                    problems.append(f"{key}: measure used twice in the scorecard")
                seen.add(name)
                problems += parameter_problems(key, name, measure.parameters)
                problems += self._band_problems(key, name, measure)
        return problems

    def _band_problems(self, key: str, name: str, measure: MeasureConfig) -> list[str]:
        if not measure.bands:
            return (
                [f"{key}.bands: this measure is scored by bands; give them"]
                if MEASURES[name].banded
                else []
            )
        problems = [
            f"{key}.bands.{position}.band: '{band.band}' has no points in band_points"
            for position, band in enumerate(measure.bands)
            if band.band not in self.band_points
        ]
        if measure.bands[-1].comparison[0] != "otherwise":
            problems.append(
                f"{key}.bands: the last band must have no bound, so every value lands in a band"
            )
        return problems

    def _tier_problems(self) -> list[str]:
        scores = [tier.min_score for tier in self.tiers]
        problems = []
        if any(later >= earlier for earlier, later in zip(scores, scores[1:], strict=False)):
            problems.append("tiers: min_score must go down from the first tier to the last")
        if scores[-1] != 0:
            problems.append("tiers: the last tier must have min_score 0")
        problems += [
            f"band_points.{band}: must be within 0..100"
            for band, points in self.band_points.items()
            if not 0 <= points <= 100
        ]
        return problems

    def measures(self) -> list[tuple[str, str, float, float, MeasureConfig]]:
        """(dimension, measure, dimension weight, weight in dimension, config) rows."""
        return [
            (dimension_name, name, dimension.weight, weight, dimension.measures[name])
            for dimension_name, dimension in self.dimensions.items()
            for name, weight in dimension.measure_weights().items()
        ]


# Measure parameters the SQL divides by, and those that are a 0..1 value or share.
DIVISOR_PARAMETERS = {"expected_logins_per_seat_week", "target_growth", "min_baseline"}
SHARE_PARAMETERS = {"within_grace_value", "min_email_response"}


def parameter_problems(key: str, measure: str, given: dict) -> list[str]:
    expected = measure_parameters(measure)
    problems = [
        f"{key}.{name}: unknown setting for {measure}; it takes "
        f"{', '.join(sorted(expected)) or 'none'}"
        for name in sorted(set(given) - expected)
    ]
    problems += [f"{key}.{name}: missing" for name in sorted(expected - set(given))]
    for name in sorted(expected & set(given)):
        value = given[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key}.{name}: must be a number, got {value!r}")
        elif not math.isfinite(value):
            problems.append(f"{key}.{name}: must be a finite number, got {value!r}")
        elif name.endswith("_days") and (value <= 0 or value != int(value)):
            problems.append(f"{key}.{name}: must be a positive whole number of days")
        elif name in DIVISOR_PARAMETERS and value <= 0:
            problems.append(f"{key}.{name}: must be > 0 (the measure divides by it)")
        elif name in SHARE_PARAMETERS and not 0 <= value <= 1:
            problems.append(f"{key}.{name}: must be within 0..1")
        elif value < 0:
            problems.append(f"{key}.{name}: must not be negative")
    return problems


def scorecard_path(name_or_file: str) -> Path:
    """A shipped scorecard's name (`four_component`) or the path of a YAML file."""
    if name_or_file.endswith((".yaml", ".yml")) or "/" in name_or_file:
        return Path(name_or_file).expanduser().resolve()
    path = SCORECARD_DIR / f"{name_or_file}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in SCORECARD_DIR.glob("*.yaml"))
        raise ConfigError(
            f"unknown scorecard '{name_or_file}': use one of "
            f"{', '.join(shipped)} or the path of a YAML file"
        )
    return path


def load_scorecard(name_or_file: str) -> Scorecard:
    return load_config(Scorecard, scorecard_path(name_or_file))


def scorecards_by_segment(default: str, by_segment: dict[str, str]) -> dict[str, Scorecard]:
    """The scorecard of each segment: its own from `by_segment`, else `default`."""
    loaded: dict[str, Scorecard] = {}
    for choice in {default, *by_segment.values()}:
        loaded[choice] = load_scorecard(choice)
    names: dict[str, str] = {}
    for choice, scorecard in loaded.items():
        if names.setdefault(scorecard.name, choice) != choice:
            raise ConfigError(
                f"two scorecards are named '{scorecard.name}': {names[scorecard.name]} and {choice}"
            )
    return {segment: loaded[by_segment.get(segment, default)] for segment in SEGMENTS}
