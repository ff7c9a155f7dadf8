"""What happens with time and evidence: retries, time-outs, expiry, overrides ending, maximum on-time,
and the closed-loop check of remedies (effect verified / effect not seen)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actuators.records import IN_FLIGHT, CommandRecord, CommandState
from actuators.signals import space_signal
from actuators.verify import Expectation
from core.records import ReadingBatch

if TYPE_CHECKING:
    from actuators.manager import CommandManager

log = logging.getLogger(__name__)


class Supervisor:
    """The time-driven half of the command manager; always called under the manager's lock."""

    def __init__(self, manager: CommandManager) -> None:
        self.m = manager
        self.ineffective: set[str] = set()  # spaces with 'ventilation ineffective' raised

    def succeeded(self, rec: CommandRecord, ts: int, note: str) -> CommandRecord:
        """The device did it; start the closed-loop check if the command carries one."""
        m = self.m
        rec = m.transition(rec, CommandState.SUCCEEDED, ts, "device", note)
        m.device_works(rec.device_id, ts)
        live, driver = m.live(rec.device_id), m.drivers[rec.kind]
        live.state = {**live.state, **driver.expected_state(rec.action, rec.params)}
        live.state_ts = live.state_ts or ts
        if driver.activates(rec.action, rec.params):
            live.active_since = live.active_since or ts
            live.min_on_s, live.max_on_s = rec.min_on_s, rec.max_on_s
        else:
            live.active_since = None  # stopped: the next run's on-times start afresh
            live.min_on_s = live.max_on_s = None
        if rec.verify is not None and driver.activates(rec.action, rec.params):
            exp = m.verifier.expect(rec.correlation_id, rec.device_id, rec.space, rec.verify, ts)
            if exp is None:
                return m.transition(
                    rec,
                    rec.state,
                    ts,
                    "system",
                    f"no {rec.verify.metric} reading in {rec.space} to verify against",
                )
            note = (
                f"expect {rec.verify.metric} to fall from {exp.baseline:g} to {exp.target:g} "
                f"within {rec.verify.within_s:g} s"
            )
            return m.transition(rec, rec.state, ts, "system", note)
        return rec

    # --- readings -----------------------------------------------------------------------------

    def on_readings(self, batch: ReadingBatch, ts: int) -> None:
        """Readings from the rules pipeline: levels for interlocks, remedies that worked."""
        for exp in self.m.verifier.on_readings(batch):
            self._verified(exp, ts)

    def _verified(self, exp: Expectation, ts: int) -> None:
        m = self.m
        rec = m._records.get(exp.correlation_id)
        now_level = m.verifier.level(exp.space, exp.spec.metric)
        note = (
            f"{exp.spec.metric} fell from {exp.baseline:g} to {now_level:g} (target {exp.target:g}) "
            f"in {(ts - exp.started_ts) / 1000:.0f} s"
        )
        if rec is not None:
            m.transition(rec, CommandState.EFFECT_VERIFIED, ts, "system", note)
        m.suspects.pop(exp.device_id, None)
        log.info("remedy %s in %s worked: %s", exp.correlation_id, exp.space, note)
        if exp.space in self.ineffective:
            self.ineffective.discard(exp.space)
            m.signal(space_signal(m.twin, exp.space, False, ts, f"remedy works again: {note}", {}))

    def _not_seen(self, exp: Expectation, ts: int) -> None:
        m = self.m
        rec = m._records.get(exp.correlation_id)
        lowest = "no reading" if exp.lowest is None else f"lowest {exp.lowest:g}"
        stuck = exp.stuck_sensor()
        if stuck is not None:
            suspect, why = stuck, f"reported one unchanging {exp.spec.metric} value while {exp.device_id} ran"
        else:
            suspect, why = exp.device_id, f"ran but {exp.spec.metric} in {exp.space} did not fall as expected"
        m.suspects[suspect] = why
        note = (
            f"{exp.spec.metric} did not fall from {exp.baseline:g} to {exp.target:g} within "
            f"{exp.spec.within_s:g} s ({lowest}); suspect {suspect}"
        )
        if rec is not None:
            m.transition(rec, CommandState.EFFECT_NOT_SEEN, ts, "system", note)
        log.warning(
            "remedy %s on %s in %s did not work: %s", exp.correlation_id, exp.device_id, exp.space, note
        )
        self.ineffective.add(exp.space)
        evidence = {
            "device_id": exp.device_id,
            "metric": exp.spec.metric,
            "baseline": exp.baseline,
            "target": exp.target,
            "lowest": exp.lowest,
            "suspect": suspect,
            "correlation_id": exp.correlation_id,
        }
        m.signal(
            space_signal(
                m.twin, exp.space, True, ts, f"ventilation ineffective in {exp.space}: {note}", evidence
            )
        )

    def end_remedies(self, space: str, ts: int) -> None:
        """The alarm that asked for remedies in a space cleared: its 'ventilation ineffective' clears too."""
        if space in self.ineffective:
            self.ineffective.discard(space)
            self.m.signal(
                space_signal(self.m.twin, space, False, ts, "the alarm that asked for it cleared", {})
            )

    def continue_after_restart(self, records: list[CommandRecord], ts: int) -> None:
        """Stored commands from before a restart: in-flight ones end, overrides still running go on."""
        m = self.m
        for rec in records:
            if rec.device_id not in m.places:
                continue
            live = m.live(rec.device_id)
            if rec.state in IN_FLIGHT:
                m._records[rec.correlation_id] = rec
                note = "SafeTwin restarted before the outcome; the device's retained state shows what it did"
                m.transition(rec, CommandState.EXPIRED, ts, "system", note)
            running = rec.override_until_ts is not None and rec.override_until_ts > ts and rec.operator
            if running and (
                live.override_until is None or (rec.override_until_ts or 0) > live.override_until
            ):
                live.override_until, live.override_by = rec.override_until_ts, rec.operator

    # --- time ---------------------------------------------------------------------------------

    def tick(self, ts: int) -> None:
        """Retries, time-outs, expiry, held commands, overrides, maximum on-time, overdue checks."""
        m = self.m
        for corr, deadline in list(m._deadline.items()):
            rec = m._records[corr]
            if rec.state is CommandState.QUEUED:
                self._queued(rec, ts)
            elif deadline <= ts:
                self._late(rec, ts)
        for device in m.places:
            self._override_end(device, ts)
            self._max_on(device, ts)
        for exp in m.verifier.overdue(ts):
            self._not_seen(exp, ts)

    def _queued(self, rec: CommandRecord, ts: int) -> None:
        m = self.m
        if rec.expires_ts <= ts:
            m.transition(
                rec, CommandState.EXPIRED, ts, "system", "the device did not come back before it expired"
            )
            log.warning("command %s to %s expired unsent", rec.correlation_id, rec.device_id)
        elif rec.hold_until_ts is not None and rec.hold_until_ts <= ts and m.live(rec.device_id).online:
            m.send(rec, ts)

    def _late(self, rec: CommandRecord, ts: int) -> None:
        m = self.m
        driver = m.drivers[rec.kind]
        if rec.state is CommandState.SENT and rec.attempts <= driver.config.retries and rec.expires_ts > ts:
            m.send(rec, ts)
            return
        waited = "no 'delivered'" if rec.state is CommandState.SENT else "no outcome after 'delivered'"
        why = f"{waited} after {rec.attempts} attempt(s)"
        rec = m.transition(rec, CommandState.TIMED_OUT, ts, "system", why)
        log.error("command %s to %s timed out: %s", rec.correlation_id, rec.device_id, why)
        m.device_failed(rec, ts, f"does not answer: {rec.action} {rec.params} timed out ({why})")

    def _override_end(self, device: str, ts: int) -> None:
        m = self.m
        live = m.live(device)
        if live.override_until is None or live.override_until > ts:
            return
        prev, who = live.override_prev or {}, live.override_by
        live.override_until = live.override_by = live.override_prev = None
        driver = m.drivers[m.places[device].kind.value]
        wanted = m.automatic(device) or driver.restore(prev) or driver.idle()
        log.info("manual override of %s by %s ended; automatic control resumes", device, who)
        if wanted is not None:
            m.submit(
                device,
                wanted[0],
                wanted[1],
                issued_by="system:override-ended",
                reason=f"override by {who or 'an operator'} expired: back to automatic control",
                now=ts,
            )

    def _max_on(self, device: str, ts: int) -> None:
        m = self.m
        live = m.live(device)
        driver = m.drivers[m.places[device].kind.value]
        limit = driver.config.max_on_s if live.max_on_s is None else live.max_on_s
        if limit is None or live.active_since is None or ts - live.active_since < limit * 1000:
            return
        if live.override_until is not None:
            return  # a person holds it on deliberately
        action, params = driver.release()
        if m.in_flight_of(device):
            return  # a command is already on its way
        live.active_since = None  # once per run; the state report sets it again if it keeps running
        m.submit(
            device,
            action,
            params,
            issued_by="system:max-on-time",
            reason=f"ran for the maximum on-time of {limit:g} s",
            now=ts,
        )
