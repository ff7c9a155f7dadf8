"""Simulated actuators (fan, speaker, valve, relay) that answer commands as docs/mqtt.md asks.

`ActuatorSim.handle` is the device's logic, without I/O: parse the command, drop it after its expiry,
answer a repeated correlation id again without acting twice, check the parameters against
`core.contract.COMMAND_PARAMS` (rejected, with the reason, if wrong), then ``delivered`` and
``succeeded`` (or ``failed``) with the new state.  Injected faults change that: ``no_answer`` says
nothing, ``fail`` fails, ``no_airflow`` succeeds but the fan moves no air, ``slow`` delays success.
A fan drives its `simulators.physics.Fan`, so switching it on really ventilates its space.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from core.contract import (
    COMMAND_PARAMS,
    AckStatus,
    ActuatorState,
    Command,
    CommandAck,
    FanParams,
    SpeakerParams,
    SwitchParams,
    ValveParams,
)
from simulators.faults import Fail, Fault, NoAirflow, NoAnswer, Slow
from simulators.physics import Fan, Physics
from twin.kinds import ACTUATOR_KINDS
from twin.twin import Twin

log = logging.getLogger(__name__)

SEEN_MAX = 1000  # correlation ids remembered per device, for deduplication
SPEECH_S_PER_CHAR = 0.25  # how long text-to-speech takes, simulated seconds per character
PRESET_S = 8.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What a device sends back for one command: acks in order, a new state, and how long to wait."""

    acks: list[CommandAck]
    state: ActuatorState | None = None
    delay_s: float = 0.0  # wall seconds between the first ack and the rest
    pending: object | None = None  # params to apply when the delay is over (a slow actuator)


@dataclass(slots=True)
class ActuatorSim:
    """One simulated actuator: its kind, state, injected fault and the commands it has seen."""

    device_id: str
    kind: str
    physics: Physics | None = None
    fault: Fault | None = None
    state: dict[str, Any] = field(default_factory=dict)
    seen: OrderedDict[str, list[CommandAck]] = field(default_factory=OrderedDict)
    actuations: int = 0
    speech_until_ms: int | None = None
    offline: bool = False  # gone from the network: hears nothing

    def __post_init__(self) -> None:
        if not self.state:
            self.state = initial_state(self.kind)

    @property
    def fan(self) -> Fan | None:
        """The fan in the physics this device drives, if it is one."""
        return None if self.physics is None else self.physics.fans.get(self.device_id)

    def handle(self, payload: bytes, device_ms: int, sim_ms: int) -> Answer | None:
        """Answer one command payload; None when the device stays silent."""
        if self.offline:
            return None
        try:
            cmd = Command.model_validate_json(payload)
        except ValidationError as err:
            log.warning("simulated %s %s ignores a malformed command: %s", self.kind, self.device_id, err)
            return None
        if cmd.correlation_id in self.seen:
            log.info(
                "simulated %s %s: command %s again, answered as before",
                self.kind,
                self.device_id,
                cmd.correlation_id,
            )
            return Answer(self.seen[cmd.correlation_id])
        if cmd.expires_ts is not None and device_ms > cmd.expires_ts:
            log.info(
                "simulated %s %s ignores expired command %s", self.kind, self.device_id, cmd.correlation_id
            )
            return None
        if isinstance(self.fault, NoAnswer):
            return None
        answer = self._execute(cmd, device_ms, sim_ms)
        self.seen[cmd.correlation_id] = answer.acks
        while len(self.seen) > SEEN_MAX:
            self.seen.popitem(last=False)
        return answer

    def _execute(self, cmd: Command, device_ms: int, sim_ms: int) -> Answer:
        def ack(status: AckStatus, detail: str | None = None) -> CommandAck:
            return CommandAck(correlation_id=cmd.correlation_id, status=status, ts=device_ms, detail=detail)

        model = COMMAND_PARAMS.get(self.kind, {}).get(cmd.action)
        if model is None:
            known = ", ".join(sorted(COMMAND_PARAMS.get(self.kind, {}))) or "nothing"
            return Answer(
                [
                    ack(
                        AckStatus.REJECTED,
                        f"a {self.kind} does not understand {cmd.action!r}; it understands {known}",
                    )
                ]
            )
        try:
            params = model.model_validate(cmd.params)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            return Answer([ack(AckStatus.REJECTED, f"params.{where}: {first['msg']}"[:500])])
        delivered = ack(AckStatus.DELIVERED)
        if isinstance(self.fault, Fail):
            return Answer([delivered, ack(AckStatus.FAILED, self.fault.detail)])
        self.actuations += 1
        if isinstance(self.fault, Slow):  # it changes, and says so, only once the delay is over
            return Answer([delivered, ack(AckStatus.SUCCEEDED)], None, self.fault.delay_s, params)
        self.apply(params, sim_ms)
        state = ActuatorState(ts=device_ms, state=dict(self.state))
        return Answer([delivered, ack(AckStatus.SUCCEEDED)], state)

    def apply(self, params: object, sim_ms: int) -> None:
        """Change the device (and the physics) as the parameters say."""
        if isinstance(params, FanParams):
            self._set_fan(params, sim_ms)
        elif isinstance(params, SwitchParams):
            self.state = {"on": params.on}
        elif isinstance(params, ValveParams):
            if self.physics is not None:
                self.physics.set_valve(self.device_id, sim_ms, open_=params.open)
            self.state = {"open": params.open}
        elif isinstance(params, SpeakerParams):
            seconds = PRESET_S if params.preset else SPEECH_S_PER_CHAR * len(params.text or "")
            self.speech_until_ms = sim_ms + round(max(seconds, 2.0) * params.repeat * 1000)
            said = {"text": params.text} if params.text else {"preset": params.preset}
            self.state = {"playing": True, **said, "volume": params.volume}
        else:  # speaker stop
            self.speech_until_ms = None
            self.state = {"playing": False}

    def _set_fan(self, params: FanParams, sim_ms: int) -> None:
        speed = params.speed if params.speed is not None else int(self.state.get("speed", 3))
        fan = self.fan
        if fan is not None and self.physics is not None:
            fan.moves_air = not isinstance(self.fault, NoAirflow)
            self.physics.set_fan(self.device_id, sim_ms, on=params.on, speed=speed)
            self.state = {"on": params.on, "speed": speed, "rpm": fan.rpm()}
        else:
            self.state = {"on": params.on, "speed": speed, "rpm": 1450 if params.on else 0}

    def tick(self, sim_ms: int, device_ms: int) -> ActuatorState | None:
        """A state change that comes from time alone (a message finished playing), or None."""
        if self.speech_until_ms is not None and sim_ms >= self.speech_until_ms:
            self.speech_until_ms = None
            self.state = {"playing": False}
            return ActuatorState(ts=device_ms, state=dict(self.state))
        return None

    def set_fault(self, fault: Fault | None) -> None:
        """Inject (or clear, with None) an actuator fault; a fan's airflow follows at once."""
        self.fault = fault
        fan = self.fan
        if fan is not None:
            fan.moves_air = not isinstance(fault, NoAirflow)


def initial_state(kind: str) -> dict[str, Any]:
    """What each kind reports before any command: fans stopped, valves open, relays off, silence."""
    states: dict[str, dict[str, Any]] = {
        "fan": {"on": False, "speed": 3, "rpm": 0},
        "valve": {"open": True},
        "relay": {"on": False},
        "speaker": {"playing": False},
    }
    return dict(states.get(kind, {}))


def actuators_of(twin: Twin, physics: Physics | None) -> dict[str, ActuatorSim]:
    """A simulated actuator for every fan, speaker, valve and relay in the twin."""
    return {
        d.device_id: ActuatorSim(d.device_id, d.kind.value, physics)
        for d in twin.devices.values()
        if d.kind in ACTUATOR_KINDS
    }
