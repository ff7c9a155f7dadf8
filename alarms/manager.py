"""The alarm manager: the in-memory authority on alarms, work orders and credit scores.

`AlarmEngine` (alarms/engine.py) does what happens by itself (signals, graded response, deadlines,
escalation, recovery); this class adds what people do through the API (acknowledge, assign,
comment, shelve, work-order steps), the queries, and `load` to continue after a restart.  Every
method that changes something takes `now_ms` (epoch ms; the wall clock if None) and raises
`NotFound` / `InvalidTransition` / `InvalidRequest` from alarms/errors.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from alarms.credit import PartyCredit
from alarms.engine import AlarmEngine, Shelf
from alarms.errors import InvalidRequest, InvalidTransition, NotFound
from alarms.kpi import Kpis, compute_kpis
from alarms.lifecycle import user_actor
from alarms.places import WorstByPlace, party_name, worst_by_place
from alarms.ports import OpsStore
from core.alarms import Alarm, AlarmEvent, AlarmState, CreditEvent, WorkOrder, WorkOrderState, WorkOrderStep
from core.contract import now_ms as wall_clock_ms

log = logging.getLogger(__name__)

SCORED_PARTY_KINDS = frozenset({"property_company", "site_owner", "enterprise", "department"})


class LoadSummary(NamedTuple):
    """What `load` restored."""

    alarms: int
    work_orders: int
    parties: int
    shelves: int


def _now(now_ms: int | None) -> int:
    return wall_clock_ms() if now_ms is None else now_ms


class AlarmManager(AlarmEngine):
    """Alarms, graded response, work orders, escalation, credit scores and KPIs."""

    # --- alarms: what people do ---------------------------------------------------------------

    def allowed_actions(self, alarm: Alarm) -> list[str]:
        """What a person may do with the alarm now."""
        actions = ["comment"]
        if alarm.acknowledged_ts is None:
            actions.append("acknowledge")
        if alarm.state is not AlarmState.CLEARED:
            actions += ["assign", "unshelve" if alarm.shelved_until_ts is not None else "shelve"]
        return sorted(actions)

    def _refuse(self, alarm: Alarm, action: str, state: str | None = None) -> InvalidTransition:
        return InvalidTransition(
            "alarm",
            alarm.id,
            state=state or alarm.state.value,
            action=action,
            allowed=self.allowed_actions(alarm),
        )

    def acknowledge(
        self, alarm_id: str, user: str, note: str | None = None, now_ms: int | None = None
    ) -> Alarm:
        """Acknowledge an alarm in any state (once); the state does not change."""
        ts = _now(now_ms)
        with self._tx() as tx:
            alarm = self.records.get(alarm_id)
            if alarm.acknowledged_ts is not None:
                raise self._refuse(
                    alarm, "acknowledge", f"{alarm.state.value}, acknowledged by {alarm.acknowledged_by}"
                )
            return self._update(
                tx,
                alarm,
                "acknowledged",
                user_actor(user),
                ts,
                note,
                acknowledged_ts=ts,
                acknowledged_by=user,
            )

    def assign(self, alarm_id: str, user: str, assignee: str, now_ms: int | None = None) -> Alarm:
        """Give an open alarm to a person."""
        ts = _now(now_ms)
        with self._tx() as tx:
            alarm = self.records.get(alarm_id)
            if alarm.state is AlarmState.CLEARED:
                raise self._refuse(alarm, "assign")
            return self._update(
                tx, alarm, "assigned", user_actor(user), ts, f"to {assignee}", assignee=assignee
            )

    def comment(self, alarm_id: str, user: str, text: str, now_ms: int | None = None) -> AlarmEvent:
        """Add a comment to an alarm's history (open or closed)."""
        if not text.strip():
            raise InvalidRequest("a comment needs text", field="text")
        ts = _now(now_ms)
        with self._tx() as tx:
            alarm = self.records.get(alarm_id)
            self._update(tx, alarm, "commented", user_actor(user), ts, text)
            return self.records.history(alarm_id)[-1]

    def shelve(
        self, target: str, until_ts: int, reason: str, user: str, now_ms: int | None = None
    ) -> list[Alarm]:
        """Silence an alarm, or a source's alarms now and later (maintenance window); those shelved now."""
        ts = _now(now_ms)
        if until_ts <= ts:
            raise InvalidRequest(f"until_ts {until_ts} is not after now ({ts})", field="until_ts")
        if not reason.strip():
            raise InvalidRequest("say why the alarm is shelved", field="reason")
        with self._tx() as tx:
            alarm = self.records.find(target)
            if alarm is not None:
                if alarm.state is AlarmState.CLEARED:
                    raise self._refuse(alarm, "shelve")
                targets = [alarm]
            elif self._is_source(target):
                self._windows[target] = Shelf(until_ts=until_ts, reason=reason, user=user_actor(user))
                self._save_state(tx)
                targets = [a for a in self.records.open_alarms() if a.source_id == target]
            else:
                raise NotFound("alarm or source", target)
            actor, note = user_actor(user), f"until {until_ts}: {reason}"
            changes = {"shelved_until_ts": until_ts, "shelve_reason": reason}
            return [self._update(tx, a, "shelved", actor, ts, note, **changes) for a in targets]

    def unshelve(self, target: str, user: str, now_ms: int | None = None) -> list[Alarm]:
        """End a shelve or a source's maintenance window early; held responses start now."""
        ts = _now(now_ms)
        with self._tx() as tx:
            alarm = self.records.find(target)
            if alarm is not None:
                if alarm.shelved_until_ts is None or alarm.state is AlarmState.CLEARED:
                    raise self._refuse(alarm, "unshelve", f"{alarm.state.value}, not shelved")
                targets = [alarm]
            elif target in self._windows or self._is_source(target):
                if self._windows.pop(target, None) is not None:
                    self._save_state(tx)
                targets = [
                    a for a in self.records.open_alarms() if a.source_id == target and a.shelved_until_ts
                ]
            else:
                raise NotFound("alarm or source", target)
            return [self._unshelve_alarm(tx, a, user_actor(user), ts, "unshelved by hand") for a in targets]

    def _is_source(self, source_id: str) -> bool:
        twin = self.twin
        known = source_id in twin.devices or source_id in twin.spaces or source_id in twin.sites
        return known or any(a.source_id == source_id for a in self.records.open_alarms())

    def shelves(self) -> dict[str, Shelf]:
        """Maintenance windows on sources now in force."""
        with self._lock:
            return dict(self._windows)

    # --- alarms: queries ----------------------------------------------------------------------

    def get_alarm(self, alarm_id: str) -> Alarm:
        """An alarm from memory, else from the store loaded at start (a blocking read), else NotFound."""
        with self._lock:
            alarm = self.records.find(alarm_id)
        if alarm is None and self._archive is not None:
            alarm = self._archive.get_alarm(alarm_id)
        if alarm is None:
            raise NotFound("alarm", alarm_id)
        return alarm

    def alarm_history(self, alarm_id: str) -> list[AlarmEvent]:
        """Every event of an alarm, oldest first (from the store if it is no longer in memory)."""
        with self._lock:
            if self.records.find(alarm_id) is not None:
                return self.records.history(alarm_id)
        self.get_alarm(alarm_id)
        return self._archive.alarm_history(alarm_id) if self._archive is not None else []

    def list_alarms(
        self,
        *,
        states: Sequence[AlarmState] | None = None,
        site: str | None = None,
        party_id: str | None = None,
        source_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Alarm], int]:
        """Alarms in memory (open and recently closed), newest first, and how many matched."""
        with self._lock:
            found = [
                a
                for a in self.records.all()
                if (states is None or a.state in states)
                and (site is None or a.site == site)
                and (party_id is None or a.party_id == party_id)
                and (source_id is None or a.source_id == source_id)
            ]
        found.sort(key=lambda a: (a.created_ts, a.id), reverse=True)
        return found[offset : offset + limit], len(found)

    def open_alarms(self) -> list[Alarm]:
        """Alarms not cleared."""
        with self._lock:
            return self.records.open_alarms()

    def worst_by_place(self) -> WorstByPlace:
        """Worst active severity and active count per space, floor, building and site."""
        with self._lock:
            return worst_by_place(self.twin, self.records.open_alarms())

    # --- work orders --------------------------------------------------------------------------

    def _order_step(
        self,
        order_id: str,
        action: str,
        user: str,
        now_ms: int | None,
        note: str | None,
        *,
        rejected: bool = False,
        update: Mapping[str, object] | None = None,
    ) -> WorkOrder:
        ts = _now(now_ms)
        with self._tx() as tx:
            order, step = self.orders.act(
                order_id, action, user, ts, note=note, rejected=rejected, update=update
            )
            self._save_order(tx, order, [step])
            if order.state is WorkOrderState.CLOSED:
                if order.overdue and order.party_id:
                    self.credit.restart_period(order.party_id, ts)
                    self._save_state(tx)
                alarm = self.records.find(order.alarm_id)
                if alarm is not None:
                    self._update(tx, alarm, "work_order", user_actor(user), ts, f"{order.id} closed")
            return order

    def sign_work_order(
        self, order_id: str, user: str, note: str | None = None, now_ms: int | None = None
    ) -> WorkOrder:
        """The responsible department signs for the order."""
        return self._order_step(order_id, "sign", user, now_ms, note)

    def assign_work_order(
        self, order_id: str, user: str, assignee: str, note: str | None = None, now_ms: int | None = None
    ) -> WorkOrder:
        """Give a signed order to the person who will handle it."""
        step_note = note or f"to {assignee}"
        return self._order_step(order_id, "assign", user, now_ms, step_note, update={"assignee": assignee})

    def transfer_work_order(
        self,
        order_id: str,
        user: str,
        assignee: str,
        party_id: str | None = None,
        note: str | None = None,
        now_ms: int | None = None,
    ) -> WorkOrder:
        """Hand the order to another person, or another party (department) with `party_id`."""
        update = self.orders.transfer_args(assignee, party_id)
        text = note or f"to {assignee}" + (f" of {party_id}" if party_id else "")
        return self._order_step(order_id, "transfer", user, now_ms, text, update=update)

    def handle_work_order(
        self, order_id: str, user: str, note: str, photos: Sequence[str] = (), now_ms: int | None = None
    ) -> WorkOrder:
        """Report the hazard fixed, with a note and photo references."""
        if not note.strip():
            raise InvalidRequest("say what was done", field="note")
        update = {"note": note, "photos": list(photos)}
        return self._order_step(order_id, "handle", user, now_ms, note, update=update)

    def verify_work_order(
        self, order_id: str, user: str, ok: bool, note: str | None = None, now_ms: int | None = None
    ) -> WorkOrder:
        """Check the handling: ok -> verified (then close); rejected -> back to assigned."""
        text = note if ok else (note or "rejected")
        return self._order_step(order_id, "verify", user, now_ms, text, rejected=not ok)

    def close_work_order(
        self, order_id: str, user: str, note: str | None = None, now_ms: int | None = None
    ) -> WorkOrder:
        """Close a verified order."""
        return self._order_step(order_id, "close", user, now_ms, note)

    def get_work_order(self, order_id: str) -> WorkOrder:
        """A work order from memory, else from the store (a blocking read), else NotFound."""
        with self._lock:
            order = self.orders.find(order_id)
        if order is None and self._archive is not None:
            order = self._archive.get_work_order(order_id)
        if order is None:
            raise NotFound("work order", order_id)
        return order

    def work_order_steps(self, order_id: str) -> list[WorkOrderStep]:
        """Every step of a work order, oldest first."""
        with self._lock:
            if self.orders.find(order_id) is not None:
                return self.orders.steps(order_id)
        self.get_work_order(order_id)
        return self._archive.work_order_steps(order_id) if self._archive is not None else []

    def list_work_orders(
        self,
        *,
        states: Sequence[WorkOrderState] | None = None,
        party_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[WorkOrder], int]:
        """Work orders in memory, newest first, and how many matched."""
        with self._lock:
            found = [
                o
                for o in self.orders.all()
                if (states is None or o.state in states) and (party_id is None or o.party_id == party_id)
            ]
        found.sort(key=lambda o: (o.created_ts, o.id), reverse=True)
        return found[offset : offset + limit], len(found)

    # --- credit and KPIs ----------------------------------------------------------------------

    def credit_scores(self) -> list[PartyCredit]:
        """Every responsible party of the twin and every party with a history, lowest score first."""
        with self._lock:
            parties = {p.id for p in self.twin.spec.parties if p.kind in SCORED_PARTY_KINDS}
            parties |= set(self.credit.scores())
            out = [self.credit.standing(p, party_name(self.twin, p)) for p in parties]
        return sorted(out, key=lambda c: (c.score, c.party_id))

    def credit_history(self, party_id: str) -> list[CreditEvent]:
        """A party's credit events, oldest first: from the store if loaded (blocking), else memory."""
        if self._archive is not None:
            return self._archive.credit_history(party_id)
        with self._lock:
            return self.credit.history(party_id)

    def key_supervision(self) -> list[PartyCredit]:
        """Parties below the key-supervision threshold (80 by default), lowest first."""
        return [c for c in self.credit_scores() if c.key_supervision]

    def training_required(self) -> list[PartyCredit]:
        """Parties below the training threshold (60 by default), lowest first."""
        return [c for c in self.credit_scores() if c.training_required]

    def kpis(self, since_ts: int, until_ts: int, now_ms: int | None = None) -> Kpis:
        """Operations-centre KPIs of the alarms and orders in memory raised in [since_ts, until_ts)."""
        with self._lock:
            alarms, orders = self.records.all(), self.orders.all()
        return compute_kpis(alarms, orders, since_ts=since_ts, until_ts=until_ts, now_ms=_now(now_ms))

    # --- restart ------------------------------------------------------------------------------

    def load(
        self, store: OpsStore, now_ms: int | None = None, owns_site: Callable[[str], bool] | None = None
    ) -> LoadSummary:
        """Restore open alarms, open work orders (and their alarms), credit scores and shelves.

        `owns_site` keeps the alarms and orders of this worker's sites where several workers share
        the store (each raised them for its own sites and alone may escalate or close them).
        """
        ts = _now(now_ms)
        mine = owns_site or (lambda _site: True)
        with self._lock:
            alarms = [a for a in store.open_alarms() if mine(a.site)]
            for alarm in alarms:
                self.records.restore(alarm, store.alarm_history(alarm.id))
            orders = [o for o in store.open_work_orders() if mine(o.site)]
            for order in orders:
                self.orders.restore(order, store.work_order_steps(order.id))
                if self.records.find(order.alarm_id) is None:
                    closed = store.get_alarm(order.alarm_id)
                    if closed is not None:
                        self.records.restore(closed, store.alarm_history(closed.id))
            doc = store.load_document(self.state_doc) or {}
            scores = store.credit_scores()
            self.credit.restore(scores, doc.get("credit") or {}, ts)
            self._windows = {
                source: Shelf(until_ts=int(s["until_ts"]), reason=str(s["reason"]), user=str(s["user"]))
                for source, s in (doc.get("shelves") or {}).items()
            }
            self._archive = store
        summary = LoadSummary(len(alarms), len(orders), len(scores), len(self._windows))
        log.info(
            "alarm manager loaded %d open alarms, %d open work orders, %d credit scores, %d shelves",
            *summary,
        )
        return summary
