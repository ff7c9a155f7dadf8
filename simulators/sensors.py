"""Pure, seeded value model of simulated sensors: baselines by kind and place, daily cycles, gas events.

Nothing here does I/O or reads the clock: every value is a function of the seed, the device, the
timestamps asked for and the order they are asked in, so tests can pin the numbers down.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from simulators.physics import Physics, SpaceAir
from twin.kinds import DeviceKind, MetricSpec, SpaceKind
from twin.twin import DevicePlace, Twin

log = logging.getLogger(__name__)

LOCAL_UTC_OFFSET_S = 8 * 3600  # China Standard Time (no daylight saving): drives the daily cycles
GAS_KINDS = frozenset(
    {
        DeviceKind.CO_SENSOR,
        DeviceKind.CH4_SENSOR,
        DeviceKind.H2S_SENSOR,
        DeviceKind.O2_SENSOR,
        DeviceKind.LEL_SENSOR,
        DeviceKind.MULTI_GAS,
    }
)
UNDERGROUND = frozenset(
    {SpaceKind.BASEMENT_GARAGE, SpaceKind.CELLAR, SpaceKind.SEPTIC_TANK, SpaceKind.SEWER_WELL}
)
OUTDOOR = frozenset({SpaceKind.OUTDOOR, SpaceKind.CONSTRUCTION_SITE, SpaceKind.ROOF})
DIGITS = {
    "co": 1,
    "h2s": 1,
    "o2": 2,
    "ch4": 1,
    "lel": 1,
    "temperature": 1,
    "humidity": 1,
    "battery": 1,
    "rssi": 0,
    "current": 2,
    "pressed": 0,
}
BATTERY_LIFE_S = 2.5 * 365 * 86400  # a full battery lasts about 2.5 years at the nominal rate
EVENT_END_STRENGTH = 0.01
# noise of each gas sensor (one standard deviation, in the metric's unit)
SIGMA = {"co": 0.3, "o2": 0.03, "h2s": 0.08, "ch4": 0.12, "lel": 0.12}

# What a gas event does to each metric at full strength, per space kind: one scenario is drawn per event.
Scenario = dict[str, tuple[float, float]]
SCENARIOS: dict[SpaceKind, list[Scenario]] = {
    SpaceKind.BASEMENT_GARAGE: [{"co": (80, 200)}],
    SpaceKind.SEPTIC_TANK: [{"h2s": (15, 30), "ch4": (10, 35), "o2": (-2.5, -1.0)}],
    SpaceKind.SEWER_WELL: [{"h2s": (10, 25), "ch4": (8, 30), "o2": (-2.0, -0.5)}],
    SpaceKind.CELLAR: [{"co": (30, 80), "o2": (-1.5, -0.5)}],
    SpaceKind.KITCHEN: [{"lel": (15, 45), "ch4": (15, 45)}, {"co": (40, 120)}],
    SpaceKind.PLANT_ROOM: [{"lel": (10, 35), "ch4": (10, 35)}],
}
DEFAULT_SCENARIOS: list[Scenario] = [{"co": (30, 70)}, {"lel": (8, 25), "ch4": (8, 25)}]


class Reading(NamedTuple):
    """One simulated reading: the device, its measurement time (epoch ms) and metric values."""

    device_id: str
    ts: int
    metrics: dict[str, float]


@dataclass(frozen=True, slots=True)
class GasEvent:
    """A gas release in one space: a smooth rise, a plateau, then an exponential decay."""

    space_id: str
    start_ms: int
    rise_s: float
    hold_s: float
    decay_s: float  # time constant of the decay
    deltas: Mapping[str, float]  # change of each metric at full strength (negative for oxygen)
    origin: tuple[float, float] | None = None  # floor-plan position where it is strongest

    def strength(self, ts_ms: int) -> float:
        """0 before the start, rising to 1, holding, then decaying towards 0."""
        t = (ts_ms - self.start_ms) / 1000.0
        if t <= 0:
            return 0.0
        if t < self.rise_s:
            u = t / self.rise_s
            return u * u * (3.0 - 2.0 * u)
        if t < self.rise_s + self.hold_s:
            return 1.0
        return math.exp(-(t - self.rise_s - self.hold_s) / self.decay_s)

    @property
    def end_ms(self) -> int:
        """When the event has faded below 1 % of its peak."""
        tail = self.decay_s * math.log(1.0 / EVENT_END_STRENGTH)
        return self.start_ms + int((self.rise_s + self.hold_s + tail) * 1000)

    def weight_at(self, position: tuple[float, float] | None) -> float:
        """How much of the event a sensor at `position` sees: 1 at the origin, less further away."""
        if self.origin is None or position is None:
            return 1.0
        dist = math.dist(self.origin, position)
        return max(0.25, 1.0 - 1.2 * dist)


@dataclass(slots=True)
class SpaceSim:
    """A space's gas events; every gas sensor in it sees them."""

    space_id: str
    kind: SpaceKind
    confined: bool
    events: list[GasEvent] = field(default_factory=list)
    air: SpaceAir | None = None  # with physics: the space's air levels and fans drive the readings

    def active(self, ts_ms: int) -> GasEvent | None:
        """The event under way at ts_ms, dropping those that have ended."""
        self.events = [e for e in self.events if e.end_ms > ts_ms]
        return next((e for e in self.events if e.start_ms <= ts_ms), None)

    def delta(self, metric: str, ts_ms: int, position: tuple[float, float] | None) -> float:
        """Sum of the events' effect on `metric` at ts_ms for a sensor at `position`."""
        total = 0.0
        for e in self.events:
            if metric in e.deltas:
                total += e.deltas[metric] * e.strength(ts_ms) * e.weight_at(position)
        return total


def _bump(hour: float, centre: float, width: float) -> float:
    """A Gaussian bump over the hour of day (no wrap needed for daytime centres)."""
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def local_hour(ts_ms: int) -> float:
    """Hour of day, 0..24, in China Standard Time."""
    return ((ts_ms / 1000.0 + LOCAL_UTC_OFFSET_S) % 86400.0) / 3600.0


class DeviceSim:
    """One simulated device: its own random stream, zero offsets, slow drift and battery."""

    def __init__(self, place: DevicePlace, space: SpaceSim, seed: int) -> None:
        self.place = place
        self.space = space
        self.rng = random.Random(f"{seed}/device/{place.device_id}")
        pos = place.spec.position
        self.position = None if pos is None else (pos.x, pos.y)
        self.underground = space.kind in UNDERGROUND or (place.floor_level or 0) < 0
        r = self.rng
        self.offset = {
            "co": r.uniform(-0.5, 1.5),
            "h2s": r.uniform(0.0, 0.4),
            "o2": r.uniform(-0.15, 0.1),
            "ch4": r.uniform(0.0, 0.6),
            "lel": r.uniform(0.0, 0.6),
            "temperature": r.uniform(-1, 1),
            "humidity": r.uniform(-4, 4),
        }
        self.drift: dict[str, float] = dict.fromkeys(self.offset, 0.0)
        self.battery0 = r.uniform(10, 25) if r.random() < 0.03 else r.uniform(55, 100)
        self.drain_per_s = 100.0 / BATTERY_LIFE_S * r.uniform(0.7, 1.6)
        self.rssi0 = r.uniform(-108, -86) if self.underground else r.uniform(-85, -55)
        self.first_ts: int | None = None

    @property
    def device_id(self) -> str:
        """The simulated device's id."""
        return self.place.device_id

    def read(self, ts_ms: int, event_probability: float) -> dict[str, float]:
        """The metrics this device reports at ts_ms, clamped to its valid ranges."""
        if self.first_ts is None:
            self.first_ts = ts_ms
        out: dict[str, float] = {}
        for metric, spec in self.place.metrics.items():
            value = self._value(metric, ts_ms, event_probability)
            if value is not None:
                out[metric] = _clamp(round(value, DIGITS.get(metric, 2)), spec)
        return out

    def maybe_start_event(self, ts_ms: int, probability: float) -> GasEvent | None:
        """Roll for a gas event in this device's space; at most one runs in a space at a time."""
        roll = self.rng.random()
        if self.place.kind not in GAS_KINDS or roll >= probability or self.space.active(ts_ms) is not None:
            return None
        event = make_event(self.rng, self.space, ts_ms, origin=self.position)
        self.space.events.append(event)
        return event

    def _noisy(self, metric: str, sigma: float) -> float:
        d = 0.95 * self.drift[metric] + self.rng.gauss(0.0, sigma * 0.3)
        self.drift[metric] = d
        return self.offset[metric] + d + self.rng.gauss(0.0, sigma)

    def _value(self, metric: str, ts_ms: int, p: float) -> float | None:
        kind, hour = self.space.kind, local_hour(ts_ms)
        gas = self.space.delta(metric, ts_ms, self.position)
        if self.space.air is not None:
            physical = self._physical(self.space.air, metric)
            if physical is not None:
                return physical + gas * self.space.air.dilution
        if metric == "co":
            return _co_base(kind, hour) + self._noisy("co", 0.3) + gas
        if metric == "o2":
            return (20.6 if self.space.confined else 20.9) + self._noisy("o2", 0.03) + gas
        if metric == "h2s":
            base = {SpaceKind.SEPTIC_TANK: 0.5, SpaceKind.SEWER_WELL: 0.3}.get(kind, 0.0)
            return base + self._noisy("h2s", 0.08) + gas
        if metric in ("ch4", "lel"):
            base = {SpaceKind.SEPTIC_TANK: 1.0, SpaceKind.SEWER_WELL: 0.7, SpaceKind.PLANT_ROOM: 0.3}.get(
                kind, 0.1
            )
            if kind == SpaceKind.KITCHEN:
                base = 0.3 + 0.8 * (_bump(hour, 11.8, 0.7) + _bump(hour, 18.2, 0.8))
            return base + self._noisy(metric, 0.12) + gas
        if metric in ("temperature", "humidity"):
            return self._climate(metric, hour)
        if metric == "battery":
            return self.battery0 - self.drain_per_s * (ts_ms - (self.first_ts or ts_ms)) / 1000.0
        if metric == "rssi":
            return self.rssi0 + self.rng.gauss(0.0, 2.5)
        if metric == "current":
            return 0.0  # fans idle; the physics issue drives this from actuator state
        if metric == "pressed":
            return 1.0 if self.rng.random() < p * 0.1 else 0.0
        log.debug("no value model for metric %s of %s; not reported", metric, self.device_id)
        return None

    def _physical(self, air: SpaceAir, metric: str) -> float | None:
        """A reading from the space's air (gas) or this fan's motor (current); None if physics has none."""
        if metric == "current":
            fan = next((f for f in air.fans if f.device_id == self.device_id), None)
            return None if fan is None else fan.current_a() * (1.0 + self.rng.gauss(0.0, 0.02))
        level = air.reading(metric) if metric in SIGMA else None
        return None if level is None else level + self._noisy(metric, SIGMA[metric])

    def _climate(self, metric: str, hour: float) -> float:
        """Shenzhen-like daily cycle: hotter in plant rooms, damped underground; humidity moves opposite."""
        c = math.cos(2.0 * math.pi * (hour - 15.0) / 24.0)  # warmest at 15:00
        if self.space.kind == SpaceKind.PLANT_ROOM:
            t, amp, h, h_amp = 30.0, 2.5, 55.0, 8.0
        elif self.space.kind in OUTDOOR:
            t, amp, h, h_amp = 24.0, 5.0, 72.0, 15.0
        elif self.underground:
            t, amp, h, h_amp = 26.5, 1.0, 78.0, 3.0
        else:
            t, amp, h, h_amp = 25.5, 1.5, 62.0, 6.0
        damp = 0.5 if self.underground else 1.0
        if metric == "temperature":
            return t + damp * amp * c + self._noisy("temperature", 0.15)
        return h - damp * h_amp * c + self._noisy("humidity", 0.8)


def _co_base(kind: SpaceKind, hour: float) -> float:
    """CO background in ppm: garages get morning and evening rush-hour bumps, kitchens meal times."""
    if kind == SpaceKind.BASEMENT_GARAGE:
        return 2.5 + 5.5 * _bump(hour, 8.3, 0.9) + 6.5 * _bump(hour, 18.6, 1.1)
    if kind == SpaceKind.KITCHEN:
        return 1.0 + 3.0 * (_bump(hour, 11.8, 0.7) + _bump(hour, 18.2, 0.8))
    return 0.6


def _clamp(value: float, spec: MetricSpec) -> float:
    return min(max(value, spec.min), spec.max)


def make_event(
    rng: random.Random,
    space: SpaceSim,
    ts_ms: int,
    *,
    origin: tuple[float, float] | None = None,
    scenario: Scenario | None = None,
) -> GasEvent:
    """Draw a gas event for `space` starting at ts_ms (minutes of rise, plateau and decay)."""
    chosen = scenario or rng.choice(SCENARIOS.get(space.kind, DEFAULT_SCENARIOS))
    return GasEvent(
        space_id=space.space_id,
        start_ms=ts_ms,
        rise_s=rng.uniform(60, 300),
        hold_s=rng.uniform(60, 300),
        decay_s=rng.uniform(120, 420),
        deltas={m: rng.uniform(lo, hi) for m, (lo, hi) in chosen.items()},
        origin=origin,
    )


class SensorFleet:
    """Every device of a twin that reports metrics, with the spaces they share gas events through."""

    def __init__(
        self,
        twin: Twin,
        *,
        seed: int = 0,
        event_probability: float = 0.002,
        on_event: Callable[[GasEvent], None] | None = None,
    ) -> None:
        self.seed = seed
        self.event_probability = event_probability
        self.on_event = on_event
        self.rng = random.Random(f"{seed}/fleet")
        self.spaces = {
            sid: SpaceSim(space_id=sid, kind=s.kind, confined=s.confined) for sid, s in twin.spaces.items()
        }
        self.devices = {
            d.device_id: DeviceSim(d, self.spaces[d.space], seed) for d in twin.devices.values() if d.metrics
        }
        self.physics: Physics | None = None

    def read(self, device_id: str, ts_ms: int) -> Reading:
        """One reading of one device at ts_ms (may start a gas event in its space first)."""
        dev = self.devices[device_id]
        event = dev.maybe_start_event(ts_ms, self.event_probability)
        if event is not None and self.on_event is not None:
            self.on_event(event)
        return Reading(device_id, ts_ms, dev.read(ts_ms, self.event_probability))

    def read_many(self, device_ids: Iterable[str], ts_ms: int) -> list[Reading]:
        """Readings of several devices at the same instant, in the order given (the air moved to ts_ms)."""
        if self.physics is not None:
            self.physics.advance(ts_ms)
        return [self.read(d, ts_ms) for d in device_ids]

    def attach_physics(self, physics: Physics) -> Physics:
        """Drive the gas readings from the air of each space (and its fans) from now on."""
        self.physics = physics
        for sid, space in self.spaces.items():
            space.air = physics.spaces[sid]
        return physics

    def trigger_event(
        self,
        space_id: str,
        ts_ms: int,
        *,
        scenario: Scenario | None = None,
        rise_s: float | None = None,
        hold_s: float | None = None,
        decay_s: float | None = None,
    ) -> GasEvent:
        """Start a gas event in a space now, e.g. for a demo or a test; omitted parts are drawn."""
        space = self.spaces[space_id]
        event = make_event(self.rng, space, ts_ms, scenario=scenario)
        event = GasEvent(
            space_id=space_id,
            start_ms=ts_ms,
            rise_s=event.rise_s if rise_s is None else rise_s,
            hold_s=event.hold_s if hold_s is None else hold_s,
            decay_s=event.decay_s if decay_s is None else decay_s,
            deltas=event.deltas,
        )
        space.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def active_events(self, ts_ms: int) -> list[GasEvent]:
        """Gas events under way at ts_ms, in every space."""
        return [e for s in self.spaces.values() if (e := s.active(ts_ms)) is not None]
