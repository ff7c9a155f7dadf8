"""Alarm test helpers: a small real twin, signals, a recording response sink and an in-memory OpsStore.

The in-memory store stands in for the relational store only in these pure-logic tests; the SQL store
is tested against real SQLite and PostgreSQL by its own suite.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from alarms.manager import AlarmManager
from alarms.ports import OpsStore
from alarms.settings import AlarmSettings
from alarms.writer import OpsWriter
from core.alarms import (
    Alarm,
    AlarmEvent,
    AlarmSignal,
    AlarmState,
    CreditEvent,
    Severity,
    SignalKind,
    SourceKind,
    WorkOrder,
    WorkOrderState,
    WorkOrderStep,
)
from core.errors import StoreError
from twin.loader import parse_twin
from twin.twin import Twin

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR

TWIN_YAML = """\
version: 1
name: 测试街道
parties:
  - {id: pm-1, name: 澜景物业, kind: property_company, contacts: [{name: 王经理, phone: "13800000001"}]}
  - {id: pm-2, name: 翠田物业, kind: property_company}
  - {id: owner-b2, name: 二号楼业主单位, kind: enterprise}
  - {id: grid-1, name: 网格员张三, kind: grid_worker}
  - {id: comm-1, name: 澜景社区工作站, kind: community}
  - {id: street-1, name: 观澜街道办, kind: street}
  - {id: district-1, name: 龙华区应急管理局, kind: district}
sites:
  - id: s1
    name: 澜景社区
    location: {lat: 22.72, lon: 114.05}
    parties: {owner: pm-1, grid: grid-1, community: comm-1, street: street-1, district: district-1}
    buildings:
      - id: b1
        name: 1栋
        location: {lat: 22.7201, lon: 114.0501}
        floors_below: 1
        floors:
          - level: -1
            name: B1
            spaces:
              - id: b1-garage
                name: 1栋B1地下车库
                kind: basement_garage
                devices:
                  - {id: co-1, kind: co_sensor}
                  - {id: co-2, kind: co_sensor}
          - level: 1
            name: 1F
            spaces:
              - id: b1-lobby
                name: 1栋大堂
                kind: lobby
                devices:
                  - id: panic-1
                    kind: panic_button
                    contacts: [{name: 李女士, role: daughter, phone: "13900000002"}]
      - id: b2
        name: 2栋
        location: {lat: 22.7202, lon: 114.0502}
        party: owner-b2
        floors:
          - level: 1
            name: 1F
            spaces:
              - id: b2-shop
                name: 2栋商铺
                kind: shop
                devices:
                  - {id: lel-1, kind: lel_sensor}
    spaces:
      - id: s1-yard
        name: 施工工地
        kind: construction_site
        location: {lat: 22.721, lon: 114.051}
        devices:
          - {id: cam-1, kind: camera}
          - {id: spk-1, kind: speaker}
  - id: s2
    name: 翠田社区
    location: {lat: 22.70, lon: 114.06}
    parties: {owner: pm-2}
    spaces:
      - id: s2-well
        name: 污水井
        kind: sewer_well
        confined: true
        location: {lat: 22.701, lon: 114.061}
        devices:
          - {id: h2s-1, kind: h2s_sensor}
"""


def make_twin() -> Twin:
    """The test twin."""
    return Twin(parse_twin(TWIN_YAML, "alarms-test-twin.yaml"))


TWIN = make_twin()


def signal(
    kind: SignalKind,
    severity: Severity | None = None,
    *,
    ts: int,
    source: str = "co-1",
    rule: str = "co-high",
    category: str = "gas",
    name: str = "一氧化碳超标",
    version: int = 1,
    message: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> AlarmSignal:
    """A signal about a device of the test twin."""
    place = TWIN.devices[source]
    return AlarmSignal(
        rule_id=rule,
        rule_version=version,
        rule_name=name,
        category=category,
        kind=kind,
        severity=severity,
        source_kind=SourceKind.DEVICE,
        source_id=source,
        site=place.site,
        building=place.building,
        space=place.space,
        ts=ts,
        message=message or f"{rule} {kind.value} {severity.value if severity else ''}".strip(),
        evidence=evidence if evidence is not None else {"value": 180.0, "unit": "ppm", "threshold": 150.0},
    )


def fire(severity: Severity = Severity.ALARM, **kw: Any) -> AlarmSignal:
    """A FIRING signal."""
    return signal(SignalKind.FIRING, severity, **kw)


def resolve(**kw: Any) -> AlarmSignal:
    """A RESOLVED signal."""
    return signal(SignalKind.RESOLVED, None, **kw)


class RecordingSink:
    """A ResponseSink that records what it was asked to do."""

    def __init__(self) -> None:
        self.broadcasts: list[tuple[Alarm, str]] = []
        self.notifications: list[tuple[Alarm, list[str], str]] = []

    def broadcast(self, alarm: Alarm, text: str) -> None:
        self.broadcasts.append((alarm, text))

    def notify(self, alarm: Alarm, channels: Sequence[str], text: str) -> None:
        self.notifications.append((alarm, list(channels), text))

    def calls(self) -> int:
        return len(self.broadcasts) + len(self.notifications)


def manager(
    settings: AlarmSettings | None = None, writer: OpsWriter | None = None
) -> tuple[AlarmManager, RecordingSink]:
    """A manager over the test twin with a recording sink."""
    sink = RecordingSink()
    return AlarmManager(TWIN, settings, sink=sink, writer=writer), sink


def actions(mgr: AlarmManager, alarm_id: str) -> list[str]:
    """The actions of an alarm's history, in order."""
    return [e.action for e in mgr.alarm_history(alarm_id)]


class MemoryOpsStore:
    """An in-memory OpsStore (upserts by id), with switches to fail or refuse writes."""

    def __init__(self) -> None:
        self.alarms: dict[str, Alarm] = {}
        self.events: list[AlarmEvent] = []
        self.orders: dict[str, WorkOrder] = {}
        self.steps: list[WorkOrderStep] = []
        self.credit: list[CreditEvent] = []
        self.documents: dict[str, dict[str, Any]] = {}
        self.fail_next = 0  # the next n write calls raise a retryable StoreError
        self.refuse_alarm_ids: set[str] = set()  # save_alarm(s) refuse these as malformed
        self.write_calls = 0
        self._lock = threading.Lock()

    def _write(self) -> None:
        with self._lock:
            self.write_calls += 1
            if self.fail_next:
                self.fail_next -= 1
                raise StoreError("connection refused", backend="memory")

    def save_alarm(self, alarm: Alarm) -> None:
        self._write()
        if alarm.id in self.refuse_alarm_ids:
            raise StoreError(f"alarm {alarm.id} violates a constraint", backend="memory", retryable=False)
        self.alarms[alarm.id] = alarm

    def save_alarms(self, alarms: Sequence[Alarm]) -> None:
        self._write()
        for alarm in alarms:  # all or nothing, as one transaction
            if alarm.id in self.refuse_alarm_ids:
                raise StoreError(f"alarm {alarm.id} violates a constraint", backend="memory", retryable=False)
        self.alarms.update((a.id, a) for a in alarms)

    def add_alarm_events(self, events: Sequence[AlarmEvent]) -> None:
        self._write()
        self.events.extend(events)

    def get_alarm(self, alarm_id: str) -> Alarm | None:
        return self.alarms.get(alarm_id)

    def list_alarms(
        self,
        *,
        states: Sequence[AlarmState] | None = None,
        site: str | None = None,
        since_ts: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Alarm], int]:
        found = [
            a
            for a in self.alarms.values()
            if (states is None or a.state in states)
            and (site is None or a.site == site)
            and (since_ts is None or a.created_ts >= since_ts)
        ]
        return found[offset : offset + limit], len(found)

    def alarm_history(self, alarm_id: str) -> list[AlarmEvent]:
        return [e for e in self.events if e.alarm_id == alarm_id]

    def open_alarms(self) -> list[Alarm]:
        return [a for a in self.alarms.values() if a.state is not AlarmState.CLEARED]

    def save_work_order(self, order: WorkOrder) -> None:
        self._write()
        self.orders[order.id] = order

    def save_work_orders(self, orders: Sequence[WorkOrder]) -> None:
        self._write()
        self.orders.update((o.id, o) for o in orders)

    def add_work_order_steps(self, steps: Sequence[WorkOrderStep]) -> None:
        self._write()
        self.steps.extend(steps)

    def get_work_order(self, order_id: str) -> WorkOrder | None:
        return self.orders.get(order_id)

    def list_work_orders(
        self,
        *,
        states: Sequence[WorkOrderState] | None = None,
        party_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[WorkOrder], int]:
        found = [
            o
            for o in self.orders.values()
            if (states is None or o.state in states) and (party_id is None or o.party_id == party_id)
        ]
        return found[offset : offset + limit], len(found)

    def work_order_steps(self, order_id: str) -> list[WorkOrderStep]:
        return [s for s in self.steps if s.work_order_id == order_id]

    def open_work_orders(self) -> list[WorkOrder]:
        return [o for o in self.orders.values() if o.state is not WorkOrderState.CLOSED]

    def add_credit_events(self, events: Sequence[CreditEvent]) -> None:
        self._write()
        self.credit.extend(events)

    def credit_scores(self) -> dict[str, float]:
        return {e.party_id: e.score_after for e in self.credit}

    def credit_history(self, party_id: str) -> list[CreditEvent]:
        return [e for e in self.credit if e.party_id == party_id]

    def save_rule_version(
        self, rule_id: str, version: int, body: dict[str, Any], actor: str, ts: int
    ) -> None:
        raise NotImplementedError

    def rule_versions(self, rule_id: str) -> list[tuple[int, dict[str, Any], str, int]]:
        raise NotImplementedError

    def latest_rules(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def save_document(self, name: str, body: dict[str, Any]) -> None:
        self._write()
        self.documents[name] = body

    def load_document(self, name: str) -> dict[str, Any] | None:
        return self.documents.get(name)

    def close(self) -> None:
        pass


def _conforms(store: MemoryOpsStore) -> OpsStore:
    return store  # mypy checks that the fake has the Protocol's shape
