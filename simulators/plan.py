"""A scenario against the twin: references checked (file:line:field), the fleet cut down; its clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from core.contract import COMMAND_PARAMS
from simulators.faults import ACTUATOR_FAULTS
from simulators.scenario import (
    ActivityStep,
    ActuateStep,
    ClearFaultStep,
    DetectionStep,
    FaultStep,
    OfflineStep,
    OnlineStep,
    Scenario,
    ScenarioError,
    SourceStep,
    Step,
    _error,
)
from twin.kinds import ACTUATOR_KINDS, DeviceKind
from twin.model import FloorSpec, SpaceSpec, TwinSpec
from twin.twin import Twin

CHINA = timezone(timedelta(hours=8))


class SimClock:
    """Simulated time that runs `speed` times faster than the wall clock; the speed may change on the way."""

    def __init__(self, speed: float, sim_start_ms: int, wall_start_ms: int | None = None) -> None:
        self._lock = threading.Lock()
        wall = wall_start_ms if wall_start_ms is not None else time.time_ns() // 1_000_000
        self._base = (wall, sim_start_ms, speed)

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second now."""
        return self._base[2]

    def sim_ms(self, wall_ms: int | None = None) -> int:
        """Simulated epoch ms at a wall time (now if None)."""
        wall0, sim0, speed = self._base
        wall = wall_ms if wall_ms is not None else time.time_ns() // 1_000_000
        return sim0 + round((wall - wall0) * speed)

    def wall_ms(self, sim_ms: int) -> int:
        """Wall epoch ms at which simulated time reaches sim_ms, at the present speed."""
        wall0, sim0, speed = self._base
        return wall0 + round((sim_ms - sim0) / speed)

    def restart(self, wall_ms: int, sim_ms: int) -> None:
        """Simulated time sim_ms is now wall_ms (the speed kept)."""
        with self._lock:
            self._base = (wall_ms, sim_ms, self._base[2])

    def set_speed(self, speed: float, wall_ms: int | None = None) -> None:
        """Run at another speed from wall_ms (now if None) on, without a jump in simulated time."""
        with self._lock:
            wall = wall_ms if wall_ms is not None else time.time_ns() // 1_000_000
            self._base = (wall, self.sim_ms(wall), speed)


def sim_start_ms(start_time: str | None, wall_ms: int) -> int:
    """Simulated start: today (China time) at HH:MM, or the wall time itself."""
    if start_time is None:
        return wall_ms
    today = datetime.fromtimestamp(wall_ms / 1000, CHINA)
    hh, mm = (int(x) for x in start_time.split(":"))
    return int(today.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp() * 1000)


Fail = Callable[[tuple[int | str, ...], str], ScenarioError]


def check_against_twin(scenario: Scenario, twin: Twin, root: Any, filename: str) -> None:
    """Every device, space and camera a scenario names exists in the twin and is of the right kind."""

    def fail(loc: tuple[int | str, ...], msg: str) -> ScenarioError:
        return _error(root, filename, loc, msg)

    for i, dev in enumerate(scenario.devices):
        if dev not in twin.devices:
            raise fail(("devices", i), f"device {dev!r} is not in the twin")
    for i, space in enumerate(scenario.spaces):
        if space not in twin.spaces:
            raise fail(("spaces", i), f"space {space!r} is not in the twin")
    for space in scenario.air:
        if space not in twin.spaces:
            raise fail(("air", space), f"space {space!r} is not in the twin")
    for i, step in enumerate(scenario.timeline):

        def fail_step(field: tuple[int | str, ...], msg: str, i: int = i) -> ScenarioError:
            return fail(("timeline", i, *field), msg)

        _check_step(step, twin, fail_step)


def _check_step(step: Step, twin: Twin, fail: Fail) -> None:
    if isinstance(step, SourceStep | ActivityStep) and step.space not in twin.spaces:
        raise fail(("space",), f"space {step.space!r} is not in the twin")
    if isinstance(step, SourceStep) and step.valve is not None:
        valve = twin.devices.get(step.valve)
        if valve is None or valve.kind != DeviceKind.VALVE:
            raise fail(("valve",), f"{step.valve!r} is not a valve of the twin")
    if isinstance(step, OfflineStep | OnlineStep) and step.device not in set(twin.devices) | set(
        twin.gateways
    ):
        raise fail(("device",), f"{step.device!r} is neither a device nor a gateway of the twin")
    if isinstance(step, FaultStep | ClearFaultStep | ActuateStep) and step.device not in twin.devices:
        raise fail(("device",), f"device {step.device!r} is not in the twin")
    if isinstance(step, DetectionStep):
        cam = twin.devices.get(step.camera)
        if cam is None or cam.kind != DeviceKind.CAMERA:
            raise fail(("camera",), f"{step.camera!r} is not a camera of the twin")
    if isinstance(step, FaultStep):
        _check_fault(step, twin, fail)
    if isinstance(step, ActuateStep):
        _check_actuate(step, twin, fail)


def _check_fault(step: FaultStep, twin: Twin, fail: Fail) -> None:
    place = twin.devices[step.device]
    kind = step.fault.type
    if kind in ACTUATOR_FAULTS:
        if place.kind not in ACTUATOR_KINDS:
            raise fail(
                ("fault", "type"), f"{kind!r} is an actuator fault; {step.device} is a {place.kind.value}"
            )
        if kind == "no_airflow" and place.kind != DeviceKind.FAN:
            raise fail(
                ("fault", "type"), f"'no_airflow' is a fan fault; {step.device} is a {place.kind.value}"
            )
        return
    if not place.metrics:
        raise fail(("fault", "type"), f"{kind!r} is a sensor fault; {step.device} sends no readings")
    metric = getattr(step.fault, "metric", None)
    if metric is not None and metric not in place.metrics:
        raise fail(("fault", "metric"), f"{step.device} reports {sorted(place.metrics)}, not {metric!r}")


def _check_actuate(step: ActuateStep, twin: Twin, fail: Fail) -> None:
    kind = twin.devices[step.device].kind.value
    model = COMMAND_PARAMS.get(kind, {}).get(step.action)
    if model is None:
        raise fail(
            ("action",), f"a {kind} understands {sorted(COMMAND_PARAMS.get(kind, {}))}, not {step.action!r}"
        )
    try:
        model.model_validate(step.params)
    except ValidationError as err:
        raise fail(("params",), f"{err.errors()[0]['msg']}") from err


def involved(scenario: Scenario, twin: Twin) -> set[str] | None:
    """Devices the scenario involves, or None for the whole twin (no `devices` and no `spaces` given)."""
    if not scenario.devices and not scenario.spaces:
        return None
    out = set(scenario.devices)
    for space in scenario.spaces:
        out.update(d.device_id for d in twin.devices_in(space=space))
    for step in scenario.timeline:
        named = getattr(step, "device", None) or getattr(step, "camera", None)
        if named in twin.devices:
            out.add(named)
    return out


def restrict(twin: Twin, keep: set[str] | None) -> Twin:
    """The twin with only the devices in `keep` (and the spaces that hold them); the same twin if None."""
    if keep is None:
        return twin

    def spaces(items: list[SpaceSpec]) -> list[SpaceSpec]:
        cut = [s.model_copy(update={"devices": [d for d in s.devices if d.id in keep]}) for s in items]
        return [s for s in cut if s.devices]

    def floors(items: list[FloorSpec]) -> list[FloorSpec]:
        return [f.model_copy(update={"spaces": spaces(f.spaces)}) for f in items]

    sites = [
        site.model_copy(
            update={
                "spaces": spaces(site.spaces),
                "buildings": [b.model_copy(update={"floors": floors(b.floors)}) for b in site.buildings],
            }
        )
        for site in twin.spec.sites
    ]
    spec: TwinSpec = twin.spec.model_copy(update={"sites": sites})
    return Twin(spec)
