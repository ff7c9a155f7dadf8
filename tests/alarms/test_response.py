"""Graded response: broadcast and deadline for a general hazard, notify and work order for an emergency."""

from __future__ import annotations

import pytest

from alarms.errors import InvalidRequest, InvalidTransition, NotFound
from alarms.manager import AlarmManager
from alarms.settings import AlarmSettings, MessageTemplate
from core.alarms import AlarmState, Grade, Severity, WorkOrderState
from rules.packs import load_packs
from tests.alarms.support import HOUR, MIN, T0, TWIN, RecordingSink, actions, fire, manager, resolve


def test_general_hazard_fixed_in_time_closes_itself_without_a_work_order() -> None:
    mgr, sink = manager()
    alarm = mgr.on_signal(fire(Severity.ALARM, ts=T0))
    assert alarm is not None and alarm.grade is Grade.GENERAL
    assert alarm.deadline_ts == T0 + 15 * MIN  # alarm-level hazard: 15 minutes by default
    assert [t for _, t in sink.broadcasts] == ["请注意：1栋B1地下车库一氧化碳超标，请立即通风并疏散无关人员"]
    assert sink.notifications == []

    mgr.tick(T0 + 14 * MIN)
    closed = mgr.on_signal(resolve(ts=T0 + 14 * MIN))
    mgr.tick(T0 + 2 * HOUR)
    assert closed is not None and closed.state is AlarmState.CLEARED and closed.work_order_id is None
    assert mgr.list_work_orders() == ([], 0)
    assert sink.notifications == [] and len(sink.broadcasts) == 1


def test_camera_hazard_broadcasts_the_helmet_text_and_closes_on_clean_redetection() -> None:
    mgr, sink = manager()
    helmet = {"label": "no_helmet", "score": 0.91, "zone": "gate"}
    kw = {"source": "cam-1", "rule": "cam-helmet", "category": "camera", "name": "未佩戴安全帽"}
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0, evidence=helmet, **kw))
    assert alarm is not None and alarm.grade is Grade.GENERAL and alarm.deadline_ts == T0 + 30 * MIN
    assert sink.broadcasts[0][1] == "请注意：施工工地有人员未佩戴安全帽，请立即佩戴安全帽"
    # the detection's 'end' (no helmetless person seen again) is the clean re-detection
    closed = mgr.on_signal(resolve(ts=T0 + 5 * MIN, **kw))
    assert closed is not None and closed.state is AlarmState.CLEARED and closed.work_order_id is None


def test_broadcast_language_and_template_choice() -> None:
    settings = AlarmSettings(
        language="zh+en",
        broadcasts={
            "default": MessageTemplate(zh="注意：{place}{what}", en="Note: {what} at {place}"),
            "co-high": MessageTemplate(zh="{place}一氧化碳{severity}", en="CO {severity} at {place}"),
        },
    )
    mgr, sink = manager(settings)
    mgr.on_signal(fire(Severity.ALARM, ts=T0))
    mgr.on_signal(fire(Severity.WARNING, ts=T0, source="lel-1", rule="lel-high", name="LEL high"))
    assert [t for _, t in sink.broadcasts] == [
        "1栋B1地下车库一氧化碳报警 CO alarm at 1栋B1地下车库",
        "注意：2栋商铺LEL high Note: LEL high at 2栋商铺",
    ]


def test_chinese_texts_say_the_rules_chinese_name_and_english_texts_its_name() -> None:
    settings = AlarmSettings(
        language="zh+en",
        broadcasts={"default": MessageTemplate(zh="注意：{place}{what}", en="Note: {what} at {place}")},
    )
    sink = RecordingSink()
    names = {"garage-co": "一氧化碳浓度超标"}
    mgr = AlarmManager(TWIN, settings, sink=sink, rule_name_zh=names.get)
    mgr.on_signal(fire(Severity.WARNING, ts=T0, rule="garage-co", name="Garage CO"))
    mgr.on_signal(fire(Severity.WARNING, ts=T0, source="lel-1", rule="lel-high", name="LEL high"))
    assert [t for _, t in sink.broadcasts] == [
        "注意：1栋B1地下车库一氧化碳浓度超标 Note: Garage CO at 1栋B1地下车库",
        "注意：2栋商铺LEL high Note: LEL high at 2栋商铺",  # no Chinese name: the name as it is
    ]


def test_every_shipped_rule_has_a_chinese_name() -> None:
    missing = [r.id for r in load_packs(None) if not r.name_zh]
    assert missing == []


def test_general_hazard_past_its_deadline_becomes_a_work_order_and_escalates_level_by_level() -> None:
    mgr, sink = manager()
    alarm = mgr.on_signal(fire(Severity.ALARM, ts=T0))
    assert alarm is not None
    mgr.tick(T0 + 15 * MIN - 1)
    assert mgr.list_work_orders()[1] == 0

    mgr.tick(T0 + 15 * MIN)
    alarm = mgr.get_alarm(alarm.id)
    assert alarm.work_order_id is not None
    order = mgr.get_work_order(alarm.work_order_id)
    assert (order.state, order.party_id, order.severity) == (WorkOrderState.CREATED, "pm-1", Severity.ALARM)
    assert order.deadline_ts == T0 + 15 * MIN + 4 * HOUR
    dispatch = sink.notifications[-1]
    assert dispatch[0].party_id == "pm-1" and dispatch[1] == ["sms", "push"]
    assert order.id in dispatch[2] and "240分钟" in dispatch[2]

    reached = []
    for k in range(6):  # at the deadline, then one level per further 4-hour period; the chain has 4
        mgr.tick(order.deadline_ts + k * 4 * HOUR - 1)
        assert mgr.get_work_order(order.id).escalation_level == min(k, 4)
        mgr.tick(order.deadline_ts + k * 4 * HOUR)
        now = mgr.get_work_order(order.id)
        reached.append((now.escalation_level, now.escalated_to))
    assert reached == [
        (1, "grid-1"),
        (2, "comm-1"),
        (3, "street-1"),
        (4, "district-1"),
        (4, "district-1"),
        (4, "district-1"),
    ]
    steps = [(s.action, s.actor) for s in mgr.work_order_steps(order.id)]
    assert steps == [("created", "system"), ("overdue", "system")] + [("escalated", "system")] * 4
    escalations = [n for n in sink.notifications if "超时升级" in n[2]]
    assert [n[0].party_id for n in escalations] == ["grid-1", "comm-1", "street-1", "district-1"]
    assert "龙华区应急管理局" in escalations[-1][2]
    assert mgr.get_work_order(order.id).overdue
    assert "work_order" in actions(mgr, alarm.id)


def test_a_fix_reported_after_the_deadline_still_makes_the_work_order() -> None:
    mgr, _ = manager()
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0))
    assert alarm is not None
    closed = mgr.on_signal(resolve(ts=T0 + 31 * MIN))  # no tick ran in between
    assert closed is not None and closed.state is AlarmState.CLEARED and closed.work_order_id is not None
    assert mgr.get_work_order(closed.work_order_id).state is WorkOrderState.CREATED


def test_worse_hazard_gets_the_shorter_deadline() -> None:
    mgr, _ = manager()
    mgr.on_signal(fire(Severity.WARNING, ts=T0))
    alarm = mgr.on_signal(fire(Severity.ALARM, ts=T0 + 5 * MIN))
    assert alarm is not None and alarm.deadline_ts == T0 + 20 * MIN


@pytest.mark.parametrize(
    ("source", "category", "severity", "evidence"),
    [
        ("panic-1", "panic", Severity.ALARM, {"pressed": 1}),
        ("co-1", "gas", Severity.EMERGENCY, {"value": 900.0}),
        ("cam-1", "camera", Severity.WARNING, {"label": "fall", "score": 0.8}),
        ("cam-1", "fire", Severity.ALARM, {"label": "smoke"}),
    ],
)
def test_emergency_notifies_on_every_channel_and_makes_a_work_order_at_once(
    source: str, category: str, severity: Severity, evidence: dict[str, object]
) -> None:
    mgr, sink = manager()
    alarm = mgr.on_signal(fire(severity, ts=T0, source=source, category=category, evidence=evidence))
    assert alarm is not None and alarm.grade is Grade.EMERGENCY
    assert sink.broadcasts == []
    [(told, channels, text)] = sink.notifications
    assert told.id == alarm.id and channels == ["sms", "push"] and text.startswith("【紧急】")
    assert alarm.work_order_id is not None and alarm.deadline_ts is None
    order = mgr.get_work_order(alarm.work_order_id)
    assert order.created_ts == T0 and order.deadline_ts == T0 + order_deadline(severity)
    assert actions(mgr, alarm.id)[-2:] == ["notified", "work_order"]


def order_deadline(severity: Severity) -> int:
    return {Severity.WARNING: 24 * HOUR, Severity.ALARM: 4 * HOUR, Severity.EMERGENCY: HOUR}[severity]


def test_general_hazard_that_becomes_an_emergency_is_regraded() -> None:
    mgr, sink = manager()
    mgr.on_signal(fire(Severity.WARNING, ts=T0))
    alarm = mgr.on_signal(fire(Severity.EMERGENCY, ts=T0 + MIN))
    assert alarm is not None and alarm.grade is Grade.EMERGENCY and alarm.work_order_id is not None
    assert len(sink.broadcasts) == 1 and len(sink.notifications) == 1
    assert actions(mgr, alarm.id)[-4:] == ["escalated", "regraded", "notified", "work_order"]


def test_emergency_on_a_hazard_that_already_has_a_work_order_tightens_it() -> None:
    mgr, sink = manager()
    mgr.on_signal(fire(Severity.WARNING, ts=T0))
    mgr.tick(T0 + 30 * MIN)
    alarm = mgr.on_signal(fire(Severity.EMERGENCY, ts=T0 + 40 * MIN))
    assert alarm is not None and alarm.work_order_id is not None
    order = mgr.get_work_order(alarm.work_order_id)
    assert order.severity is Severity.EMERGENCY and order.deadline_ts == T0 + 40 * MIN + HOUR
    assert sink.notifications[-1][2].startswith("【紧急】")
    assert mgr.list_work_orders()[1] == 1


def test_a_failing_sink_is_recorded_and_does_not_stop_the_manager() -> None:
    class Broken:
        def broadcast(self, alarm: object, text: str) -> None:
            raise OSError("speaker offline")

        def notify(self, alarm: object, channels: object, text: str) -> None:
            raise OSError("sms gateway down")

    from alarms.manager import AlarmManager
    from tests.alarms.support import TWIN

    mgr = AlarmManager(TWIN, sink=Broken())
    general = mgr.on_signal(fire(ts=T0))
    emergency = mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source="co-2"))
    assert general is not None and general.deadline_ts is not None
    assert emergency is not None and emergency.work_order_id is not None
    notes = [e.note or "" for e in mgr.alarm_history(general.id) + mgr.alarm_history(emergency.id)]
    assert any("speaker offline" in n for n in notes) and any("sms gateway down" in n for n in notes)


# --- shelving ---------------------------------------------------------------------------------


def test_shelved_source_records_alarms_but_says_nothing_until_the_window_ends() -> None:
    mgr, sink = manager()
    assert mgr.shelve("co-1", T0 + HOUR, "calibration with test gas", "alice", now_ms=T0) == []
    alarm = mgr.on_signal(fire(Severity.ALARM, ts=T0 + MIN))
    worse = mgr.on_signal(fire(Severity.EMERGENCY, ts=T0 + 2 * MIN))
    assert alarm is not None and worse is not None
    assert sink.calls() == 0
    assert worse.state is AlarmState.ACTIVE and worse.shelved_until_ts == T0 + HOUR
    assert worse.work_order_id is None and worse.deadline_ts is None
    assert actions(mgr, alarm.id)[:4] == ["raised", "active", "shelved", "suppressed"]
    assert mgr.worst_by_place().spaces["b1-garage"].worst is Severity.EMERGENCY  # still on the map

    mgr.tick(T0 + HOUR - 1)
    assert sink.calls() == 0
    mgr.tick(T0 + HOUR)  # the window ends with the alarm still active: the held response goes out
    assert len(sink.notifications) == 1 and mgr.get_alarm(alarm.id).work_order_id is not None
    assert "unshelved" in actions(mgr, alarm.id) and mgr.shelves() == {}


def test_shelve_one_alarm_and_unshelve_it_by_hand() -> None:
    mgr, sink = manager()
    mgr.shelve("co-2", T0 + HOUR, "sensor being replaced", "alice", now_ms=T0)
    alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0 + MIN, source="co-2"))
    assert alarm is not None and sink.calls() == 0
    back = mgr.unshelve(alarm.id, "bob", now_ms=T0 + 5 * MIN)
    assert [a.id for a in back] == [alarm.id]
    assert len(sink.broadcasts) == 1 and mgr.get_alarm(alarm.id).deadline_ts == T0 + 35 * MIN

    other = mgr.on_signal(fire(Severity.WARNING, ts=T0, source="lel-1", rule="lel-high"))
    assert other is not None
    shelved = mgr.shelve(other.id, T0 + 2 * HOUR, "known leak, valve ordered", "alice", now_ms=T0 + MIN)
    assert shelved[0].shelve_reason == "known leak, valve ordered"
    mgr.tick(T0 + 31 * MIN)  # the deadline passes while shelved: the order is made, its notice is held
    held = mgr.get_alarm(other.id)
    assert held.work_order_id is not None
    assert sink.notifications == [] and actions(mgr, other.id)[-1] == "suppressed"


def test_shelve_refuses_bad_requests() -> None:
    mgr, _ = manager()
    with pytest.raises(InvalidRequest):
        mgr.shelve("co-1", T0, "past", "alice", now_ms=T0)
    with pytest.raises(InvalidRequest):
        mgr.shelve("co-1", T0 + HOUR, " ", "alice", now_ms=T0)
    with pytest.raises(NotFound):
        mgr.shelve("no-such-thing", T0 + HOUR, "why", "alice", now_ms=T0)
    alarm = mgr.on_signal(fire(ts=T0))
    assert alarm is not None
    with pytest.raises(InvalidTransition):
        mgr.unshelve(alarm.id, "alice", now_ms=T0)
