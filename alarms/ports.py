"""What the alarm domain needs from storage and from the outside world (Protocols, injected)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from core.alarms import Alarm, AlarmEvent, AlarmState, CreditEvent, WorkOrder, WorkOrderState, WorkOrderStep


class OpsStore(Protocol):
    """Durable operational records (SQLAlchemy: SQLite by default, PostgreSQL in deployments).

    Writes are upserts keyed by id; they are called from a writer thread, never on the event loop.
    """

    def save_alarm(self, alarm: Alarm) -> None: ...

    def save_alarms(self, alarms: Sequence[Alarm]) -> None:
        """Several alarms (distinct ids) in one transaction."""
        ...

    def add_alarm_events(self, events: Sequence[AlarmEvent]) -> None: ...

    def get_alarm(self, alarm_id: str) -> Alarm | None: ...

    def list_alarms(
        self,
        *,
        states: Sequence[AlarmState] | None = None,
        site: str | None = None,
        since_ts: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Alarm], int]: ...

    def alarm_history(self, alarm_id: str) -> list[AlarmEvent]: ...

    def open_alarms(self) -> list[Alarm]:
        """Alarms not cleared: loaded at start so a restart continues where it left off."""
        ...

    def save_work_order(self, order: WorkOrder) -> None: ...

    def save_work_orders(self, orders: Sequence[WorkOrder]) -> None:
        """Several work orders (distinct ids) in one transaction; their alarms must have been saved."""
        ...

    def add_work_order_steps(self, steps: Sequence[WorkOrderStep]) -> None: ...

    def get_work_order(self, order_id: str) -> WorkOrder | None: ...

    def list_work_orders(
        self,
        *,
        states: Sequence[WorkOrderState] | None = None,
        party_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[WorkOrder], int]: ...

    def work_order_steps(self, order_id: str) -> list[WorkOrderStep]: ...

    def open_work_orders(self) -> list[WorkOrder]: ...

    def add_credit_events(self, events: Sequence[CreditEvent]) -> None: ...

    def credit_scores(self) -> dict[str, float]:
        """Latest score per party (parties with no event are at the initial score)."""
        ...

    def credit_history(self, party_id: str) -> list[CreditEvent]: ...

    def save_rule_version(
        self, rule_id: str, version: int, body: dict[str, Any], actor: str, ts: int
    ) -> None:
        """Keep every version of a rule created or edited through the API."""
        ...

    def rule_versions(self, rule_id: str) -> list[tuple[int, dict[str, Any], str, int]]: ...

    def latest_rules(self) -> list[dict[str, Any]]:
        """The newest version of every API-managed rule (deleted rules have body {'deleted': true})."""
        ...

    def save_document(self, name: str, body: dict[str, Any]) -> None:
        """Opaque state (rule engine timers and windows) saved whole."""
        ...

    def load_document(self, name: str) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class ResponseSink(Protocol):
    """Where graded responses go: the actuator layer (speaker broadcast) and notification channels."""

    def broadcast(self, alarm: Alarm, text: str) -> None:
        """Play `text` on the speakers of the alarm's space or site (general hazard)."""
        ...

    def notify(self, alarm: Alarm, channels: Sequence[str], text: str) -> None:
        """Send `text` on the given channels (sms, push, email, webhook) to the party's contacts."""
        ...
