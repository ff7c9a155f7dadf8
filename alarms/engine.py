"""The automatic half of the alarm manager: signals in, graded response, deadlines, escalation, recovery.

Everything runs under one lock and writes its changes into a `ChangeSet` that goes to the ops writer
at the end of the operation, so memory (the authority) and the store never disagree for long.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from alarms.credit import CreditBook
from alarms.lifecycle import apply_signal, new_alarm, rule_actor
from alarms.ports import OpsStore, ResponseSink
from alarms.records import AlarmRecords
from alarms.response import Responder
from alarms.settings import AlarmSettings
from alarms.workorders import WorkOrderBook
from alarms.writer import ChangeSet, OpsWriter
from core.alarms import (
    Alarm,
    AlarmEvent,
    AlarmSignal,
    AlarmState,
    CreditEvent,
    Grade,
    Severity,
    SignalKind,
    SourceKind,
    WorkOrder,
    WorkOrderStep,
)
from twin.twin import Twin

log = logging.getLogger(__name__)

STATE_DOC = "alarms.state"  # shelves and credit bookkeeping, saved whole through OpsStore.save_document
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Shelf:
    """A maintenance window on a source: its alarms are recorded but not announced until `until_ts`."""

    until_ts: int
    reason: str
    user: str


class AlarmEngine:
    """Turns signals into alarms and responses; see AlarmManager for the people-facing methods."""

    def __init__(
        self,
        twin: Twin,
        settings: AlarmSettings | None = None,
        *,
        sink: ResponseSink | None = None,
        writer: OpsWriter | None = None,
        rule_name_zh: Callable[[str], str | None] | None = None,
        state_doc: str = STATE_DOC,
    ) -> None:
        self.twin = twin
        self.state_doc = state_doc  # one per worker where several share the store
        self.settings = settings or AlarmSettings()
        self.responder = Responder(self.settings, twin, sink, rule_name_zh)
        self.records = AlarmRecords(self.settings.keep_closed)
        self.orders = WorkOrderBook(self.settings, twin)
        self.credit = CreditBook(self.settings.credit)
        self.writer = writer
        self._windows: dict[str, Shelf] = {}
        self._archive: OpsStore | None = None
        self._lock = threading.RLock()

    # --- bookkeeping --------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[ChangeSet]:
        """Hold the lock for one operation and hand what it changed to the writer at the end."""
        with self._lock:
            tx = ChangeSet()
            try:
                yield tx
            finally:
                if self.writer is not None and not tx.empty():
                    self.writer.submit(tx)

    def _event(self, tx: ChangeSet, alarm: Alarm, action: str, actor: str, ts: int, note: str | None) -> None:
        event = AlarmEvent(
            alarm_id=alarm.id,
            ts=ts,
            actor=actor,
            action=action,
            state=alarm.state,
            severity=alarm.severity,
            note=note,
        )
        self.records.add_event(event)
        tx.alarm_events.append(event)

    def _update(
        self, tx: ChangeSet, alarm: Alarm, action: str, actor: str, ts: int, note: str | None, **changes: Any
    ) -> Alarm:
        """Apply changes to an alarm, keep it and write one history line about it."""
        if changes:
            alarm = alarm.model_copy(update={**changes, "updated_ts": max(ts, alarm.updated_ts)})
            self.records.put(alarm)
            tx.alarms[alarm.id] = alarm
        self._event(tx, alarm, action, actor, ts, note)
        return alarm

    def _save_order(self, tx: ChangeSet, order: WorkOrder, steps: list[WorkOrderStep]) -> None:
        tx.work_orders[order.id] = order
        tx.steps.extend(steps)

    def _credit(self, tx: ChangeSet, event: CreditEvent | None) -> None:
        if event is not None:
            tx.credit_events.append(event)
        self._save_state(tx)

    def _save_state(self, tx: ChangeSet) -> None:
        tx.documents[self.state_doc] = {
            "version": 1,
            "shelves": {source: asdict(shelf) for source, shelf in self._windows.items()},
            "credit": self.credit.state(),
        }

    @staticmethod
    def _shelved(alarm: Alarm, ts: int) -> bool:
        return alarm.shelved_until_ts is not None and alarm.shelved_until_ts > ts

    # --- signals ------------------------------------------------------------------------------

    def on_signal(self, signal: AlarmSignal) -> Alarm | None:
        """Apply a rule's signal: open, move or close the alarm of (rule, source); None if nothing is open."""
        with self._tx() as tx:
            alarm = self.records.open_for(signal.rule_id, signal.source_id)
            if alarm is None:
                if not self._opens(signal):
                    return None
                alarm = self._rearm(tx, signal)
                if alarm is None:
                    return self._raise_new(tx, signal)
            alarm = self._check_deadline(tx, alarm, signal.ts)  # a fix after the deadline is still late
            before = alarm
            alarm, changes = apply_signal(alarm, signal)
            if not changes:
                return alarm
            self.records.put(alarm)
            tx.alarms[alarm.id] = alarm
            for action, note in changes:
                in_time = action == AlarmState.CLEARED and self._closes_in_time(alarm)
                text = (
                    f"{note} — fixed before the deadline: closed by re-detection, no work order"
                    if in_time
                    else note
                )
                self._event(tx, alarm, action, rule_actor(signal.rule_id), signal.ts, text)
            return self._after_change(tx, before, alarm, signal.ts)

    def _rearm(self, tx: ChangeSet, signal: AlarmSignal) -> Alarm | None:
        """Reopen the last alarm of (rule, source) if it cleared while still pending, only moments ago.

        A value flapping around a threshold makes its on-delay start and stop again and again; that is one
        pending alarm coming and going, not a new alarm each time (no alarm storm).
        """
        last = self.records.last_closed(signal.rule_id, signal.source_id)
        window = int(self.settings.rearm_window_s * 1000)
        if last is None or last.active_ts is not None or last.cleared_ts is None:
            return None
        if signal.ts - last.cleared_ts > window:
            return None
        alarm = last.model_copy(update={"state": AlarmState.PENDING, "cleared_ts": None})
        self.records.put(alarm)
        tx.alarms[alarm.id] = alarm
        self._event(
            tx,
            alarm,
            "reopened",
            rule_actor(signal.rule_id),
            signal.ts,
            "the condition came back before the alarm ever became active",
        )
        return alarm

    def _opens(self, signal: AlarmSignal) -> bool:
        """Whether a signal with no open alarm opens one."""
        if signal.kind in (SignalKind.NO_DATA, SignalKind.ERROR):
            return self.settings.open_on_no_data
        return signal.kind is not SignalKind.RESOLVED

    @staticmethod
    def _closes_in_time(alarm: Alarm) -> bool:
        return alarm.grade is Grade.GENERAL and alarm.deadline_ts is not None and alarm.work_order_id is None

    def _raise_new(self, tx: ChangeSet, signal: AlarmSignal) -> Alarm:
        grade = self.responder.grade_of(signal, signal.severity)
        party = self.twin.responsible_party(signal.site, signal.building)
        alarm = new_alarm(signal, f"al-{uuid.uuid4().hex[:16]}", grade, party)
        shelf = self._windows.get(signal.source_id)
        if shelf is not None and shelf.until_ts > signal.ts:
            alarm = alarm.model_copy(
                update={"shelved_until_ts": shelf.until_ts, "shelve_reason": shelf.reason}
            )
        self.records.put(alarm)
        tx.alarms[alarm.id] = alarm
        actor = rule_actor(signal.rule_id)
        self._event(tx, alarm, "raised", actor, signal.ts, f"{signal.rule_name} v{signal.rule_version}")
        self._event(tx, alarm, alarm.state.value, actor, signal.ts, signal.message)
        if shelf is not None and alarm.shelved_until_ts is not None:
            self._event(tx, alarm, "shelved", shelf.user, signal.ts, f"maintenance window: {shelf.reason}")
        log.info(
            "alarm %s raised: %s on %s (%s)", alarm.id, alarm.rule_id, alarm.source_id, alarm.state.value
        )
        return self._after_change(tx, None, alarm, signal.ts)

    def _after_change(self, tx: ChangeSet, before: Alarm | None, alarm: Alarm, ts: int) -> Alarm:
        """Consequences of a transition: credit, regrading, tighter deadlines, the graded response."""
        became_active = alarm.state is AlarmState.ACTIVE and (before is None or before.active_ts is None)
        if became_active and not self._shelved(alarm, ts):
            self._credit(tx, self.credit.on_hazard(alarm, ts))
        if alarm.grade is Grade.GENERAL and alarm.severity is Severity.EMERGENCY:
            alarm = self._update(
                tx, alarm, "regraded", SYSTEM, ts, "general -> emergency", grade=Grade.EMERGENCY
            )
            if alarm.work_order_id is not None:
                self._emergency_upgrade(tx, alarm, ts)
        elif before is not None and alarm.severity.rank > before.severity.rank:
            alarm = self._tighten_deadline(tx, alarm, ts)
        if alarm.state is AlarmState.CLEARED:
            log.info("alarm %s cleared", alarm.id)
        return self._respond_if_due(tx, alarm, ts, announce=became_active)

    def _tighten_deadline(self, tx: ChangeSet, alarm: Alarm, ts: int) -> Alarm:
        """A general hazard that got worse gets the shorter deadline of its new severity."""
        if alarm.deadline_ts is None or alarm.work_order_id is not None:
            return alarm
        deadline = ts + self.settings.hazard_deadline_s.ms(alarm.severity)
        if deadline >= alarm.deadline_ts:
            return alarm
        note = f"worse: fix within {(deadline - ts) // 60_000} min"
        return self._update(tx, alarm, "deadline", SYSTEM, ts, note, deadline_ts=deadline)

    def _respond_if_due(self, tx: ChangeSet, alarm: Alarm, ts: int, *, announce: bool) -> Alarm:
        """Start the graded response of an active alarm that has not had it (held while shelved)."""
        if alarm.state is not AlarmState.ACTIVE:
            return alarm
        general_due = alarm.grade is Grade.GENERAL and alarm.deadline_ts is None
        emergency_due = alarm.grade is Grade.EMERGENCY and alarm.work_order_id is None
        if not (general_due or emergency_due):
            return alarm
        if self._shelved(alarm, ts):
            if announce:
                note = f"shelved until {alarm.shelved_until_ts}: {alarm.grade.value} response held"
                self._event(tx, alarm, "suppressed", SYSTEM, ts, note)
            return alarm
        if general_due:
            text, err = self.responder.broadcast(alarm)
            deadline = ts + self.settings.hazard_deadline_s.ms(alarm.severity)
            minutes = (deadline - ts) // 60_000
            note = f"{text} — fix within {minutes} min" + (f" (broadcast failed: {err})" if err else "")
            return self._update(tx, alarm, "broadcast", SYSTEM, ts, note, deadline_ts=deadline)
        text, err = self.responder.notify(alarm, self.settings.emergency_notice)
        self._notified(tx, alarm, ts, text, err)
        return self._make_work_order(tx, alarm, ts, "emergency: work order at once")

    def _notified(self, tx: ChangeSet, alarm: Alarm, ts: int, text: str, err: str | None) -> None:
        channels = ",".join(self.settings.notify_channels)
        note = f"[{channels}] {text}" + (f" (failed: {err})" if err else "")
        self._event(tx, alarm, "notified", SYSTEM, ts, note)

    def _emergency_upgrade(self, tx: ChangeSet, alarm: Alarm, ts: int) -> None:
        """A general hazard that already has a work order became an emergency: notify, tighten the order."""
        if not self._shelved(alarm, ts):
            text, err = self.responder.notify(alarm, self.settings.emergency_notice)
            self._notified(tx, alarm, ts, text, err)
        order = self.orders.find(alarm.work_order_id or "")
        if order is None or order.closed_ts is not None:
            return
        deadline = min(order.deadline_ts, ts + self.settings.work_order_deadline_s.ms(Severity.EMERGENCY))
        order = order.model_copy(update={"severity": Severity.EMERGENCY, "deadline_ts": deadline})
        self.orders.put(order)
        self._save_order(tx, order, [])

    def _make_work_order(self, tx: ChangeSet, alarm: Alarm, ts: int, reason: str) -> Alarm:
        order, step = self.orders.create(alarm, ts)
        self._save_order(tx, order, [step])
        note = f"{order.id} dispatched to {alarm.party_id or 'nobody (no responsible party)'}: {reason}"
        log.info("alarm %s: work order %s (%s)", alarm.id, order.id, reason)
        return self._update(tx, alarm, "work_order", SYSTEM, ts, note, work_order_id=order.id)

    def _check_deadline(self, tx: ChangeSet, alarm: Alarm, now_ms: int) -> Alarm:
        """A general hazard still open at its deadline becomes a work order for the responsible party."""
        if (
            alarm.grade is not Grade.GENERAL
            or alarm.deadline_ts is None
            or alarm.work_order_id is not None
            or alarm.state is AlarmState.CLEARED
            or now_ms < alarm.deadline_ts
        ):
            return alarm
        alarm = self._make_work_order(tx, alarm, now_ms, "not fixed by the deadline")
        order = self.orders.get(alarm.work_order_id or "")
        if self._shelved(alarm, now_ms):
            self._event(tx, alarm, "suppressed", SYSTEM, now_ms, "shelved: dispatch notification held")
            return alarm
        minutes = (order.deadline_ts - now_ms) // 60_000
        text, err = self.responder.notify(
            alarm, self.settings.dispatch_notice, minutes=minutes, order=order.id
        )
        self._notified(tx, alarm, now_ms, text, err)
        return alarm

    # --- time ---------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Deadlines, escalations, shelve expiry and credit recovery up to `now_ms`."""
        with self._tx() as tx:
            self._expire_shelves(tx, now_ms)
            for alarm in self.records.open_alarms():
                self._check_deadline(tx, alarm, now_ms)
            self._escalate(tx, now_ms)
            blocked = {o.party_id for o in self.orders.open_orders() if o.overdue and o.party_id}
            recovered = self.credit.recover(now_ms, blocked)
            tx.credit_events.extend(recovered)
            if recovered:
                self._save_state(tx)

    def _expire_shelves(self, tx: ChangeSet, now_ms: int) -> None:
        expired = [source for source, shelf in self._windows.items() if shelf.until_ts <= now_ms]
        for source in expired:
            del self._windows[source]
        if expired:
            self._save_state(tx)
        for alarm in self.records.open_alarms():
            if alarm.shelved_until_ts is not None and alarm.shelved_until_ts <= now_ms:
                self._unshelve_alarm(tx, alarm, SYSTEM, now_ms, "shelve expired")

    def _unshelve_alarm(self, tx: ChangeSet, alarm: Alarm, actor: str, ts: int, note: str) -> Alarm:
        alarm = self._update(
            tx, alarm, "unshelved", actor, ts, note, shelved_until_ts=None, shelve_reason=None
        )
        return self._respond_if_due(tx, alarm, ts, announce=False)

    def _escalate(self, tx: ChangeSet, now_ms: int) -> None:
        escalations, steps = self.orders.escalate_due(now_ms)
        tx.steps.extend(steps)
        for esc in escalations:
            tx.work_orders[esc.order.id] = self.orders.get(esc.order.id)
            if esc.first:
                self._credit(tx, self.credit.on_overdue(esc.order, now_ms))
            if esc.to is None:
                continue
            alarm = self._alarm_for_order(esc.order)
            text, err = self.responder.notify(
                alarm, self.settings.escalation_notice, party_id=esc.to, order=esc.order.id
            )
            if self.records.find(alarm.id) is not None:
                self._notified(tx, alarm, now_ms, text, err)
            log.warning("work order %s overdue: level %d, escalated to %s", esc.order.id, esc.level, esc.to)

    def _alarm_for_order(self, order: WorkOrder) -> Alarm:
        """The order's alarm from memory, else a stand-in built from the order (it was forgotten)."""
        alarm = self.records.find(order.alarm_id)
        if alarm is not None:
            return alarm
        return Alarm(
            id=order.alarm_id,
            rule_id="",
            rule_version=1,
            rule_name=order.title,
            category=order.category,
            source_kind=SourceKind.SPACE if order.space else SourceKind.SITE,
            source_id=order.space or order.site,
            site=order.site,
            building=order.building,
            space=order.space,
            state=AlarmState.CLEARED,
            severity=order.severity,
            peak_severity=order.severity,
            grade=Grade.GENERAL,
            message=order.title,
            created_ts=order.created_ts,
            updated_ts=order.created_ts,
            party_id=order.party_id,
            work_order_id=order.id,
        )
