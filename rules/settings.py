"""Settings of the rule engine: one section of SafeTwin's settings (`rules`), extra keys refused."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CHINA_TZ = "Asia/Shanghai"
_CHINA_FIXED = timezone(timedelta(hours=8), "CST")  # China has had no daylight saving since 1991


def zone(name: str) -> tzinfo:
    """The time zone `name`; China Standard Time (UTC+8) when the zone database lacks Asia/Shanghai."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name == CHINA_TZ:
            return _CHINA_FIXED
        raise


class WorkingHours(BaseModel):
    """When a site works: camera rules such as 'no helmet' apply only then."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = Field(time(7, 0), description="Start of the working day, local time (HH:MM)")
    end: time = Field(
        time(19, 0), description="End of the working day, local time (HH:MM); before start: overnight"
    )
    days: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6],
        description="Working days, ISO numbers: 1 Monday .. 7 Sunday",
    )
    tz: str = Field(CHINA_TZ, description="IANA time zone of the hours (China time by default)")

    @field_validator("days")
    @classmethod
    def _check_days(cls, days: list[int]) -> list[int]:
        if not days or any(not 1 <= d <= 7 for d in days):
            raise ValueError("days are ISO weekday numbers 1 (Monday) .. 7 (Sunday), at least one")
        return sorted(set(days))

    @field_validator("tz")
    @classmethod
    def _check_tz(cls, name: str) -> str:
        try:
            zone(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {name!r}; use an IANA name such as {CHINA_TZ!r}") from err
        return name

    def contains(self, ts_ms: int) -> bool:
        """True when the instant `ts_ms` (epoch ms) falls within working hours."""
        local = datetime.fromtimestamp(ts_ms / 1000, zone(self.tz))
        clock = local.time()
        if self.start <= self.end:
            return local.isoweekday() in self.days and self.start <= clock < self.end
        if clock >= self.start:  # overnight shift: the part before midnight belongs to today
            return local.isoweekday() in self.days
        yesterday = (local - timedelta(days=1)).isoweekday()
        return clock < self.end and yesterday in self.days


class RuleSettings(BaseModel):
    """The `rules` section: which packs to load and how the engine behaves."""

    model_config = ConfigDict(extra="forbid")

    packs: list[Path] | None = Field(
        None, description="Rule pack YAML files to load; unset: the packs shipped in rules/packs"
    )
    extra_packs: list[Path] = Field(
        default_factory=list, description="Further pack files loaded after `packs` (site-specific rules)"
    )
    disabled_rules: list[str] = Field(
        default_factory=list, description="Rule ids switched off in this deployment"
    )
    tick_interval_s: float = Field(1.0, gt=0, le=60, description="How often RuleEngine.tick runs, seconds")
    snapshot_interval_s: float = Field(
        10.0, gt=0, description="How often rule state (timers, windows) is saved for a restart, seconds"
    )
    sample_hold_s: float = Field(
        300.0,
        gt=0,
        description="Longest time a reading is taken to hold its value: a pending on-delay or off-delay "
        "completes on tick only while the last reading is younger than this, seconds",
    )
    evidence_samples: int = Field(
        10, ge=1, le=100, description="Most (ts, value) samples an alarm's evidence carries"
    )
    anomaly_retrain_interval_s: float = Field(
        86_400.0, gt=0, description="How often anomaly models are trained again from history, seconds"
    )
    anomaly_workers: int = Field(
        1, ge=1, le=16, description="Processes that train anomaly models (never the event loop's)"
    )
    working_hours: WorkingHours = Field(
        default_factory=WorkingHours,
        description="Working hours for camera rules that apply only then, unless a rule sets its own",
    )

    @model_validator(mode="after")
    def _check_packs(self) -> RuleSettings:
        if self.packs is not None and not self.packs and not self.extra_packs:
            raise ValueError("packs is an empty list and extra_packs is empty: no rule would be loaded")
        return self
