"""Pipeline settings: YAML validated by Pydantic, with errors that name the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETTINGS_FILE = REPO_ROOT / "config" / "pipeline.yaml"


class ConfigError(ValueError):
    """A configuration file is missing or holds a bad value."""


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Model = TypeVar("Model", bound=BaseModel)


class SegmentThresholds(BaseModel):
    """Segment by ARR in USD: enterprise above `enterprise_above`, mid_market from
    `mid_market_from` up to it, smb below."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enterprise_above: float = Field(100_000, gt=0)
    mid_market_from: float = Field(25_000, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> SegmentThresholds:
        if self.mid_market_from > self.enterprise_above:
            raise ValueError("mid_market_from must not be above enterprise_above")
        return self


class GrrTargets(BaseModel):
    """Annual gross revenue retention targets, as ratios (0.9 = 90%), by retention group:
    the whole book (`all`), each CSM, and each segment; null means no target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: float | None = Field(0.90, gt=0, le=1)
    csm: float | None = Field(0.90, gt=0, le=1)
    enterprise: float | None = Field(0.90, gt=0, le=1)
    mid_market: float | None = Field(0.85, gt=0, le=1)
    smb: float | None = Field(None, gt=0, le=1)


class RetentionTargets(BaseModel):
    """The playbook's annual targets, shown beside the trailing-twelve-months rows of
    mart.retention. Ratios: NRR 1.1 = 110%."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grr: GrrTargets = Field(default_factory=lambda: GrrTargets())
    nrr: float | None = Field(1.10, gt=0, le=5)
    logo_retention: float | None = Field(0.95, gt=0, le=1)


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_reject_ratio: float = Field(0.05, ge=0, le=1)
    min_rows_for_reject_ratio: int = Field(20, ge=0)
    max_snapshot_drop: float = Field(0.5, ge=0, le=1)
    ready_datasets: list[str] = ["crm_accounts"]
    plan_tiers: list[str] = Field(default_factory=lambda: ["starter", "professional", "enterprise"])
    partitions_start: dt.date = dt.date(2026, 1, 1)
    schedule_hour: int = Field(2, ge=0, le=23)
    schedule_timezone: str = "UTC"
    duckdb_memory_limit: str = Field("2GB", pattern=r"^\d+(\.\d+)?\s*(MB|GB|MiB|GiB)$")
    raw_compression: Literal["uncompressed", "lz4", "snappy", "zstd"] = "uncompressed"
    scorecard: str = "five_dimension"
    scorecard_by_segment: dict[Literal["enterprise", "mid_market", "smb"], str] = Field(
        default_factory=dict
    )
    segments: SegmentThresholds = Field(default_factory=lambda: SegmentThresholds())
    history_days: int = Field(400, ge=31)
    retention_targets: RetentionTargets = Field(default_factory=lambda: RetentionTargets())

    @field_validator("ready_datasets")
    @classmethod
    def _known_datasets(cls, value: list[str]) -> list[str]:
        from schemas.extracts import DATASETS

        unknown = sorted(set(value) - set(DATASETS))
        if unknown:
            raise ValueError(f"unknown dataset(s) {unknown}; known: {sorted(DATASETS)}")
        return sorted(set(value) | {"crm_accounts"})

    @field_validator("schedule_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}' (an IANA name such as Europe/Berlin)"
            ) from None
        return value

    @field_validator("plan_tiers")
    @classmethod
    def _distinct_tiers(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError("must be a non-empty list of distinct tier names")
        return value


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per bad value, each naming the key it came from."""
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        key = ".".join(str(part) for part in item["loc"])
        lines.append(f"{source}: {key}: {message}" if key else f"{source}: {message}")
    return "; ".join(lines)


# libyaml's safe loader when PyYAML was built with it: the same values, several times
# faster (every step reads the settings and scorecards again).
FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str):
    """The value a YAML text holds. Broken YAML is read again by the pure-Python loader,
    which points at the line and column where it broke (libyaml points further on)."""
    try:
        return yaml.load(text, Loader=FAST_SAFE_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def load_yaml(path: Path) -> dict:
    """The mapping a config file holds; any reason it cannot be read is one line naming
    the file (and for broken YAML, where it broke)."""
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot be read: not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from exc
    except ValueError as exc:  # a date YAML recognises but the calendar lacks: 2026-13-01
        raise ConfigError(f"{path}: a value cannot be read: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values")
    return data


def load_config(model: type[Model], path: Path) -> Model:
    """The YAML file at `path` as `model`; ConfigError naming the file and key of a bad
    value."""
    try:
        return model.model_validate(load_yaml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None


def load_settings(path: Path | str | None = None) -> PipelineSettings:
    return load_config(PipelineSettings, Path(path) if path else DEFAULT_SETTINGS_FILE)
