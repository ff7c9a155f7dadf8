"""Alarm signals of the actuator side: 'actuator failed' and 'ventilation ineffective'."""

from __future__ import annotations

from collections.abc import Mapping

from core.alarms import AlarmSignal, Severity, SignalKind, SourceKind
from twin.twin import Twin

ACTUATOR_FAILED = "actuator-failed"
VENTILATION_INEFFECTIVE = "ventilation-ineffective"
_NAMES = {ACTUATOR_FAILED: "Actuator failed", VENTILATION_INEFFECTIVE: "Ventilation ineffective"}
NAMES_ZH = {ACTUATOR_FAILED: "执行器故障", VENTILATION_INEFFECTIVE: "通风无效"}


def device_signal(
    twin: Twin, device_id: str, firing: bool, ts: int, message: str, evidence: Mapping[str, object]
) -> AlarmSignal:
    """'actuator failed' raised (firing) or resolved on a device."""
    place = twin.devices[device_id]
    return AlarmSignal(
        rule_id=ACTUATOR_FAILED,
        rule_version=1,
        rule_name=_NAMES[ACTUATOR_FAILED],
        category="actuator",
        kind=SignalKind.FIRING if firing else SignalKind.RESOLVED,
        severity=Severity.ALARM if firing else None,
        source_kind=SourceKind.DEVICE,
        source_id=device_id,
        site=place.site,
        building=place.building,
        space=place.space,
        ts=ts,
        message=message,
        evidence=dict(evidence),
    )


def space_signal(
    twin: Twin, space: str, firing: bool, ts: int, message: str, evidence: Mapping[str, object]
) -> AlarmSignal:
    """'ventilation ineffective' raised (firing) or resolved on a space."""
    site, building, _ = twin.place_of_space[space]
    return AlarmSignal(
        rule_id=VENTILATION_INEFFECTIVE,
        rule_version=1,
        rule_name=_NAMES[VENTILATION_INEFFECTIVE],
        category="actuator",
        kind=SignalKind.FIRING if firing else SignalKind.RESOLVED,
        severity=Severity.ALARM if firing else None,
        source_kind=SourceKind.SPACE,
        source_id=space,
        site=site,
        building=building,
        space=space,
        ts=ts,
        message=message,
        evidence=dict(evidence),
    )
