"""The command lifecycle: queued -> sent -> delivered -> succeeded / failed / timed out / expired,
then effect verified / effect not seen.

One manager per process.  It is called from the event loop (readings, acks, states, ticks) and from
API threads (manual commands), under one lock, and never waits: commands go out through the
publisher's outbox and records through the recorder's thread.  A device that does not answer raises
'actuator failed' and a remedy that does not work raises 'ventilation ineffective', both as alarm
signals the alarm manager takes like any rule's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from actuators.drivers import Driver, build_drivers
from actuators.errors import CommandRefused, UnknownActuator
from actuators.interlocks import Situation, refusal
from actuators.publisher import new_correlation_id
from actuators.recorder import CommandRecorder
from actuators.records import (
    IN_FLIGHT,
    CommandDetail,
    CommandRecord,
    CommandState,
    CommandTransition,
    VerifySpec,
)
from actuators.settings import ActuatorSettings
from actuators.signals import device_signal
from actuators.verify import Verifier
from core.alarms import AlarmSignal
from core.contract import AckStatus, ActuatorState, Command, CommandAck, now_ms
from twin.twin import DevicePlace, Twin

log = logging.getLogger(__name__)

Wanted = tuple[str, dict[str, Any]]


class CommandSink(Protocol):
    """Where commands go out (actuators.publisher.CommandPublisher)."""

    def send(self, device_id: str, command: Command) -> None: ...


@dataclass(slots=True)
class Live:
    """What the manager knows of one actuator."""

    state: dict[str, Any] = field(default_factory=dict)
    state_ts: int | None = None
    online: bool = True
    active_since: int | None = None
    override_until: int | None = None
    override_by: str | None = None
    override_prev: dict[str, Any] | None = None
    last_command: str | None = None
    min_on_s: float | None = None  # this run's own on-times, from the command that started it
    max_on_s: float | None = None


class CommandManager:
    """Commands to fans, speakers, relays and valves, and what became of them."""

    def __init__(
        self,
        twin: Twin,
        settings: ActuatorSettings,
        sink: CommandSink,
        *,
        recorder: CommandRecorder | None = None,
        evidence: Callable[[DevicePlace], frozenset[str]] | None = None,
        automatic: Callable[[str], Wanted | None] | None = None,
    ) -> None:
        self.twin, self.settings, self.sink, self.recorder = twin, settings, sink, recorder
        self.drivers: dict[str, Driver] = build_drivers(settings.drivers)
        self.places = {d: p for d, p in twin.devices.items() if p.kind.value in self.drivers}
        self.verifier = Verifier({p.space for p in self.places.values()})
        self.evidence = evidence or (lambda _place: frozenset())
        self.automatic = automatic or (lambda _device: None)
        self.suspects: dict[str, str] = {}  # device (actuator or sensor) -> why
        self._live = {d: Live() for d in self.places}
        self._records: dict[str, CommandRecord] = {}
        self._steps: dict[str, list[CommandTransition]] = {}
        self._deadline: dict[str, int] = {}  # in-flight command -> end of its current wait
        # device -> its in-flight commands, in the order they went in flight (a dict as ordered set):
        # rule stops wait out the fans' minimum on-time (5 minutes), so in an alarm storm thousands
        # are in flight, and every new command used to look through all of them for its device's
        self._in_flight: dict[str, dict[str, None]] = {}
        self._signals: list[AlarmSignal] = []
        self._failed: set[str] = set()  # devices with an 'actuator failed' alarm raised
        self._lock = threading.RLock()
        # Supervision (ticks, verification outcomes, overrides, maximum on-time) lives in its own module.
        from actuators.supervise import Supervisor

        self.supervisor = Supervisor(self)

    # --- asking for commands ------------------------------------------------------------------

    def place(self, device_id: str) -> DevicePlace:
        """The actuator's place in the twin; UnknownActuator if it is none SafeTwin can command."""
        place = self.places.get(device_id)
        if place is None:
            what = "is not in the twin" if device_id not in self.twin.devices else "is not an actuator"
            raise UnknownActuator(
                f"device {device_id!r} {what}; commandable kinds: {sorted(self.drivers)}", device_id=device_id
            )
        return place

    def submit(
        self,
        device_id: str,
        action: str,
        params: dict[str, Any],
        *,
        issued_by: str,
        operator: str | None = None,
        reason: str | None = None,
        rule_id: str | None = None,
        verify: VerifySpec | None = None,
        override_s: float | None = None,
        min_on_s: float | None = None,
        max_on_s: float | None = None,
        now: int | None = None,
    ) -> CommandRecord:
        """Ask for a command: refused, deduplicated, satisfied already, held, queued or sent."""
        ts = now_ms() if now is None else now
        place = self.place(device_id)
        driver = self.drivers[place.kind.value]
        params = driver.validate(device_id, action, params)
        # Evidence comes from the alarm manager, which may call us under its own lock (broadcasts):
        # ask it before taking ours, and only for the commands that need it, so the locks never cross.
        evidence = self.evidence(place) if driver.needs_evidence(action, params) else frozenset()
        with self._lock:
            live = self._live[device_id]
            manual = issued_by.startswith("user:")
            base = CommandRecord(
                correlation_id=new_correlation_id(),
                device_id=device_id,
                kind=place.kind.value,
                action=action,
                params=params,
                state=CommandState.QUEUED,
                issued_by=issued_by,
                operator=operator,
                reason=reason,
                rule_id=rule_id,
                space=place.space,
                created_ts=ts,
                updated_ts=ts,
                expires_ts=ts,
                verify=verify,
                min_on_s=min_on_s,
                max_on_s=max_on_s,
            )
            why = self._refusal(place, driver, live, action, params, manual, evidence, ts)
            if why is not None:
                rec = self._open(base.model_copy(update={"state": CommandState.REFUSED, "detail": why}), why)
                log.warning("command to %s refused: %s", device_id, why)
                raise CommandRefused(rec)
            same = self._same_in_flight(device_id, action, params)
            # the same command in flight stands for this one, unless it is a rule's stop held for the
            # minimum on-time and a person asks: people stop at once
            if same is not None and override_s is None and not (manual and same.hold_until_ts is not None):
                return same
            return self._start(base, driver, live, override_s, ts)

    def _start(
        self, base: CommandRecord, driver: Driver, live: Live, override_s: float | None, ts: int
    ) -> CommandRecord:
        unsure = self._supersede(driver, base, ts)
        if not driver.activates(base.action, base.params):
            self._cancel_checks(base.device_id)
        hold = self._hold_until(driver, live, base, ts)
        ttl = self.settings.command_ttl_s if live.online else self.settings.offline_ttl_s
        changes: dict[str, Any] = {"expires_ts": (hold or ts) + int(ttl * 1000)}
        if override_s is not None:
            changes["override_until_ts"] = ts + int(override_s * 1000)
            if live.override_until is None:
                live.override_prev = dict(live.state)
            live.override_until, live.override_by = changes["override_until_ts"], base.operator
        if hold is not None:
            changes["hold_until_ts"] = hold
        rec = self._open(base.model_copy(update=changes), base.reason)
        live.last_command = rec.correlation_id
        if not unsure and live.state_ts is not None and driver.done(live.state, rec.action, rec.params):
            return self.supervisor.succeeded(rec, ts, "already in the wanted state; nothing sent")
        if hold is not None:
            return self._note(rec, ts, f"held for the minimum on-time until {hold}")
        if not live.online:
            return self._note(
                rec, ts, f"device offline: waits until it is back, or expires at {rec.expires_ts}"
            )
        return self.send(rec, ts)

    def _refusal(
        self,
        place: DevicePlace,
        driver: Driver,
        live: Live,
        action: str,
        params: dict[str, Any],
        manual: bool,
        evidence: frozenset[str],
        ts: int,
    ) -> str | None:
        if not manual and live.override_until is not None and live.override_until > ts:
            return (
                f"manual override by {live.override_by or 'an operator'} in force until {live.override_until}"
            )
        situation = Situation(
            lel_pct=self.verifier.lel(place.space),
            lel_limit=self.settings.lel_interlock_pct,
            evidence=evidence,
            evidence_needed=self.settings.evacuation_sources,
        )
        ex = place.spec.meta.get("explosion_proof")
        explosion_proof = bool(ex) if ex is not None else driver.config.explosion_proof
        return refusal(driver, explosion_proof, action, params, situation)

    def _hold_until(self, driver: Driver, live: Live, rec: CommandRecord, ts: int) -> int | None:
        """A rule's stop waits until the device ran its minimum on-time (people may stop it at once)."""
        rule = rec.issued_by.startswith("rule:")
        if not rule or live.active_since is None or driver.activates(rec.action, rec.params):
            return None
        min_on = driver.config.min_on_s if live.min_on_s is None else live.min_on_s
        due = live.active_since + int(min_on * 1000)
        return due if due > ts else None

    def _same_in_flight(self, device_id: str, action: str, params: dict[str, Any]) -> CommandRecord | None:
        for corr in self._in_flight.get(device_id, ()):
            rec = self._records[corr]
            if rec.device_id == device_id and rec.action == action and rec.params == params:
                return rec
        return None

    def _supersede(self, driver: Driver, new: CommandRecord, ts: int) -> bool:
        """End the device's commands in flight that the new one replaces; True if one was published."""
        published = False
        for corr in self.in_flight_of(new.device_id):
            rec = self._records[corr]
            if not driver.replaces(new.action, rec.action):
                continue
            published = published or rec.state is not CommandState.QUEUED
            self.transition(rec, CommandState.SUPERSEDED, ts, "system", f"replaced by {new.correlation_id}")
        return published

    def _cancel_checks(self, device_id: str) -> None:
        for corr, exp in list(self.verifier.open.items()):
            if exp.device_id == device_id:
                self.verifier.cancel(corr)

    # --- sending and transitions --------------------------------------------------------------

    def send(self, rec: CommandRecord, ts: int) -> CommandRecord:
        """Publish (again, with the same correlation id) and wait for 'delivered'."""
        driver = self.drivers[rec.kind]
        command = driver.build(
            rec.correlation_id, rec.action, rec.params, rec.created_ts, rec.expires_ts, rec.issued_by
        )
        self.sink.send(rec.device_id, command)
        attempt = rec.attempts + 1
        note = "published" if attempt == 1 else f"published again (retry {attempt - 1})"
        rec = self.transition(
            rec, CommandState.SENT, ts, "system", note, attempts=attempt, hold_until_ts=None
        )
        self._wait(rec, ts + int(driver.config.ack_timeout_s * 1000))
        return rec

    def _open(self, rec: CommandRecord, note: str | None) -> CommandRecord:
        self._records[rec.correlation_id] = rec
        step = CommandTransition(
            correlation_id=rec.correlation_id,
            ts=rec.created_ts,
            state=rec.state,
            actor=rec.issued_by,
            note=note,
        )
        self._steps[rec.correlation_id] = [step]
        if rec.state in IN_FLIGHT:
            self._wait(rec, rec.expires_ts)
        self._write(rec, [step])
        self._evict()
        return rec

    def _note(self, rec: CommandRecord, ts: int, note: str) -> CommandRecord:
        return self.transition(rec, rec.state, ts, "system", note)

    def transition(
        self, rec: CommandRecord, state: CommandState, ts: int, actor: str, note: str | None, **changes: Any
    ) -> CommandRecord:
        """Move a command to `state`, keep the step and hand both to the recorder."""
        rec = rec.model_copy(update={"state": state, "updated_ts": max(ts, rec.updated_ts), **changes})
        self._records[rec.correlation_id] = rec
        step = CommandTransition(
            correlation_id=rec.correlation_id, ts=ts, state=state, actor=actor, note=note
        )
        self._steps.setdefault(rec.correlation_id, []).append(step)
        if state not in IN_FLIGHT:
            self._landed(rec)
        self._write(rec, [step])
        return rec

    def _wait(self, rec: CommandRecord, until: int) -> None:
        """Keep a command in flight until `until`, the end of its current wait."""
        self._deadline[rec.correlation_id] = until
        self._in_flight.setdefault(rec.device_id, {})[rec.correlation_id] = None

    def _landed(self, rec: CommandRecord) -> None:
        """The command is no longer in flight."""
        self._deadline.pop(rec.correlation_id, None)
        mine = self._in_flight.get(rec.device_id)
        if mine is not None:
            mine.pop(rec.correlation_id, None)
            if not mine:
                del self._in_flight[rec.device_id]

    def in_flight_of(self, device_id: str) -> list[str]:
        """The device's commands in flight (correlation ids), oldest first."""
        return list(self._in_flight.get(device_id, ()))

    def _write(self, rec: CommandRecord, steps: list[CommandTransition]) -> None:
        if self.recorder is not None:
            self.recorder.submit(rec, steps)

    def _evict(self) -> None:
        excess = len(self._records) - self.settings.keep_recent
        if excess <= 0:
            return
        busy, checking = self._deadline, self.verifier.open
        idle = (c for c in self._records if c not in busy and c not in checking)  # oldest first
        for corr in list(islice(idle, excess)):
            del self._records[corr]
            self._steps.pop(corr, None)

    def signal(self, sig: AlarmSignal) -> None:
        self._signals.append(sig)

    def device_failed(self, rec: CommandRecord, ts: int, why: str) -> None:
        """Raise 'actuator failed' on the device (once until it works again)."""
        self._failed.add(rec.device_id)
        evidence = {
            "correlation_id": rec.correlation_id,
            "action": rec.action,
            "params": rec.params,
            "state": rec.state.value,
        }
        self.signal(device_signal(self.twin, rec.device_id, True, ts, f"{rec.device_id}: {why}", evidence))

    def device_works(self, device_id: str, ts: int) -> None:
        """Resolve 'actuator failed' on a device that carried out a command."""
        if device_id in self._failed:
            self._failed.discard(device_id)
            self.signal(device_signal(self.twin, device_id, False, ts, f"{device_id} answers again", {}))

    # --- what devices say ---------------------------------------------------------------------

    def on_ack(self, device_id: str, ack: CommandAck, now: int | None = None) -> None:
        """A device's answer to a command."""
        ts = now_ms() if now is None else now
        with self._lock:
            rec = self._records.get(ack.correlation_id)
            if rec is None or rec.device_id != device_id or rec.correlation_id not in self._deadline:
                log.debug("ack %s from %s for no open command", ack.correlation_id, device_id)
                return
            if ack.status is AckStatus.DELIVERED:
                if rec.state is CommandState.SENT:
                    self.transition(rec, CommandState.DELIVERED, ts, "device", ack.detail)
                    self._wait(rec, ts + int(self.drivers[rec.kind].config.done_timeout_s * 1000))
            elif ack.status is AckStatus.SUCCEEDED:
                self.supervisor.succeeded(rec, ts, ack.detail or "the device reports success")
            else:
                state = CommandState.FAILED if ack.status is AckStatus.FAILED else CommandState.REJECTED
                rec = self.transition(rec, state, ts, "device", ack.detail)
                self.device_failed(
                    rec, ts, f"{rec.action} {rec.params} {state.value}: {ack.detail or 'no detail'}"
                )

    def on_state(self, device_id: str, reported: ActuatorState, now: int | None = None) -> None:
        """A device's reported (retained) state."""
        ts = now_ms() if now is None else now
        with self._lock:
            live = self._live.get(device_id)
            if live is None:
                return
            driver = self.drivers[self.places[device_id].kind.value]
            live.state, live.state_ts = dict(reported.state), ts
            if driver.active(live.state):
                live.active_since = live.active_since or ts
            else:
                live.active_since = None
            for corr in self.in_flight_of(device_id):
                rec = self._records[corr]
                if rec.state is not CommandState.QUEUED and driver.done(live.state, rec.action, rec.params):
                    self.supervisor.succeeded(rec, ts, "the reported state shows it done")

    def on_availability(self, device_id: str, online: bool, now: int | None = None) -> None:
        """Birth or last-will of an actuator: commands waiting for it go out when it is back."""
        ts = now_ms() if now is None else now
        with self._lock:
            live = self._live.get(device_id)
            if live is None or live.online == online:
                return
            live.online = online
            if online:
                for corr in self.in_flight_of(device_id):
                    rec = self._records[corr]
                    if rec.state is CommandState.QUEUED and rec.hold_until_ts is None:
                        self.send(rec, ts)

    def drain_signals(self) -> list[AlarmSignal]:
        """Alarm signals raised since the last call (for the alarm manager)."""
        with self._lock:
            out, self._signals = self._signals, []
            return out

    # --- queries ------------------------------------------------------------------------------

    def detail(self, correlation_id: str) -> CommandDetail | None:
        """A command in memory with its transitions, or None."""
        with self._lock:
            rec = self._records.get(correlation_id)
            if rec is None:
                return None
            return CommandDetail(**rec.model_dump(), transitions=list(self._steps.get(correlation_id, [])))

    def live(self, device_id: str) -> Live:
        return self._live[device_id]

    def failed_devices(self) -> set[str]:
        with self._lock:
            return set(self._failed)
