"""The command lifecycle as pure logic: acks, retries, time-outs, idempotency, offline queue, on-times."""

from __future__ import annotations

import pytest

from actuators.errors import CommandInvalid, UnknownActuator
from actuators.records import CommandState
from actuators.signals import ACTUATOR_FAILED
from core.alarms import SignalKind
from core.contract import AckStatus, ActuatorState, CommandAck
from tests.actuators.support import T0, S, manager


def ack(corr: str, status: AckStatus, detail: str | None = None) -> CommandAck:
    return CommandAck(correlation_id=corr, status=status, ts=T0, detail=detail)


def state(**values: object) -> ActuatorState:
    return ActuatorState(ts=T0, state=dict(values))


def test_fan_on_goes_sent_delivered_succeeded_with_one_correlation_id() -> None:
    m, sink = manager()
    rec = m.submit("fan-1", "set", {"on": True, "speed": 2}, issued_by="rule:garage-co", now=T0)
    assert rec.state is CommandState.SENT
    (cmd,) = sink.to("fan-1")
    assert cmd.correlation_id == rec.correlation_id and cmd.params == {"on": True, "speed": 2}
    assert cmd.expires_ts == T0 + 120 * S
    m.on_ack("fan-1", ack(rec.correlation_id, AckStatus.DELIVERED), now=T0 + 50)
    m.on_ack("fan-1", ack(rec.correlation_id, AckStatus.SUCCEEDED), now=T0 + 80)
    detail = m.detail(rec.correlation_id)
    assert detail is not None
    assert [t.state for t in detail.transitions] == [
        CommandState.QUEUED,
        CommandState.SENT,
        CommandState.DELIVERED,
        CommandState.SUCCEEDED,
    ]


def test_unanswered_command_is_retried_with_the_same_id_then_times_out_as_an_alarm() -> None:
    m, sink = manager()
    rec = m.submit("fan-1", "set", {"on": True}, issued_by="rule:garage-co", now=T0)
    for i in range(1, 5):
        m.supervisor.tick(T0 + i * 6 * S)  # the fan's ack time-out is 5 s; 2 retries
    sent = sink.to("fan-1")
    assert len(sent) == 3 and {c.correlation_id for c in sent} == {rec.correlation_id}
    final = m.detail(rec.correlation_id)
    assert final is not None and final.state is CommandState.TIMED_OUT
    (sig,) = m.drain_signals()
    assert sig.rule_id == ACTUATOR_FAILED and sig.kind is SignalKind.FIRING and sig.source_id == "fan-1"
    # the device answers a later command: the alarm resolves
    nxt = m.submit("fan-1", "set", {"on": True}, issued_by="rule:garage-co", now=T0 + 60 * S)
    m.on_ack("fan-1", ack(nxt.correlation_id, AckStatus.SUCCEEDED), now=T0 + 61 * S)
    (res,) = m.drain_signals()
    assert res.rule_id == ACTUATOR_FAILED and res.kind is SignalKind.RESOLVED


def test_failed_ack_raises_actuator_failed_with_the_detail() -> None:
    m, _ = manager()
    rec = m.submit("valve-1", "set", {"open": False}, issued_by="rule:kitchen-lel", now=T0)
    m.on_ack("valve-1", ack(rec.correlation_id, AckStatus.FAILED, "motor jammed"), now=T0 + S)
    detail = m.detail(rec.correlation_id)
    assert detail is not None and detail.state is CommandState.FAILED
    (sig,) = m.drain_signals()
    assert "motor jammed" in sig.message


def test_no_second_actuation_while_in_flight_or_already_in_state() -> None:
    m, sink = manager()
    first = m.submit("fan-1", "set", {"on": True}, issued_by="rule:a", now=T0)
    again = m.submit("fan-1", "set", {"on": True}, issued_by="rule:b", now=T0 + 10)
    assert again.correlation_id == first.correlation_id and len(sink.to("fan-1")) == 1
    m.on_state("fan-2", state(on=True, speed=1), now=T0)
    done = m.submit("fan-2", "set", {"on": True}, issued_by="rule:a", now=T0 + S)
    assert done.state is CommandState.SUCCEEDED and not sink.to("fan-2")


def test_state_report_counts_as_success_when_the_ack_is_lost() -> None:
    m, _ = manager()
    rec = m.submit("fan-1", "set", {"on": True, "speed": 3}, issued_by="rule:a", now=T0)
    m.on_state("fan-1", state(on=True, speed=3, rpm=1400), now=T0 + S)
    detail = m.detail(rec.correlation_id)
    assert detail is not None and detail.state is CommandState.SUCCEEDED


def test_offline_device_gets_the_command_when_back_or_never_after_its_ttl() -> None:
    m, sink = manager(offline_ttl_s=60)
    m.on_availability("fan-1", False, now=T0)
    rec = m.submit("fan-1", "set", {"on": True}, issued_by="rule:a", now=T0)
    assert rec.state is CommandState.QUEUED and not sink.to("fan-1")
    m.on_availability("fan-1", True, now=T0 + 30 * S)
    assert len(sink.to("fan-1")) == 1
    m.on_availability("fan-2", False, now=T0)
    late = m.submit("fan-2", "set", {"on": True}, issued_by="rule:a", now=T0)
    m.supervisor.tick(T0 + 61 * S)
    detail = m.detail(late.correlation_id)
    assert detail is not None and detail.state is CommandState.EXPIRED and not sink.to("fan-2")


def test_automatic_stop_waits_for_the_minimum_on_time_but_a_person_stops_at_once() -> None:
    m, sink = manager()
    m.on_state("fan-1", state(on=True), now=T0)
    stop = m.submit("fan-1", "set", {"on": False}, issued_by="rule:a", now=T0 + 10 * S)
    assert stop.state is CommandState.QUEUED and stop.hold_until_ts == T0 + 300 * S
    m.supervisor.tick(T0 + 200 * S)
    assert not sink.to("fan-1")
    m.supervisor.tick(T0 + 301 * S)
    assert [c.params for c in sink.to("fan-1")] == [{"on": False}]
    m.on_state("fan-2", state(on=True), now=T0)
    manual = m.submit(
        "fan-2", "set", {"on": False}, issued_by="user:王工", operator="王工", reason="维修", now=T0 + S
    )
    assert manual.state is CommandState.SENT
    m.on_state("kfan-1", state(on=True), now=T0)
    held = m.submit("kfan-1", "set", {"on": False}, issued_by="rule:a", now=T0 + 10 * S)
    assert held.state is CommandState.QUEUED
    manual = m.submit("kfan-1", "set", {"on": False}, issued_by="user:王工", operator="王工", now=T0 + 11 * S)
    assert manual.correlation_id != held.correlation_id and manual.state is CommandState.SENT
    assert m.in_flight_of("kfan-1") == [manual.correlation_id], "the person's stop replaced the held one"
    assert [c.params for c in sink.to("kfan-1")] == [{"on": False}]


def test_maximum_on_time_stops_the_device() -> None:
    m, sink = manager(drivers=[{"type": "relay", "max_on_s": 60, "min_on_s": 0}])
    m.on_state("relay-d", state(on=True), now=T0)
    m.supervisor.tick(T0 + 30 * S)
    assert not sink.to("relay-d")
    m.supervisor.tick(T0 + 61 * S)
    (cmd,) = sink.to("relay-d")
    assert cmd.params == {"on": False} and cmd.issued_by == "system:max-on-time"


def test_bad_params_and_unknown_devices_are_refused_before_anything_is_sent() -> None:
    m, sink = manager()
    with pytest.raises(CommandInvalid) as err:
        m.submit("fan-1", "set", {"on": True, "speed": 9}, issued_by="user:x", now=T0)
    assert err.value.field == "params.speed"
    with pytest.raises(CommandInvalid):
        m.submit("valve-1", "play", {"text": "hi"}, issued_by="user:x", now=T0)
    with pytest.raises(UnknownActuator):
        m.submit("co-1", "set", {"on": True}, issued_by="user:x", now=T0)
    assert not sink.sent


def test_manual_override_holds_off_rules_then_hands_back_to_automatic_control() -> None:
    m, sink = manager()
    m.on_state("fan-1", state(on=False), now=T0)
    rec = m.submit(
        "fan-1",
        "set",
        {"on": True, "speed": 3},
        issued_by="user:李",
        operator="李",
        reason="试机",
        override_s=60,
        now=T0,
    )
    assert rec.override_until_ts == T0 + 60 * S
    m.on_ack("fan-1", ack(rec.correlation_id, AckStatus.SUCCEEDED), now=T0 + S)
    m.on_state("fan-1", state(on=True, speed=3), now=T0 + S)
    with pytest.raises(Exception, match="manual override by 李"):
        m.submit("fan-1", "set", {"on": False}, issued_by="rule:a", now=T0 + 2 * S)
    m.supervisor.tick(T0 + 61 * S)
    back = sink.to("fan-1")[-1]
    assert back.params == {"on": False} and back.issued_by == "system:override-ended"
    assert m.live("fan-1").override_until is None


def test_a_command_replacing_one_already_published_is_sent_even_if_the_state_looks_right() -> None:
    m, sink = manager(drivers=[{"type": "fan", "min_on_s": 0}])
    m.on_state("fan-1", state(on=False), now=T0)
    on = m.submit("fan-1", "set", {"on": True}, issued_by="rule:a", now=T0)
    off = m.submit("fan-1", "set", {"on": False}, issued_by="rule:a", now=T0 + 10)  # before any answer
    assert m.detail(on.correlation_id).state is CommandState.SUPERSEDED  # type: ignore[union-attr]
    assert off.state is CommandState.SENT, "the fan may carry out the first command: the stop must go out"
    assert [c.params for c in sink.to("fan-1")] == [{"on": True}, {"on": False}]


def test_a_command_can_carry_its_own_on_times() -> None:
    m, sink = manager()
    rec = m.submit("relay-d", "set", {"on": True}, issued_by="rule:a", min_on_s=0, max_on_s=30, now=T0)
    m.on_ack("relay-d", ack(rec.correlation_id, AckStatus.SUCCEEDED), now=T0 + S)
    m.supervisor.tick(T0 + 20 * S)
    assert len(sink.to("relay-d")) == 1, "the relay driver's 2 h limit does not apply to this run"
    m.supervisor.tick(T0 + 32 * S)
    assert sink.to("relay-d")[-1].params == {"on": False}


def test_announcements_queue_up_and_a_stop_ends_them() -> None:
    m, sink = manager()
    first = m.submit("spk-1", "play", {"text": "请佩戴安全帽"}, issued_by="rule:a", now=T0)
    second = m.submit("spk-1", "play", {"text": "请勿靠近基坑"}, issued_by="rule:b", now=T0 + 10)
    assert first.state is second.state is CommandState.SENT
    stop = m.submit("spk-1", "stop", {}, issued_by="user:值班员", now=T0 + 20)
    assert stop.state is CommandState.SENT
    for rec in (first, second):
        assert m.detail(rec.correlation_id).state is CommandState.SUPERSEDED  # type: ignore[union-attr]
    assert [c.action for c in sink.to("spk-1")] == ["play", "play", "stop"]


def test_each_device_keeps_its_own_commands_in_flight_however_many_others_wait() -> None:
    m, sink = manager()
    for fan in ("fan-1", "fan-2", "kfan-1"):
        m.on_state(fan, state(on=True), now=T0)
    held = {
        fan: m.submit(fan, "set", {"on": False}, issued_by="rule:a", now=T0 + 10 * S)
        for fan in ("fan-1", "fan-2", "kfan-1")
    }  # automatic stops, held for the minimum on-time: in flight for minutes
    assert {f: m.in_flight_of(f) for f in held} == {f: [r.correlation_id] for f, r in held.items()}
    again = m.submit("fan-2", "set", {"on": False}, issued_by="rule:b", now=T0 + 11 * S)
    assert again.correlation_id == held["fan-2"].correlation_id, "the same command in flight: not a second"
    on = m.submit("fan-2", "set", {"on": True}, issued_by="rule:a", now=T0 + 12 * S)
    assert on.state is CommandState.SUCCEEDED, "the fan runs already: the held stop is replaced, none sent"
    assert m.in_flight_of("fan-2") == [] and "fan-2" not in m._in_flight, "nothing left behind"
    assert m.in_flight_of("kfan-1") == [held["kfan-1"].correlation_id], "the others' are untouched"
    m.supervisor.tick(T0 + 311 * S)  # the minimum on-time is over: the held stops go out
    stop = held["fan-1"].correlation_id
    assert m.in_flight_of("fan-1") == [stop], "sent, and in flight until the fan answers"
    m.on_ack("fan-1", ack(stop, AckStatus.SUCCEEDED), now=T0 + 312 * S)
    assert m.in_flight_of("fan-1") == [] and m.in_flight_of("kfan-1") == [held["kfan-1"].correlation_id]
    assert [c.params for c in sink.to("fan-1")] == [{"on": False}] and not sink.to("fan-2")
