"""Well-mixed air in each space: gas sources, natural ventilation and fans, solved exactly between steps.

Each space is one box of volume V (m3) exchanging air with outdoors at λ air changes per hour: the
natural rate of the space plus, for each running fan, its airflow at the current speed step over V.
A gas with outdoor level C_out and net source S (unit x m3 / h) follows

    dC/dt = S / V - λ (C - C_out)

so with S and λ held constant over a step the level moves exponentially, time constant 1/λ, towards
the equilibrium C_eq = C_out + S / (λ V).  Switching a fan on raises λ: the level falls faster and
settles lower.  Oxygen is the same equation with a negative source (fermentation consumes it).

Levels are kept per gas: ``co`` and ``h2s`` in ppm, ``ch4`` (methane) and ``lel`` (other combustible
gas, e.g. LPG) in %LEL, ``o2`` in %vol.  A combustible-gas sensor reads ``lel + ch4``; an oxygen
sensor sees oxygen displaced by methane too (5 %vol CH4 = 100 %LEL displaces about 1 %vol O2).
Nothing here does I/O or reads the clock: times are simulated epoch milliseconds passed in.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from twin.kinds import DeviceKind, SpaceKind
from twin.model import fan_airflow_m3_h
from twin.twin import Twin

GASES = ("co", "h2s", "ch4", "lel", "o2")
OUTDOOR: dict[str, float] = {"co": 0.5, "h2s": 0.0, "ch4": 0.0, "lel": 0.0, "o2": 20.9}
CO_PPM_M3_PER_G = 873.0  # 1 g of CO spread in 1 m3 of air at 25 °C is 873 ppm
FAN_SPEED_FRACTION = {1: 0.5, 2: 0.75, 3: 1.0}  # airflow of each speed step, fraction of full (fan laws)
FAN_RATED_RPM = 1450
O2_PER_LEL_CH4 = 0.05 * 0.209  # %vol O2 displaced per %LEL of methane (100 %LEL = 5 %vol)
LOCAL_UTC_OFFSET_S = 8 * 3600


def local_hour(sim_ms: int) -> float:
    """Hour of day, 0..24, China Standard Time."""
    return ((sim_ms / 1000.0 + LOCAL_UTC_OFFSET_S) % 86400.0) / 3600.0


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


# Built-in sources as the level (above outdoors) each would hold with only natural ventilation, by
# hour of day: the emission is that level x λ_natural x V.  A garage's CO follows car movements
# (rush hours); a kitchen's follows meal times; septic tanks and sewer wells ferment all day.
def _garage_co(hour: float) -> float:
    return 2.0 + 5.5 * _bump(hour, 8.3, 0.9) + 6.5 * _bump(hour, 18.6, 1.1)


def _kitchen_co(hour: float) -> float:
    return 0.5 + 3.0 * (_bump(hour, 11.8, 0.7) + _bump(hour, 18.2, 0.8))


def _kitchen_ch4(hour: float) -> float:
    return 0.3 + 0.8 * (_bump(hour, 11.8, 0.7) + _bump(hour, 18.2, 0.8))


Profile = Callable[[float], float]
BUILTIN: dict[SpaceKind, dict[str, Profile]] = {
    SpaceKind.BASEMENT_GARAGE: {"co": _garage_co},
    SpaceKind.KITCHEN: {"co": _kitchen_co, "ch4": _kitchen_ch4},
    SpaceKind.SEPTIC_TANK: {"h2s": lambda h: 0.5, "ch4": lambda h: 1.0, "o2": lambda h: -0.3},
    SpaceKind.SEWER_WELL: {"h2s": lambda h: 0.3, "ch4": lambda h: 0.7, "o2": lambda h: -0.2},
    SpaceKind.CELLAR: {"o2": lambda h: -0.1},
    SpaceKind.PLANT_ROOM: {"ch4": lambda h: 0.3},
}


@dataclass(slots=True)
class Fan:
    """A fan ventilating one space: airflow at full speed, what it was told, whether air really moves."""

    device_id: str
    airflow_m3_h: float
    rated_current_a: float = 5.8
    on: bool = False
    speed: int = 3
    moves_air: bool = True  # False: it runs (or says so) but no air moves, e.g. a broken belt

    def flow_m3_h(self) -> float:
        """Air it moves now, m3/h."""
        if not self.on or not self.moves_air:
            return 0.0
        return self.airflow_m3_h * FAN_SPEED_FRACTION.get(self.speed, 1.0)

    def rpm(self) -> int:
        """Shaft speed it reports: nominal for the step while on."""
        return round(FAN_RATED_RPM * FAN_SPEED_FRACTION.get(self.speed, 1.0)) if self.on else 0

    def current_a(self) -> float:
        """Motor current: cube of the speed fraction while on, a third of it with no load (broken belt)."""
        if not self.on:
            return 0.0
        frac = FAN_SPEED_FRACTION.get(self.speed, 1.0)
        load = 1.0 if self.moves_air else 0.3
        return self.rated_current_a * (0.15 + 0.85 * frac**3) * load


@dataclass(slots=True)
class Source:
    """An extra gas source in a space, unit x m3 per hour, from start to end (simulated epoch ms)."""

    gas: str
    rate: float
    start_ms: int
    end_ms: int | None = None
    label: str = ""
    valve: str | None = None  # a gas shut-off valve that stops it when closed
    shut: bool = False

    def active(self, sim_ms: int) -> bool:
        """Whether it emits at sim_ms."""
        return not self.shut and self.start_ms <= sim_ms and (self.end_ms is None or sim_ms < self.end_ms)


@dataclass(slots=True)
class SpaceAir:
    """The air of one space: levels of each gas, its ventilation and its sources."""

    space_id: str
    kind: SpaceKind
    volume_m3: float
    natural_ach: float
    fans: list[Fan] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    activity: float = 1.0  # multiplies the built-in sources: traffic in a garage, fermentation in a tank
    levels: dict[str, float] = field(default_factory=lambda: dict(OUTDOOR))
    # what is left of a release sized for natural ventilation (plain mode's gas events): follows
    # λ_natural / λ with the space's time constant, so fans thin it out as they would a source
    dilution: float = 1.0

    def air_changes_per_h(self) -> float:
        """λ now: natural air changes plus each running fan's airflow over the volume, 1/h."""
        return self.natural_ach + sum(f.flow_m3_h() for f in self.fans) / self.volume_m3

    def source_rate(self, gas: str, sim_ms: int) -> float:
        """Net emission of `gas` at sim_ms, unit x m3 / h (negative: consumed)."""
        rate = sum(s.rate for s in self.sources if s.gas == gas and s.active(sim_ms))
        profile = BUILTIN.get(self.kind, {}).get(gas)
        if profile is not None:
            rate += self.activity * profile(local_hour(sim_ms)) * self.natural_ach * self.volume_m3
        return rate

    def equilibrium(self, gas: str, sim_ms: int) -> float:
        """Level the gas settles at with today's sources and ventilation (inf if nothing ventilates)."""
        lam = self.air_changes_per_h()
        rate = self.source_rate(gas, sim_ms)
        if lam <= 0:
            return OUTDOOR[gas] if rate == 0 else math.copysign(math.inf, rate)
        return max(0.0, OUTDOOR[gas] + rate / (lam * self.volume_m3))

    def time_constant_s(self) -> float:
        """1/λ in seconds: how fast the air follows its equilibrium now."""
        lam = self.air_changes_per_h()
        return math.inf if lam <= 0 else 3600.0 / lam

    def step(self, start_ms: int, end_ms: int) -> None:
        """Advance every gas from start_ms to end_ms, sources and ventilation held as they are at start_ms."""
        dt_h = (end_ms - start_ms) / 3_600_000.0
        if dt_h <= 0:
            return
        lam = self.air_changes_per_h()
        decay = math.exp(-lam * dt_h)
        target = self.natural_ach / lam if lam > 0 else 1.0
        self.dilution = target + (self.dilution - target) * decay
        for gas in GASES:
            rate = self.source_rate(gas, start_ms)
            c = self.levels[gas]
            if lam > 0:
                eq = OUTDOOR[gas] + rate / (lam * self.volume_m3)
                c = eq + (c - eq) * decay
            else:
                c += rate / self.volume_m3 * dt_h
            self.levels[gas] = max(0.0, c)

    def settle(self, sim_ms: int) -> None:
        """Start every gas at its equilibrium (no warm-up transient)."""
        for gas in GASES:
            eq = self.equilibrium(gas, sim_ms)
            self.levels[gas] = eq if math.isfinite(eq) else OUTDOOR[gas]

    def reading(self, metric: str) -> float | None:
        """What a perfect sensor of `metric` reads in this space, or None if physics does not model it."""
        lv = self.levels
        if metric == "lel":
            return lv["lel"] + lv["ch4"]
        if metric == "o2":
            return lv["o2"] - O2_PER_LEL_CH4 * lv["ch4"]
        return lv.get(metric)


MAX_STEP_MS = 60_000  # sources change over time of day: integrate in steps of at most a simulated minute


class Physics:
    """The air of every space of a twin; fans found in the twin ventilate their space.

    One lock guards it: the simulator's loop advances it while command handlers switch fans from
    the MQTT thread (they advance it to the moment of switching first, so the switch is exact).
    """

    def __init__(self, twin: Twin, start_ms: int) -> None:
        self.lock = threading.RLock()
        self.now_ms = start_ms
        self.spaces: dict[str, SpaceAir] = {}
        self.fans: dict[str, Fan] = {}
        for sid, spec in twin.spaces.items():
            self.spaces[sid] = SpaceAir(sid, spec.kind, spec.volume(), spec.natural_air_changes())
        for place in twin.devices.values():
            if place.kind == DeviceKind.FAN:
                fan = Fan(
                    place.device_id,
                    fan_airflow_m3_h(place.spec, twin.spaces[place.space]),
                    rated_current_a=float(place.spec.meta.get("rated_current_a", 5.8)),
                )
                self.fans[place.device_id] = fan
                self.spaces[place.space].fans.append(fan)
        self.settle()

    def settle(self) -> None:
        """Every space at the equilibrium of its present sources and ventilation."""
        with self.lock:
            for air in self.spaces.values():
                air.settle(self.now_ms)

    def advance(self, sim_ms: int) -> None:
        """Move every space's air to sim_ms (no-op if already there or past)."""
        with self.lock:
            while self.now_ms < sim_ms:
                nxt = min(sim_ms, self.now_ms + MAX_STEP_MS)
                for air in self.spaces.values():
                    air.step(self.now_ms, nxt)
                self.now_ms = nxt

    def set_fan(self, device_id: str, sim_ms: int, *, on: bool, speed: int | None = None) -> Fan:
        """Switch a fan at sim_ms, the air advanced to that moment first."""
        with self.lock:
            self.advance(sim_ms)
            fan = self.fans[device_id]
            fan.on = on
            if speed is not None:
                fan.speed = speed
            return fan

    def set_valve(self, device_id: str, sim_ms: int, *, open_: bool) -> None:
        """Open or shut a gas valve at sim_ms: the sources it feeds stop or start again."""
        with self.lock:
            self.advance(sim_ms)
            for air in self.spaces.values():
                for src in air.sources:
                    if src.valve == device_id:
                        src.shut = not open_

    def add_source(self, space_id: str, source: Source) -> None:
        """Add a gas source to a space."""
        with self.lock:
            self.advance(source.start_ms)
            self.spaces[space_id].sources.append(source)

    def levels(self, space_ids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        """A copy of the levels of some spaces (all if None)."""
        with self.lock:
            ids = self.spaces if space_ids is None else space_ids
            return {sid: dict(self.spaces[sid].levels) for sid in ids}
