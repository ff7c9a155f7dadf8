"""The alarm state machine as pure functions: what a rule's signal does to an alarm.

pending -> active -> cleared, with no_data and error beside them; severity rises (escalated) and falls
(deescalated) on the same alarm.  A cleared alarm is closed: the next firing opens a new one.
"""

from __future__ import annotations

from core.alarms import Alarm, AlarmSignal, AlarmState, Grade, Severity, SignalKind

# (action, note) pairs: the history lines a transition writes, in order.
Changes = list[tuple[str, str | None]]

STATE_OF_SIGNAL = {
    SignalKind.PENDING: AlarmState.PENDING,
    SignalKind.FIRING: AlarmState.ACTIVE,
    SignalKind.RESOLVED: AlarmState.CLEARED,
    SignalKind.NO_DATA: AlarmState.NO_DATA,
    SignalKind.ERROR: AlarmState.ERROR,
}


def rule_actor(rule_id: str) -> str:
    """Actor name of a rule in alarm histories."""
    return f"rule:{rule_id}"


def user_actor(user: str) -> str:
    """Actor name of a person in histories."""
    return user if user.startswith(("user:", "rule:")) or user == "system" else f"user:{user}"


def camera_label(signal_or_alarm: AlarmSignal | Alarm) -> str:
    """The camera detection label in the evidence ('no_helmet', 'fire', ...), or ''."""
    label = signal_or_alarm.evidence.get("label")
    return label if isinstance(label, str) else ""


def new_alarm(signal: AlarmSignal, alarm_id: str, grade: Grade, party_id: str | None) -> Alarm:
    """A fresh alarm for a signal that is not RESOLVED."""
    state = STATE_OF_SIGNAL[signal.kind]
    severity = signal.severity or Severity.WARNING
    return Alarm(
        id=alarm_id,
        rule_id=signal.rule_id,
        rule_version=signal.rule_version,
        rule_name=signal.rule_name,
        category=signal.category,
        source_kind=signal.source_kind,
        source_id=signal.source_id,
        site=signal.site,
        building=signal.building,
        space=signal.space,
        state=state,
        severity=severity,
        peak_severity=severity,
        grade=grade,
        message=signal.message,
        evidence=dict(signal.evidence),
        created_ts=signal.ts,
        updated_ts=signal.ts,
        active_ts=signal.ts if state is AlarmState.ACTIVE else None,
        party_id=party_id,
    )


def _severity_change(alarm: Alarm, severity: Severity, message: str) -> tuple[dict[str, object], Changes]:
    if severity is alarm.severity:
        return {}, []
    action = "escalated" if severity.rank > alarm.severity.rank else "deescalated"
    peak = severity if severity.rank > alarm.peak_severity.rank else alarm.peak_severity
    note = f"{alarm.severity.value} -> {severity.value}: {message}"
    return {"severity": severity, "peak_severity": peak}, [(action, note)]


def apply_signal(alarm: Alarm, signal: AlarmSignal) -> tuple[Alarm, Changes]:
    """The alarm after `signal`, and the history lines it writes; unchanged alarm and [] for a no-op."""
    if alarm.state is AlarmState.CLEARED:
        return alarm, []
    target = STATE_OF_SIGNAL[signal.kind]
    if signal.kind is SignalKind.PENDING and alarm.state is AlarmState.ACTIVE:
        return alarm, []  # an on-delay for a higher level is running; the alarm stays as it is
    update: dict[str, object] = {}
    changes: Changes = []
    if target is not alarm.state:
        update["state"] = target
        changes.append((target.value, signal.message))
        if target is AlarmState.ACTIVE and alarm.active_ts is None:
            update["active_ts"] = signal.ts
        if target is AlarmState.CLEARED:
            update["cleared_ts"] = signal.ts
    if signal.severity is not None and target in (AlarmState.ACTIVE, AlarmState.PENDING):
        sev_update, sev_changes = _severity_change(alarm, signal.severity, signal.message)
        update.update(sev_update)
        changes.extend(sev_changes)
    if not changes:
        return alarm, []
    update.update(updated_ts=max(signal.ts, alarm.updated_ts), rule_version=signal.rule_version)
    if target is not AlarmState.CLEARED:
        update.update(message=signal.message, evidence=dict(signal.evidence))
    return alarm.model_copy(update=update), changes
