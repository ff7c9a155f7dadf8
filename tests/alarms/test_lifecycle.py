"""The alarm lifecycle: states, severity on one alarm, acknowledgement, history and explanation."""

from __future__ import annotations

import pytest

from alarms.errors import InvalidRequest, InvalidTransition, NotFound
from alarms.settings import AlarmSettings
from core.alarms import AlarmState, Grade, Severity, SignalKind
from tests.alarms.support import MIN, T0, actions, fire, manager, resolve, signal


def test_timeline_pending_active_escalated_deescalated_cleared() -> None:
    mgr, _ = manager()
    first = mgr.on_signal(signal(SignalKind.PENDING, Severity.WARNING, ts=T0))
    assert first is not None and first.state is AlarmState.PENDING and first.active_ts is None

    active = mgr.on_signal(fire(Severity.WARNING, ts=T0 + 1 * MIN))
    up = mgr.on_signal(fire(Severity.ALARM, ts=T0 + 2 * MIN))
    down = mgr.on_signal(fire(Severity.WARNING, ts=T0 + 3 * MIN))
    cleared = mgr.on_signal(resolve(ts=T0 + 4 * MIN))

    assert active is not None and up is not None and down is not None and cleared is not None
    assert {a.id for a in (first, active, up, down, cleared)} == {first.id}
    assert active.state is AlarmState.ACTIVE and active.active_ts == T0 + 1 * MIN
    assert (up.severity, up.peak_severity) == (Severity.ALARM, Severity.ALARM)
    assert (down.severity, down.peak_severity) == (Severity.WARNING, Severity.ALARM)
    assert cleared.state is AlarmState.CLEARED and cleared.cleared_ts == T0 + 4 * MIN
    assert actions(mgr, first.id) == [
        "raised",
        "pending",
        "active",
        "broadcast",
        "escalated",
        "deadline",
        "deescalated",
        "cleared",
    ]
    assert mgr.open_alarms() == []


def test_history_says_who_when_and_why() -> None:
    mgr, _ = manager()
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0, message="co 180 ppm > 150 ppm for 60 s"))
    assert alarm is not None
    mgr.acknowledge(alarm.id, "alice", "on my way", now_ms=T0 + MIN)
    mgr.assign(alarm.id, "alice", "bob", now_ms=T0 + 2 * MIN)
    mgr.comment(alarm.id, "bob", "fans running", now_ms=T0 + 3 * MIN)
    mgr.on_signal(resolve(ts=T0 + 4 * MIN, message="co back under 100 ppm"))

    history = mgr.alarm_history(alarm.id)
    lines = [(e.ts, e.actor, e.action, e.state, e.note) for e in history]
    assert lines == [
        (T0, "rule:co-high", "raised", AlarmState.ACTIVE, "一氧化碳超标 v1"),
        (T0, "rule:co-high", "active", AlarmState.ACTIVE, "co 180 ppm > 150 ppm for 60 s"),
        (T0, "system", "broadcast", AlarmState.ACTIVE, lines[2][4]),
        (T0 + MIN, "user:alice", "acknowledged", AlarmState.ACTIVE, "on my way"),
        (T0 + 2 * MIN, "user:alice", "assigned", AlarmState.ACTIVE, "to bob"),
        (T0 + 3 * MIN, "user:bob", "commented", AlarmState.ACTIVE, "fans running"),
        (T0 + 4 * MIN, "rule:co-high", "cleared", AlarmState.CLEARED, lines[6][4]),
    ]
    assert lines[6][4] is not None and lines[6][4].startswith("co back under 100 ppm")
    assert "re-detection" in lines[6][4]
    closed = mgr.get_alarm(alarm.id)
    assert (closed.acknowledged_by, closed.assignee) == ("alice", "bob")


def test_alarm_explains_itself_with_rule_version_and_evidence() -> None:
    mgr, _ = manager()
    evidence = {"samples": [[T0 - 60_000, 160.0], [T0, 180.0]], "threshold": 150.0, "for_s": 60}
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0, version=3, evidence=evidence))
    assert alarm is not None
    assert (alarm.rule_id, alarm.rule_version, alarm.rule_name) == ("co-high", 3, "一氧化碳超标")
    assert alarm.evidence == evidence and alarm.category == "gas"
    assert (alarm.site, alarm.building, alarm.space) == ("s1", "b1", "b1-garage")
    worse = mgr.on_signal(fire(Severity.ALARM, ts=T0 + MIN, version=4, evidence={"value": 400.0}))
    assert worse is not None and worse.rule_version == 4 and worse.evidence == {"value": 400.0}


def test_one_alarm_per_rule_and_source_and_a_new_one_after_clearing() -> None:
    mgr, _ = manager()
    a = mgr.on_signal(fire(ts=T0))
    again = mgr.on_signal(fire(ts=T0 + MIN))
    other_source = mgr.on_signal(fire(ts=T0, source="co-2"))
    other_rule = mgr.on_signal(fire(ts=T0, rule="co-rise", name="一氧化碳快速上升"))
    assert a is not None and again is not None and other_source is not None and other_rule is not None
    assert again.id == a.id
    assert len({a.id, other_source.id, other_rule.id}) == 3
    assert actions(mgr, a.id).count("raised") == 1 and "active" in actions(mgr, a.id)

    mgr.on_signal(resolve(ts=T0 + 2 * MIN))
    reopened = mgr.on_signal(fire(ts=T0 + 3 * MIN))
    assert reopened is not None and reopened.id != a.id
    assert mgr.get_alarm(a.id).state is AlarmState.CLEARED
    assert {x.id for x in mgr.open_alarms()} == {reopened.id, other_source.id, other_rule.id}


def test_resolved_without_an_alarm_is_ignored_and_pending_keeps_an_active_alarm() -> None:
    mgr, _ = manager()
    assert mgr.on_signal(resolve(ts=T0)) is None
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0))
    assert alarm is not None
    same = mgr.on_signal(signal(SignalKind.PENDING, Severity.ALARM, ts=T0 + MIN))
    assert same is not None and same.state is AlarmState.ACTIVE and same.severity is Severity.WARNING


def test_no_data_and_error_states() -> None:
    mgr, sink = manager()
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0))
    assert alarm is not None and len(sink.broadcasts) == 1
    silent = mgr.on_signal(signal(SignalKind.NO_DATA, ts=T0 + MIN))
    assert silent is not None and silent.state is AlarmState.NO_DATA and silent.id == alarm.id
    back = mgr.on_signal(fire(Severity.WARNING, ts=T0 + 2 * MIN))
    assert back is not None and back.state is AlarmState.ACTIVE
    assert len(sink.broadcasts) == 1  # the response was given once, not again after a gap

    broken = mgr.on_signal(signal(SignalKind.ERROR, ts=T0, source="co-2", message="model file missing"))
    assert broken is not None and broken.state is AlarmState.ERROR and broken.severity is Severity.WARNING
    assert actions(mgr, broken.id) == ["raised", "error"]
    assert len(sink.broadcasts) == 1  # an error is not a hazard: no broadcast
    cleared = mgr.on_signal(resolve(ts=T0 + MIN, source="co-2"))
    assert cleared is not None and cleared.state is AlarmState.CLEARED


def test_acknowledge_is_independent_of_state() -> None:
    mgr, _ = manager()
    pending = mgr.on_signal(signal(SignalKind.PENDING, Severity.WARNING, ts=T0))
    assert pending is not None
    acked = mgr.acknowledge(pending.id, "alice", now_ms=T0 + MIN)
    assert acked.state is AlarmState.PENDING and acked.acknowledged_ts == T0 + MIN

    active = mgr.on_signal(fire(Severity.ALARM, ts=T0 + 2 * MIN))
    assert active is not None and active.state is AlarmState.ACTIVE and active.acknowledged_by == "alice"
    with pytest.raises(InvalidTransition) as err:
        mgr.acknowledge(pending.id, "bob", now_ms=T0 + 3 * MIN)
    assert "acknowledged by alice" in str(err.value) and err.value.state.startswith("active")

    other = mgr.on_signal(fire(ts=T0, source="co-2"))
    assert other is not None
    mgr.on_signal(resolve(ts=T0 + MIN, source="co-2"))
    late = mgr.acknowledge(other.id, "carol", now_ms=T0 + 5 * MIN)
    assert late.state is AlarmState.CLEARED and late.acknowledged_by == "carol"


def test_people_actions_refuse_what_the_state_does_not_allow() -> None:
    mgr, _ = manager()
    alarm = mgr.on_signal(fire(ts=T0))
    assert alarm is not None
    mgr.on_signal(resolve(ts=T0 + MIN))
    with pytest.raises(InvalidTransition) as err:
        mgr.assign(alarm.id, "alice", "bob", now_ms=T0 + 2 * MIN)
    assert err.value.state == "cleared" and "acknowledge" in err.value.allowed
    assert "assign" not in err.value.allowed
    with pytest.raises(NotFound):
        mgr.acknowledge("al-nope", "alice", now_ms=T0)
    with pytest.raises(InvalidRequest):
        mgr.comment(alarm.id, "alice", "  ", now_ms=T0)
    mgr.comment(alarm.id, "alice", "closed by the night shift", now_ms=T0 + 3 * MIN)
    assert actions(mgr, alarm.id)[-1] == "commented"


def test_grade_and_party_come_from_the_signal_and_the_twin() -> None:
    mgr, _ = manager()
    garage = mgr.on_signal(fire(ts=T0))
    shop = mgr.on_signal(fire(ts=T0, source="lel-1", rule="lel-high", name="可燃气体超标"))
    well = mgr.on_signal(fire(ts=T0, source="h2s-1", rule="h2s-high", name="硫化氢超标"))
    assert garage is not None and shop is not None and well is not None
    assert (garage.party_id, garage.grade) == ("pm-1", Grade.GENERAL)
    assert shop.party_id == "owner-b2"  # the building's own party before the site's owner
    assert well.party_id == "pm-2"


def test_list_alarms_filters_and_pages() -> None:
    mgr, _ = manager()
    for i, source in enumerate(["co-1", "co-2", "lel-1", "h2s-1"]):
        mgr.on_signal(fire(ts=T0 + i * MIN, source=source, rule=f"r-{source}"))
    mgr.on_signal(resolve(ts=T0 + 9 * MIN, source="co-2", rule="r-co-2"))
    page, total = mgr.list_alarms(limit=2)
    assert total == 4 and [a.source_id for a in page] == ["h2s-1", "lel-1"]
    active, n = mgr.list_alarms(states=[AlarmState.ACTIVE], site="s1")
    assert n == 2 and {a.source_id for a in active} == {"co-1", "lel-1"}
    mine, _ = mgr.list_alarms(party_id="pm-2")
    assert [a.source_id for a in mine] == ["h2s-1"]


def test_no_data_alone_can_be_told_not_to_open_alarms() -> None:
    mgr, _ = manager(AlarmSettings(open_on_no_data=False))
    assert mgr.on_signal(signal(SignalKind.NO_DATA, ts=T0)) is None
    assert mgr.on_signal(signal(SignalKind.ERROR, ts=T0)) is None
    alarm = mgr.on_signal(fire(ts=T0 + MIN))
    silent = mgr.on_signal(signal(SignalKind.NO_DATA, ts=T0 + 2 * MIN))
    assert alarm is not None and silent is not None and silent.state is AlarmState.NO_DATA
