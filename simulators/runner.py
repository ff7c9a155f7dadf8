"""Run a scenario: physics, sensors, actuators and cameras of the involved devices, on a simulated clock.

Physics and the timeline run in simulated time (``speed`` simulated seconds per wall second); every
message is stamped with wall time, because SafeTwin judges durations (on-delays, deadlines, closed-loop
checks) on its own wall clock: a scenario step 10 simulated minutes in happens 10 s in at speed 60.
Each fired step and a periodic status of the air are printed as one line each, for people and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from core.contract import (
    COMMAND_PARAMS,
    ActuatorState,
    AvailabilityState,
    Detection,
    DetectionEventType,
    Topics,
    now_ms,
)
from core.settings import Settings
from simulators.actuators import ActuatorSim, actuators_of
from simulators.command_link import CommandLink
from simulators.faults import ACTUATOR_FAULTS, SensorFaults
from simulators.physics import OUTDOOR, Physics, Source
from simulators.plan import SimClock, involved, restrict, sim_start_ms
from simulators.publisher import Uplinks, direct_id, plan_groups
from simulators.scenario import (
    ActivityStep,
    ActuateStep,
    ClearFaultStep,
    DetectionStep,
    FaultStep,
    NoteStep,
    OfflineStep,
    OnlineStep,
    Scenario,
    SourceStep,
    SpeedStep,
    Step,
)
from simulators.sensors import SensorFleet
from twin.twin import Twin

log = logging.getLogger(__name__)

STATUS_EVERY_SIM_S = 300.0  # a status line every 5 simulated minutes
UNITS = {"co": "ppm", "h2s": "ppm", "ch4": "%LEL", "lel": "%LEL", "o2": "%vol"}


@dataclass
class Sighting:
    """A camera detection under way: its event id, when it ends (simulated ms), and its steps."""

    camera: str
    event_id: str
    step: DetectionStep
    start_wall: int
    end_sim: int
    updated: bool = False


@dataclass
class RunSummary:
    """What a scenario run did."""

    readings: int = 0
    commands: int = 0
    steps: int = 0
    levels: dict[str, dict[str, float]] = field(default_factory=dict)


class ScenarioRun:
    """One scenario's simulated world and its MQTT clients."""

    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        twin: Twin,
        *,
        speed: float | None,
        out: Callable[[str], None],
        interval_s: float | None = None,
    ) -> None:
        self.scenario = scenario
        self.out = out
        # own client ids: a scenario next to `safetwin run --simulate` must not take over its sessions
        sim = settings.simulator.model_copy(
            update={"client_id": f"{settings.simulator.client_id}-{scenario.name}"}
        )
        settings = settings.model_copy(update={"simulator": sim})
        self.twin = restrict(twin, involved(scenario, twin))
        wall0 = now_ms()
        self.sim0 = sim_start_ms(scenario.start_time, wall0)
        self.factor = 1.0 if speed is None else speed / scenario.speed  # --speed scales every speed step
        self.clock = SimClock(scenario.speed * self.factor, self.sim0, wall0)
        self.physics = Physics(self.twin, self.sim0)
        for space_id, air in scenario.air.items():
            sa = self.physics.spaces[space_id]
            sa.volume_m3 = air.volume_m3 or sa.volume_m3
            sa.natural_ach = air.air_changes_per_h if air.air_changes_per_h is not None else sa.natural_ach
            sa.activity = air.activity
        self.physics.settle()
        self.fleet = SensorFleet(self.twin, seed=scenario.seed, event_probability=0.0)
        self.fleet.attach_physics(self.physics)
        self.faults = SensorFaults(scenario.seed)
        self.actuators: dict[str, ActuatorSim] = actuators_of(self.twin, self.physics)
        prefix = settings.simulator.client_id
        self.topics = Topics(settings.mqtt.topic_prefix)
        self.uplinks = Uplinks.for_twin(settings, self.twin, self.fleet)
        self.link = CommandLink(
            settings.mqtt,
            self.actuators,
            self.clock.sim_ms,
            client_id=f"{prefix}-actuators",
            topics=self.topics,
        )
        self.groups = plan_groups(self.fleet, self.twin, scenario.gateway_batch, direct=direct_id(prefix))
        self.sightings: list[Sighting] = []
        self.summary = RunSummary()
        self.interval_ms = round((interval_s or scenario.interval_s) * 1000)

    def stamp(self, sim_ms: int) -> str:
        """Simulated time since the start, HH:MM:SS."""
        s = max(0, (sim_ms - self.sim0) // 1000)
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    def say(self, sim_ms: int, text: str) -> None:
        """One line of output, prefixed with the scenario name and the simulated time."""
        self.out(f"[{self.scenario.name} {self.stamp(sim_ms)}] {text}")

    async def run(self, stop: asyncio.Event) -> RunSummary:
        """Start the clients, play the timeline to the end (or until stop), stop the clients."""
        sc = self.scenario
        sizes = f"{len(self.fleet.devices)} sensors, {len(self.actuators)} actuators"
        self.say(
            self.sim0, f"{sc.title}: {sizes}, {sc.duration:.0f} s simulated at speed {self.clock.speed:g}"
        )
        await self.uplinks.start()
        await asyncio.to_thread(self.link.start)
        self.clock.restart(now_ms(), self.sim0)  # simulated time starts once the clients are up
        try:
            await self._loop(stop)
        finally:
            self.link.stop()
            await self.uplinks.stop()
        self.summary.commands = self.link.commands
        self.summary.levels = self.physics.levels({self.twin.devices[d].space for d in self.fleet.devices})
        end = min(self.clock.sim_ms(), self.sim0 + round(self.scenario.duration * 1000))
        self.say(end, f"end: {self.summary.readings} readings, {self.summary.commands} commands")
        return self.summary

    async def _loop(self, stop: asyncio.Event) -> None:
        steps = sorted(self.scenario.timeline, key=lambda s: s.at)
        end_sim = self.sim0 + round(self.scenario.duration * 1000)
        next_read = now_ms()
        next_status = self.sim0
        while not stop.is_set():
            wall = now_ms()
            sim = min(self.clock.sim_ms(wall), end_sim)
            self.physics.advance(sim)
            while steps and self.sim0 + steps[0].at * 1000 <= sim:
                self.fire(steps.pop(0), sim)
            self._sightings(sim)
            if sim >= end_sim:
                break
            if wall >= next_read:
                self._read(sim, now_ms())  # stamped after the steps of this instant
                self.link.tick()
                next_read += self.interval_ms
            if sim >= next_status:
                self._status(sim)
                next_status = sim + round(STATUS_EVERY_SIM_S * 1000)
            wake = min(next_read, self.clock.wall_ms(end_sim))
            if steps:
                wake = min(wake, self.clock.wall_ms(self.sim0 + round(steps[0].at * 1000)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, (wake - now_ms()) / 1000))

    def _read(self, sim: int, wall: int) -> None:
        for gateway_id, device_ids in self.groups:
            readings = [self.faults.apply(r, sim, wall) for r in self.fleet.read_many(device_ids, sim)]
            sent = [r for r in readings if r is not None]
            self.summary.readings += len(sent)
            if gateway_id is not None and sent:
                self.uplinks.clients[gateway_id].publish_batch(gateway_id, sent)
            elif gateway_id is None:
                for r in sent:
                    self.uplinks.route[r.device_id].publish_reading(r.device_id, r.metrics, r.ts)

    def _status(self, sim: int) -> None:
        spaces = sorted({self.twin.devices[d].space for d in self.fleet.devices})
        for sid in spaces:
            air = self.physics.spaces[sid]
            shown = [
                g for g in ("co", "h2s", "ch4", "o2") if g == "co" or abs(air.levels[g] - OUTDOOR[g]) > 0.05
            ]
            gases = ", ".join(f"{g} {air.reading(g) or 0.0:.1f} {UNITS[g]}" for g in shown)
            self.say(sim, f"air {sid}: {gases}; {air.air_changes_per_h():.1f} air changes/h")

    def fire(self, step: Step, sim: int) -> None:
        """Carry out one timeline step at simulated time sim."""
        self.summary.steps += 1
        match step:
            case SourceStep():
                text = self._source(step, sim)
            case ActivityStep():
                text = self._activity(step, sim)
            case FaultStep():
                text = self._fault(step, sim)
            case ClearFaultStep():
                text = self._clear_fault(step)
            case DetectionStep():
                text = self._detection(step, sim)
            case OfflineStep():
                text = self._offline(step)
            case OnlineStep():
                text = self._online(step)
            case ActuateStep():
                text = self._actuate(step, sim)
            case SpeedStep():
                self.clock.set_speed(step.speed * self.factor)
                text = f"x{step.speed * self.factor:g}"
            case NoteStep():
                text = step.text
        self.say(sim, f"{step.do}: {text}")

    # --- step handlers --------------------------------------------------------------------------

    def _source(self, step: SourceStep, sim: int) -> str:
        end = None if step.lasts is None else sim + round(step.lasts * 1000)
        self.physics.add_source(step.space, Source(step.gas, step.rate, sim, end, step.label, step.valve))
        lasting = "for good" if step.lasts is None else f"for {step.lasts:.0f} s"
        return (
            f"{step.gas} {step.rate:g} {UNITS[step.gas]}·m3/h in {step.space} {lasting} {step.label}".rstrip()
        )

    def _activity(self, step: ActivityStep, sim: int) -> str:
        with self.physics.lock:
            self.physics.advance(sim)
            self.physics.spaces[step.space].activity = step.factor
        return f"{step.space} x{step.factor:g}"

    def _fault(self, step: FaultStep, sim: int) -> str:
        if step.fault.type in ACTUATOR_FAULTS:
            self.actuators[step.device].set_fault(step.fault)
        else:
            self.faults.inject(step.device, step.fault, sim)
        return f"{step.device} {step.fault.model_dump(exclude_none=True)}"

    def _clear_fault(self, step: ClearFaultStep) -> str:
        dev = self.actuators.get(step.device)
        if dev is not None and (step.type is None or (dev.fault is not None and dev.fault.type == step.type)):
            dev.set_fault(None)
        self.faults.clear(step.device, None if step.type is None else [step.type])
        return f"{step.device} {step.type or 'all'}"

    def _detection(self, step: DetectionStep, sim: int) -> str:
        wall = now_ms()
        event_id = f"{step.camera}-{wall}-{self.summary.steps}"
        s = Sighting(step.camera, event_id, step, wall, sim + round(step.lasts * 1000))
        self.sightings.append(s)
        self._detect(s, DetectionEventType.NEW, wall)
        return f"{step.camera} sees {step.label.value} (score {step.score:g}) for {step.lasts:.0f} s"

    def _offline(self, step: OfflineStep) -> str:
        gone = [*self.twin.behind_gateway.get(step.device, []), step.device]
        self.faults.offline.update(gone)
        for dev in (self.actuators[d] for d in gone if d in self.actuators):
            dev.offline = True
        # as the broker publishes the will of a client that vanished
        self._availability(step.device, AvailabilityState.OFFLINE, "last-will")
        return f"{step.device} ({len(gone) - 1} devices behind it)" if len(gone) > 1 else step.device

    def _online(self, step: OnlineStep) -> str:
        back = [*self.twin.behind_gateway.get(step.device, []), step.device]
        self.faults.offline.difference_update(back)
        for dev in (self.actuators[d] for d in back if d in self.actuators):
            dev.offline = False
        self._availability(step.device, AvailabilityState.ONLINE, "birth")
        return step.device

    def _actuate(self, step: ActuateStep, sim: int) -> str:
        dev = self.actuators[step.device]
        with self.link.lock:
            dev.apply(COMMAND_PARAMS[dev.kind][step.action].model_validate(step.params), sim)
            state = ActuatorState(ts=now_ms(), state=dict(dev.state))
        self.link.publish_state(step.device, state)
        return f"{step.device} {step.action} {step.params} -> {dev.state}"

    # --- helpers --------------------------------------------------------------------------------

    def _availability(self, device_id: str, state: AvailabilityState, reason: str) -> None:
        pub = self.uplinks.clients.get(device_id) or self.uplinks.route.get(device_id)
        if pub is not None:
            pub.publish_availability(device_id, state, reason)

    def _sightings(self, sim: int) -> None:
        wall = now_ms()
        for s in list(self.sightings):
            if sim >= s.end_sim:
                self._detect(s, DetectionEventType.END, wall)
                self.sightings.remove(s)
            elif not s.updated and sim >= (s.end_sim + self.clock.sim_ms(s.start_wall)) // 2:
                s.updated = True
                self._detect(s, DetectionEventType.UPDATE, wall)

    def _detect(self, s: Sighting, kind: DetectionEventType, wall: int) -> None:
        step = s.step
        msg = Detection(
            type=kind,
            event_id=s.event_id,
            label=step.label,
            ts=wall,
            start_ts=s.start_wall,
            end_ts=wall if kind == DetectionEventType.END else None,
            score=step.score,
            top_score=step.score,
            box=step.box,
            zones=step.zones,
        )
        self.uplinks.route[s.camera].publish_detection(s.camera, msg)


def run_scenario_main(
    settings: Settings,
    scenario: Scenario,
    twin: Twin,
    *,
    speed: float | None = None,
    interval_s: float | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run a scenario in the foreground until it ends (exit code 0) or Ctrl-C / SIGTERM (130)."""

    async def main() -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        run = ScenarioRun(settings, scenario, twin, speed=speed, out=out, interval_s=interval_s)
        await run.run(stop)
        return stop.is_set()

    interrupted = asyncio.run(main())
    return 130 if interrupted else 0
