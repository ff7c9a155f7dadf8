"""Work orders (Anjing): created -> signed -> assigned / transferred -> handled -> verified -> closed.

A verification that fails sends the order back to assigned.  An order not handled by its deadline is
overdue and climbs the site's escalation chain (grid worker -> community -> street -> district), one
level at the deadline and one more per further escalation period.  Handled and verified orders wait
for the supervisor, not the party, so they neither go overdue nor escalate.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alarms.errors import InvalidRequest, InvalidTransition, NotFound
from alarms.lifecycle import user_actor
from alarms.places import place_name
from alarms.settings import AlarmSettings
from core.alarms import Alarm, WorkOrder, WorkOrderAction, WorkOrderState, WorkOrderStep
from twin.twin import Twin

log = logging.getLogger(__name__)

S = WorkOrderState
# action -> state it leads to, for every state: the whole machine in one table
TRANSITIONS: dict[WorkOrderState, dict[str, WorkOrderState]] = {
    S.CREATED: {"sign": S.SIGNED},
    S.SIGNED: {"assign": S.ASSIGNED, "transfer": S.ASSIGNED},
    S.ASSIGNED: {"transfer": S.ASSIGNED, "handle": S.HANDLED},
    S.HANDLED: {"verify": S.VERIFIED},  # a rejected verification goes back to ASSIGNED
    S.VERIFIED: {"close": S.CLOSED},
    S.CLOSED: {},
}
# states in which the responsible party owes the work: the deadline runs
RUNNING = frozenset({S.CREATED, S.SIGNED, S.ASSIGNED})
STEP_OF_ACTION: dict[str, WorkOrderAction] = {
    "sign": "signed",
    "assign": "assigned",
    "transfer": "transferred",
    "handle": "handled",
    "verify": "verified",
    "close": "closed",
}


@dataclass(frozen=True, slots=True)
class Escalation:
    """An order went overdue (level 1) or climbed one more level; `to` is the party it reached."""

    order: WorkOrder
    level: int
    to: str | None
    first: bool  # True when this is the moment it went overdue


class WorkOrderBook:
    """The work orders in memory: open ones and the most recent closed ones."""

    def __init__(self, settings: AlarmSettings, twin: Twin) -> None:
        self.settings = settings
        self.twin = twin
        self._orders: dict[str, WorkOrder] = {}
        self._steps: dict[str, list[WorkOrderStep]] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()

    # --- reading ------------------------------------------------------------------------------

    def get(self, order_id: str) -> WorkOrder:
        """The work order, or NotFound."""
        order = self._orders.get(order_id)
        if order is None:
            raise NotFound("work order", order_id)
        return order

    def find(self, order_id: str) -> WorkOrder | None:
        """The work order if it is in memory."""
        return self._orders.get(order_id)

    def steps(self, order_id: str) -> list[WorkOrderStep]:
        """Every step of the order, oldest first."""
        self.get(order_id)
        return list(self._steps.get(order_id, []))

    def all(self) -> list[WorkOrder]:
        """Every order in memory."""
        return list(self._orders.values())

    def open_orders(self) -> list[WorkOrder]:
        """Orders not closed."""
        return [o for o in self._orders.values() if o.state is not S.CLOSED]

    def restore(self, order: WorkOrder, steps: Sequence[WorkOrderStep]) -> None:
        """Put back an order loaded from the store."""
        self._orders[order.id] = order
        self._steps[order.id] = list(steps)
        if order.state is S.CLOSED:
            self._retire(order.id)

    # --- changing -----------------------------------------------------------------------------

    def create(self, alarm: Alarm, now_ms: int, actor: str = "system") -> tuple[WorkOrder, WorkOrderStep]:
        """A new order for the alarm, dispatched to its responsible party, with its deadline."""
        order = WorkOrder(
            id=f"wo-{uuid.uuid4().hex[:16]}",
            alarm_id=alarm.id,
            title=f"{alarm.rule_name} · {place_name(self.twin, alarm)}",
            category=alarm.category,
            severity=alarm.severity,
            site=alarm.site,
            building=alarm.building,
            space=alarm.space,
            party_id=alarm.party_id,
            state=S.CREATED,
            created_ts=now_ms,
            deadline_ts=now_ms + self.settings.work_order_deadline_s.ms(alarm.severity),
        )
        note = f"dispatched to {alarm.party_id or 'no responsible party (none in the twin)'}: {alarm.message}"
        step = WorkOrderStep(work_order_id=order.id, ts=now_ms, actor=actor, action="created", note=note)
        self._orders[order.id] = order
        self._steps[order.id] = [step]
        return order, step

    def put(self, order: WorkOrder) -> None:
        """Replace an order in memory (severity raised, deadline tightened)."""
        self._orders[order.id] = order

    def act(
        self,
        order_id: str,
        action: str,
        user: str,
        now_ms: int,
        *,
        note: str | None = None,
        rejected: bool = False,
        update: Mapping[str, object] | None = None,
    ) -> tuple[WorkOrder, WorkOrderStep]:
        """Apply an action of the table (`rejected`: a failed verify); InvalidTransition if not allowed."""
        order = self.get(order_id)
        allowed = TRANSITIONS[order.state]
        if action not in allowed:
            raise InvalidTransition(
                "work order", order_id, state=order.state.value, action=action, allowed=sorted(allowed)
            )
        state = S.ASSIGNED if rejected else allowed[action]
        changes: dict[str, object] = {"state": state, **(update or {})}
        if state is S.CLOSED:
            changes["closed_ts"] = now_ms
        order = order.model_copy(update=changes)
        step = WorkOrderStep(
            work_order_id=order_id,
            ts=now_ms,
            actor=user_actor(user),
            action="rejected" if rejected else STEP_OF_ACTION[action],
            note=note,
        )
        self._orders[order_id] = order
        self._steps[order_id].append(step)
        if order.state is S.CLOSED:
            self._retire(order_id)
        return order, step

    def transfer_args(self, assignee: str, party_id: str | None) -> dict[str, object]:
        """Fields a transfer changes; refuses a party the twin does not know."""
        if party_id is not None and party_id not in self.twin.parties:
            raise InvalidRequest(f"party {party_id!r} is not in the twin", field="party_id")
        update: dict[str, object] = {"assignee": assignee}
        if party_id is not None:
            update["party_id"] = party_id
        return update

    def escalate_due(self, now_ms: int) -> tuple[list[Escalation], list[WorkOrderStep]]:
        """Mark overdue orders and climb the chain for every period passed; the escalations and steps."""
        escalations: list[Escalation] = []
        steps: list[WorkOrderStep] = []
        for order in list(self._orders.values()):
            if order.state not in RUNNING or now_ms < order.deadline_ts:
                continue
            chain = self.twin.escalation_chain(order.site)
            period = self.settings.escalation_period_s.ms(order.severity)
            due_level = min(1 + (now_ms - order.deadline_ts) // period, max(len(chain), 1))
            current = order
            while current.escalation_level < due_level:
                current, new_steps, esc = self._escalate_once(current, chain, now_ms)
                steps.extend(new_steps)
                escalations.append(esc)
        return escalations, steps

    def _escalate_once(
        self, order: WorkOrder, chain: list[str], now_ms: int
    ) -> tuple[WorkOrder, list[WorkOrderStep], Escalation]:
        level = order.escalation_level + 1
        first = not order.overdue
        steps = []
        if first:
            late_min = (now_ms - order.deadline_ts) // 60_000
            steps.append(self._step(order, now_ms, "overdue", f"deadline passed {late_min} min ago"))
        to = chain[level - 1] if level <= len(chain) else None
        if to is not None:
            steps.append(self._step(order, now_ms, "escalated", f"level {level}: escalated to {to}"))
        else:
            log.warning("work order %s is overdue but site %s has no escalation chain", order.id, order.site)
        order = order.model_copy(
            update={"overdue": True, "escalation_level": level, "escalated_to": to or order.escalated_to}
        )
        self._orders[order.id] = order
        self._steps[order.id].extend(steps)
        return order, steps, Escalation(order=order, level=level, to=to, first=first)

    @staticmethod
    def _step(order: WorkOrder, ts: int, action: WorkOrderAction, note: str) -> WorkOrderStep:
        return WorkOrderStep(work_order_id=order.id, ts=ts, actor="system", action=action, note=note)

    def _retire(self, order_id: str) -> None:
        """Keep at most `keep_closed` closed orders in memory, forgetting the oldest."""
        self._closed[order_id] = None
        self._closed.move_to_end(order_id)
        while len(self._closed) > self.settings.keep_closed:
            old, _ = self._closed.popitem(last=False)
            self._orders.pop(old, None)
            self._steps.pop(old, None)
