"""Injected faults: what a scenario does to a sensor's readings or to an actuator's answers.

Sensor faults change readings after the value model (stuck, drift, offset, noise, dropouts, a flat
battery, a skewed clock, a device gone offline); actuator faults change how a simulated actuator
answers commands (no airflow, no answer, a failure, a slow start).  Each is a config model with a
``type`` literal, gathered into discriminated unions, so a scenario file names them as data.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.sensors import Reading


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


class Stuck(_Fault):
    """The sensor repeats one value: the given one, else the last it read before the fault."""

    type: Literal["stuck"]
    metric: str | None = Field(None, description="Only this metric (default: every gas metric)")
    value: float | None = Field(None, description="Value it is stuck at; the last reading if unset")


class Drift(_Fault):
    """The zero drifts away by a fixed amount per simulated hour."""

    type: Literal["drift"]
    metric: str = Field(description="Metric that drifts")
    per_hour: float = Field(description="Drift per simulated hour, in the metric's unit")


class Offset(_Fault):
    """A fixed error, e.g. a sensor out of calibration."""

    type: Literal["offset"]
    metric: str = Field(description="Metric that is off")
    by: float = Field(description="Error added to every reading, in the metric's unit")


class Noise(_Fault):
    """Extra Gaussian noise, e.g. a failing cell or interference."""

    type: Literal["noise"]
    metric: str | None = Field(None, description="Only this metric (default: every metric)")
    sigma: float = Field(gt=0, description="Standard deviation, in the metric's unit")


class Dropout(_Fault):
    """Readings lost on the radio link."""

    type: Literal["dropout"]
    probability: float = Field(gt=0, le=1, description="Chance that a reading is lost, 0..1")


class Battery(_Fault):
    """The battery reads this level (e.g. nearly flat)."""

    type: Literal["battery"]
    level: float = Field(ge=0, le=100, description="Battery level reported, %")


class ClockSkew(_Fault):
    """The device clock is off: its readings carry a shifted timestamp."""

    type: Literal["clock_skew"]
    seconds: float = Field(description="How far ahead (positive) or behind the device clock is, s")


class NoAirflow(_Fault):
    """A fan acknowledges and reports running but moves no air (broken belt, blocked duct)."""

    type: Literal["no_airflow"]


class NoAnswer(_Fault):
    """An actuator that never answers commands (dead controller, lost wiring)."""

    type: Literal["no_answer"]


class Fail(_Fault):
    """An actuator that answers 'delivered' and then 'failed'."""

    type: Literal["fail"]
    detail: str = Field("motor protection tripped", max_length=200, description="Reason it reports")


class Slow(_Fault):
    """An actuator that takes a while between 'delivered' and 'succeeded' (a slow damper, a soft start)."""

    type: Literal["slow"]
    delay_s: float = Field(gt=0, le=3600, description="Wall-clock seconds between delivered and succeeded")


SensorFault = Annotated[
    Stuck | Drift | Offset | Noise | Dropout | Battery | ClockSkew, Field(discriminator="type")
]
ActuatorFault = Annotated[NoAirflow | NoAnswer | Fail | Slow, Field(discriminator="type")]
AnyFault = Annotated[
    Stuck | Drift | Offset | Noise | Dropout | Battery | ClockSkew | NoAirflow | NoAnswer | Fail | Slow,
    Field(discriminator="type"),
]
SENSOR_FAULTS = frozenset({"stuck", "drift", "offset", "noise", "dropout", "battery", "clock_skew"})
ACTUATOR_FAULTS = frozenset({"no_airflow", "no_answer", "fail", "slow"})
GAS_METRICS = frozenset({"co", "h2s", "o2", "ch4", "lel"})


Fault = _Fault


class SensorFaults:
    """The sensor faults active on each device, applied to readings in simulated time."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(f"{seed}/faults")
        self.active: dict[str, list[tuple[_Fault, int]]] = {}  # device -> (fault, since sim ms)
        self.offline: set[str] = set()
        self.last: dict[str, dict[str, float]] = {}  # last clean metrics per device, for 'stuck'

    def inject(self, device_id: str, fault: _Fault, sim_ms: int) -> None:
        """Start a fault on a device now; one of each type at a time (a new one replaces the old)."""
        kept = [(f, t) for f, t in self.active.get(device_id, []) if f.type != fault.type]
        self.active[device_id] = [*kept, (fault, sim_ms)]

    def clear(self, device_id: str, types: Iterable[str] | None = None) -> None:
        """End the device's faults of the given types (all if None)."""
        if types is None:
            self.active.pop(device_id, None)
            return
        drop = set(types)
        self.active[device_id] = [(f, t) for f, t in self.active.get(device_id, []) if f.type not in drop]

    def apply(self, reading: Reading, sim_ms: int, wall_ms: int) -> Reading | None:
        """The reading as the faulty device sends it, stamped at wall_ms (+ skew); None if it is lost."""
        dev = reading.device_id
        if dev in self.offline:
            return None
        faults = self.active.get(dev)
        if not faults:
            self.last[dev] = reading.metrics
            return Reading(dev, wall_ms, reading.metrics)
        metrics = dict(reading.metrics)
        ts = wall_ms
        for fault, since in faults:
            if isinstance(fault, Dropout) and self.rng.random() < fault.probability:
                return None
            if isinstance(fault, ClockSkew):
                ts = wall_ms + round(fault.seconds * 1000)
            else:
                self._change(dev, metrics, fault, (sim_ms - since) / 3_600_000.0)
        return Reading(dev, ts, {m: round(v, 3) for m, v in metrics.items()})

    def _change(self, device_id: str, metrics: dict[str, float], fault: _Fault, hours: float) -> None:
        if isinstance(fault, Drift | Offset) and fault.metric in metrics:
            metrics[fault.metric] += fault.per_hour * hours if isinstance(fault, Drift) else fault.by
        elif isinstance(fault, Noise):
            for m in [fault.metric] if fault.metric else list(metrics):
                if m in metrics:
                    metrics[m] += self.rng.gauss(0.0, fault.sigma)
        elif isinstance(fault, Battery) and "battery" in metrics:
            metrics["battery"] = fault.level
        elif isinstance(fault, Stuck):
            frozen = self.last.get(device_id, {})
            for m in [fault.metric] if fault.metric else [m for m in metrics if m in GAS_METRICS]:
                if m in metrics:
                    metrics[m] = fault.value if fault.value is not None else frozen.get(m, metrics[m])
