"""Operational-store test helpers: alarms, work orders and credit events with known values."""

from __future__ import annotations

from typing import Any

from core.alarms import (
    Alarm,
    AlarmEvent,
    AlarmState,
    CreditEvent,
    Grade,
    Severity,
    SourceKind,
    WorkOrder,
    WorkOrderState,
    WorkOrderStep,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch ms

EVIDENCE: dict[str, Any] = {
    "读数": [{"ts": T0, "值": 31.25, "单位": "%LEL"}, {"ts": T0 + 5000, "值": 33.0}],
    "阈值": {"报警": 25, "紧急": 50, "解除": 20.5},
    "持续秒": 12,
    "说明": "甲烷浓度持续超过报警值",
    "nested": {"a": {"b": {"c": [1, -2.5e-7, 2**53, None, True, False, "", "ä→✓"]}}},
}


def make_alarm(alarm_id: str = "a1", **changes: Any) -> Alarm:
    """A firing gas alarm in a boiler room; every optional field set unless `changes` say otherwise."""
    values: dict[str, Any] = {
        "id": alarm_id,
        "rule_id": "gas-ch4",
        "rule_version": 3,
        "rule_name": "甲烷浓度",
        "category": "gas",
        "source_kind": SourceKind.DEVICE,
        "source_id": "gas-01",
        "site": "site-a",
        "building": "b1",
        "space": "boiler-room",
        "state": AlarmState.ACTIVE,
        "severity": Severity.ALARM,
        "peak_severity": Severity.EMERGENCY,
        "grade": Grade.EMERGENCY,
        "message": "锅炉房甲烷 33.0 %LEL，超过报警值 25 %LEL 已 12 秒",
        "evidence": EVIDENCE,
        "created_ts": T0,
        "updated_ts": T0 + 12_000,
        "active_ts": T0 + 10_000,
        "cleared_ts": None,
        "acknowledged_ts": T0 + 20_000,
        "acknowledged_by": "user:王工",
        "assignee": "user:李师傅",
        "shelved_until_ts": T0 + 3_600_000,
        "shelve_reason": "检修中",
        "deadline_ts": T0 + 86_400_000,
        "party_id": "party-owner",
        "work_order_id": "wo-1",
    }
    values.update(changes)
    return Alarm(**values)


def make_minimal_alarm(alarm_id: str, *, site: str = "site-a", state: AlarmState = AlarmState.ACTIVE,
                       updated_ts: int = T0) -> Alarm:  # fmt: skip
    """An alarm with only the required fields (defaults and None everywhere else)."""
    return Alarm(
        id=alarm_id, rule_id="offline", rule_version=1, rule_name="Offline", category="offline",
        source_kind=SourceKind.SITE, source_id=site, site=site, state=state, severity=Severity.WARNING,
        peak_severity=Severity.WARNING, grade=Grade.GENERAL, message="silent", created_ts=T0 - 1,
        updated_ts=updated_ts,
    )  # fmt: skip


def make_event(alarm_id: str, ts: int, action: str = "raised", note: str | None = None) -> AlarmEvent:
    """One history line of an alarm."""
    return AlarmEvent(
        alarm_id=alarm_id, ts=ts, actor="rule:gas-ch4", action=action, state=AlarmState.ACTIVE,
        severity=Severity.ALARM, note=note,
    )  # fmt: skip


def make_order(order_id: str = "wo-1", alarm_id: str = "a1", **changes: Any) -> WorkOrder:
    """A signed work order with photos and every optional field set unless `changes` say otherwise."""
    values: dict[str, Any] = {
        "id": order_id,
        "alarm_id": alarm_id,
        "title": "锅炉房甲烷泄漏排查",
        "category": "gas",
        "severity": Severity.EMERGENCY,
        "site": "site-a",
        "building": "b1",
        "space": "boiler-room",
        "party_id": "party-owner",
        "state": WorkOrderState.SIGNED,
        "created_ts": T0,
        "deadline_ts": T0 + 86_400_000,
        "escalation_level": 2,
        "escalated_to": "street-office",
        "assignee": "user:李师傅",
        "note": "阀门已更换",
        "photos": ["photos/wo-1/1.jpg", "照片/2.png"],
        "closed_ts": None,
        "overdue": True,
    }
    values.update(changes)
    return WorkOrder(**values)


def make_step(order_id: str, ts: int, action: str = "created", note: str | None = None) -> WorkOrderStep:
    """One step of a work order."""
    return WorkOrderStep.model_validate(
        {"work_order_id": order_id, "ts": ts, "actor": "user:王工", "action": action, "note": note}
    )


def make_credit(party_id: str, ts: int, delta: float, score_after: float) -> CreditEvent:
    """A credit change of a party."""
    return CreditEvent(
        party_id=party_id, ts=ts, delta=delta, score_after=score_after, reason="逾期未整改",
        work_order_id="wo-1" if delta < 0 else None,
    )  # fmt: skip
