"""The actuator side as one part: lifecycle manager, rule actions, the command store and its writer.

The composition root (safetwin/operations.py) feeds it the pipeline's results and the rules' signals,
runs its tick, and applies the alarm signals it returns; the API asks it for commands and actuators.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from actuators.actions import ActionRunner
from actuators.errors import ActuatorError, CommandNotFound, CommandRefused
from actuators.manager import CommandManager
from actuators.publisher import CommandPublisher
from actuators.recorder import CommandRecorder, CommandStore
from actuators.records import ActuatorView, CommandDetail, CommandRecord, CommandState, CommandTransition
from actuators.settings import ActuatorSettings
from core.alarms import Alarm, AlarmSignal, AlarmState
from core.contract import ActuatorState, AvailabilityState, Command, CommandAck, now_ms
from ingest.pipeline import PipelineResult
from rules.model import Rule
from twin.twin import DevicePlace, Twin

log = logging.getLogger(__name__)

RESTORE_WINDOW_S = (
    7 * 86_400
)  # commands this recent are looked at on start (an override lasts a week at most)
NOT_EVIDENCE = frozenset({"actuator", "offline", "sensor_fault", "maintenance"})


class CommandArchive(CommandStore, Protocol):
    """A command store that can also be read (store/sql/commands.py)."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def get_command(self, correlation_id: str) -> CommandRecord | None: ...

    def command_transitions(self, correlation_id: str) -> list[CommandTransition]: ...

    def list_commands(
        self,
        *,
        device_id: str | None = None,
        states: Sequence[CommandState] | None = None,
        since_ts: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[CommandRecord], int]: ...


class TrackedCommands:
    """A command sink that takes commands through the lifecycle (stored, retried, followed).

    For the graded response's broadcasts: a command the lifecycle cannot take (not an actuator it
    knows) goes straight to the publisher; one a manual override refuses waits for the person.
    """

    def __init__(self, manager: CommandManager, publisher: CommandPublisher) -> None:
        self.manager, self.publisher = manager, publisher

    def send(self, device_id: str, command: Command) -> None:
        try:
            self.manager.submit(
                device_id,
                command.action,
                dict(command.params),
                issued_by=command.issued_by,
                reason="graded response",
            )
        except CommandRefused as err:
            log.warning("%s", err)
        except ActuatorError as err:
            log.error("%s to %s not tracked (%s); sent directly", command.action, device_id, err)
            self.publisher.send(device_id, command)


class ActuatorService:
    """Commands by rules and people, their lifecycle, and what the API shows of them."""

    def __init__(
        self,
        twin: Twin,
        settings: ActuatorSettings,
        publisher: CommandPublisher,
        store: CommandArchive | None,
        *,
        rule_of: Callable[[str], Rule | None],
        open_alarms: Callable[[], list[Alarm]] | None = None,
        owns_device: Callable[[str], bool] | None = None,
    ) -> None:
        self.twin, self.settings, self.store = twin, settings, store
        self.owns_device = owns_device or (lambda _device: True)
        self.topics = publisher.topics
        self.open_alarms = open_alarms or list
        self.recorder = CommandRecorder(store) if store is not None else None
        self.manager = CommandManager(
            twin,
            settings,
            publisher,
            recorder=self.recorder,
            evidence=self.evidence,
            automatic=self._wanted,
        )
        self.runner = ActionRunner(twin, self.manager, rule_of)
        self.tracked = TrackedCommands(self.manager, publisher)
        publisher.on_answer = self.on_answer

    def _wanted(self, device_id: str) -> tuple[str, dict[str, Any]] | None:
        return self.runner.wanted(device_id)

    # --- lifetime -----------------------------------------------------------------------------

    def open(self) -> None:
        """Open the command store and start its writer (blocking)."""
        if self.store is not None:
            self.store.open()
        if self.recorder is not None:
            self.recorder.start()
        if self.store is not None:  # continue where the last run stopped
            now = now_ms()
            since = now - int(RESTORE_WINDOW_S * 1000)
            recent, _ = self.store.list_commands(since_ts=since, limit=10_000)
            recent = [c for c in recent if self.owns_device(c.device_id)]  # other workers' are theirs
            with self.manager._lock:
                self.manager.supervisor.continue_after_restart(recent[::-1], now)

    def close(self) -> None:
        """Write what waits, then close the store (blocking)."""
        if self.recorder is not None and not self.recorder.stop(timeout=30):
            log.error("command records not all written in 30 s")
        if self.store is not None:
            self.store.close()

    # --- inputs -------------------------------------------------------------------------------

    def on_answer(self, topic: str, payload: bytes) -> None:
        """An ack or state message from the publisher's connection."""
        parsed = self.topics.parse(topic)
        if parsed is None:
            return
        kind, device = parsed
        try:
            if kind == "ack":
                self.manager.on_ack(device, CommandAck.model_validate_json(payload))
            elif kind == "state":
                self.manager.on_state(device, ActuatorState.model_validate_json(payload))
        except ValidationError as err:  # ingest dead-letters it; here it only cannot count as an answer
            log.warning("%s from %s is not a valid %s: %s", topic, device, kind, err.errors()[0]["msg"])

    def on_result(self, result: PipelineResult) -> None:
        """Readings (levels, closed-loop checks) and availability of actuators, inline with ingest."""
        now = now_ms()
        with self.manager._lock:
            if result.readings:
                self.manager.supervisor.on_readings(result.readings, now)
        for device, state in result.availability:
            if device in self.manager.places:
                self.manager.on_availability(device, state is AvailabilityState.ONLINE, now)

    def on_signals(self, signals: Sequence[AlarmSignal]) -> list[AlarmSignal]:
        """Run the rule actions the signals call for; return the actuator side's own alarm signals."""
        if signals:
            self.runner.on_signals(signals, now_ms())
        return self.manager.drain_signals()

    def tick(self, now: int | None = None) -> list[AlarmSignal]:
        """Retries, time-outs, expiry, overrides, maximum on-time, overdue checks; the signals raised."""
        with self.manager._lock:
            self.manager.supervisor.tick(now_ms() if now is None else now)
        return self.manager.drain_signals()

    def evidence(self, place: DevicePlace) -> frozenset[str]:
        """Sources (devices, cameras) with an active hazard alarm in the device's space, or its site."""
        found = set()
        for alarm in self.open_alarms():
            if alarm.state is not AlarmState.ACTIVE or alarm.category in NOT_EVIDENCE:
                continue
            near = alarm.space == place.space if alarm.space else alarm.site == place.site
            if near:
                found.add(alarm.source_id)
        return frozenset(found)

    # --- people -------------------------------------------------------------------------------

    def command(
        self,
        device_id: str,
        action: str,
        params: dict[str, Any],
        *,
        operator: str,
        reason: str,
        expires_in_s: float | None = None,
        max_on_s: float | None = None,
    ) -> CommandRecord:
        """A manual command; with `expires_in_s` an override that ends in automatic control."""
        return self.manager.submit(
            device_id,
            action,
            params,
            issued_by=f"user:{operator}",
            operator=operator,
            reason=reason,
            override_s=expires_in_s,
            max_on_s=max_on_s,
        )

    def list_commands(
        self,
        *,
        device_id: str | None = None,
        states: Sequence[CommandState] | None = None,
        since_ts: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[CommandRecord], int]:
        """Stored commands, newest first (what was just asked for included)."""
        if self.store is None:
            with self.manager._lock:
                found = [
                    r
                    for r in self.manager._records.values()
                    if (device_id is None or r.device_id == device_id)
                    and (states is None or r.state in states)
                    and (since_ts is None or r.created_ts >= since_ts)
                ]
            found.sort(key=lambda r: (r.created_ts, r.correlation_id), reverse=True)
            return found[offset : offset + limit], len(found)
        if self.recorder is not None:
            self.recorder.wait_idle()
        return self.store.list_commands(
            device_id=device_id, states=states, since_ts=since_ts, limit=limit, offset=offset
        )

    def get_command(self, correlation_id: str) -> CommandDetail:
        """A command with its transitions: from memory, else from the store; CommandNotFound if none."""
        found = self.manager.detail(correlation_id)
        if found is not None:
            return found
        rec = self.store.get_command(correlation_id) if self.store is not None else None
        if rec is None or self.store is None:
            raise CommandNotFound(f"no command with correlation id {correlation_id!r}")
        return CommandDetail(**rec.model_dump(), transitions=self.store.command_transitions(correlation_id))

    def actuators(self) -> list[ActuatorView]:
        """Every actuator: reported state, override in force, suspect flag."""
        m = self.manager
        with m._lock:
            return [self._view(dev, place) for dev, place in m.places.items()]

    def _view(self, dev: str, place: DevicePlace) -> ActuatorView:
        m = self.manager
        live, driver = m.live(dev), m.drivers[place.kind.value]
        ex = place.spec.meta.get("explosion_proof")
        wanted = self._wanted(dev)
        return ActuatorView(
            device_id=dev,
            kind=place.kind.value,
            space=place.space,
            online=live.online,
            state=live.state,
            state_ts=live.state_ts,
            active_since_ts=live.active_since,
            explosion_proof=bool(ex) if ex is not None else driver.config.explosion_proof,
            override_until_ts=live.override_until,
            override_by=live.override_by,
            automatic={"action": wanted[0], "params": wanted[1]} if wanted else None,
            suspect=m.suspects.get(dev),
            last_command=live.last_command,
        )

    def suspects(self) -> dict[str, str]:
        """Devices (actuators and sensors) marked suspect by a failed closed-loop check, with why."""
        with self.manager._lock:
            return dict(self.manager.suspects)
