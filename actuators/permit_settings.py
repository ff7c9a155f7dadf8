"""Settings of confined-space entry permits: ventilation and gas windows, and the limits for work.

Limits for entry and for staying inside, with their sources (values as rules/packs/confined_space.yaml
already uses them where it has them):
- O2 19.5-23.5 %vol: GB 8958-2006 deficiency below 19.5 %vol (clause 3.1, from memory: verify);
  GBZ/T 205-2007 oxygen-enriched above 23.5 %; OSHA 29 CFR 1910.146(b) "hazardous atmosphere" the same.
- Combustible gas below 10 %LEL: OSHA 29 CFR 1910.146(b) "hazardous atmosphere" (flammable gas in
  excess of 10 % of its LFL), well under GB/T 50493-2019 5.5.2's first alarm stage (25 %LEL).
- H2S below 7 ppm: GBZ 2.1-2019 Table 1 MAC 10 mg/m3 = 7.06 ppm at 20 degC (the pack's alarm level).
- CO below 17 ppm: GBZ 2.1-2019 Table 1 PC-TWA 20 mg/m3 = 17.2 ppm (the pack's TWA limit): people
  work inside for a shift, so the time-weighted limit applies, not the 25 ppm short-term one.
- "Ventilate first, then test, then work" (先通风、再检测、后作业): the order is the national rule for
  confined spaces; the 30-minute ventilation and 5-minute clean-air windows are practice (many local
  confined-space rules ask for at least 30 minutes of ventilation: verify against the site's own).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

WATCHED = ("o2", "lel", "ch4", "h2s", "co")


class GasLimits(BaseModel):
    """The air a person may enter and work in."""

    model_config = ConfigDict(extra="forbid")

    o2_min: float = Field(19.5, ge=0, le=30, description="Lowest oxygen, %vol (GB 8958-2006)")
    o2_max: float = Field(23.5, ge=0, le=30, description="Highest oxygen, %vol (GBZ/T 205-2007)")
    lel_max: float = Field(10.0, gt=0, le=100, description="Combustible gas must stay below, %LEL")
    h2s_max: float = Field(7.0, gt=0, description="H2S must stay below, ppm (MAC 10 mg/m3, GBZ 2.1-2019)")
    co_max: float = Field(17.0, gt=0, description="CO must stay below, ppm (PC-TWA 20 mg/m3, GBZ 2.1-2019)")

    @model_validator(mode="after")
    def _order(self) -> GasLimits:
        if self.o2_min >= self.o2_max:
            raise ValueError("o2_min must be below o2_max")
        return self

    def breach(self, metric: str, value: float) -> str | None:
        """Why `value` of `metric` is not fit for work, or None if it is (or the metric is not a gas)."""
        if metric == "o2":
            if value < self.o2_min:
                return f"O2 {value:g} %vol is below {self.o2_min:g} %vol"
            if value > self.o2_max:
                return f"O2 {value:g} %vol is above {self.o2_max:g} %vol"
            return None
        limit = {"lel": self.lel_max, "ch4": self.lel_max, "h2s": self.h2s_max, "co": self.co_max}.get(metric)
        if limit is None or value < limit:
            return None
        unit = "%LEL" if metric in ("lel", "ch4") else "ppm"
        return f"{metric.upper()} {value:g} {unit} is not below {limit:g} {unit}"


class PermitSettings(BaseModel):
    """Confined-space entry permits."""

    model_config = ConfigDict(extra="forbid")

    ventilation_min_s: float = Field(1800, ge=0, description="Fans must have run this long, seconds")
    gas_stable_s: float = Field(300, ge=0, description="Every gas within limits for this long, seconds")
    max_reading_age_s: float = Field(
        120, gt=0, description="A gas value older than this is no test; an open permit loses it: stop-work"
    )
    required_metrics: list[str] = Field(
        default_factory=lambda: ["o2", "lel", "h2s", "co"],
        description="Gases that must be measured in the space (ch4 in %LEL counts as lel)",
    )
    limits: GasLimits = Field(default_factory=GasLimits)
    stop_work_text: str = Field(
        "{space}{what}！立即停止作业，全体人员马上撤离！",
        description="Broadcast and notification on a breach; {space}, {what} (spoken), {reason}, {permit}",
    )
    notify_channels: list[str] = Field(
        default_factory=lambda: ["sms", "push"], description="Channels of the stop-work notification"
    )
    volume: int = Field(100, ge=0, le=100, description="Speaker volume of the stop-work broadcast, percent")
    repeat: int = Field(3, ge=1, le=10, description="Times the stop-work broadcast is played")
    keep_closed: int = Field(500, ge=0, description="Closed, revoked and refused permits kept in the store")

    @model_validator(mode="after")
    def _known_metrics(self) -> PermitSettings:
        unknown = sorted(set(self.required_metrics) - set(WATCHED))
        if unknown:
            raise ValueError(
                f"required_metrics: {', '.join(unknown)} unknown; use some of {', '.join(WATCHED)}"
            )
        return self
