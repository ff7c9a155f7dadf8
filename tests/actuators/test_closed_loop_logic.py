"""Closed-loop checks, interlocks and rule actions as pure logic (readings and signals in, commands out)."""

from __future__ import annotations

import pytest

from actuators.actions import ActionRunner
from actuators.errors import CommandRefused
from actuators.manager import CommandManager
from actuators.records import CommandState, VerifySpec
from actuators.signals import VENTILATION_INEFFECTIVE
from core.alarms import AlarmSignal, Severity, SignalKind, SourceKind
from core.contract import AckStatus, CommandAck
from rules.model import Rule
from tests.actuators.support import T0, S, Sink, manager, readings

VERIFY = VerifySpec(metric="co", fall_by=0.3, within_s=60)


def fan_on_confirmed(m: CommandManager, verify: VerifySpec | None = VERIFY, now: int = T0) -> str:
    rec = m.submit("fan-1", "set", {"on": True}, issued_by="rule:garage-co", verify=verify, now=now)
    m.on_ack(
        "fan-1", CommandAck(correlation_id=rec.correlation_id, status=AckStatus.SUCCEEDED, ts=now), now=now
    )
    return rec.correlation_id


def state_of(m: CommandManager, corr: str) -> CommandState:
    detail = m.detail(corr)
    assert detail is not None
    return detail.state


def test_gas_that_falls_in_time_verifies_the_remedy() -> None:
    m, _ = manager()
    m.supervisor.on_readings(readings(m.twin, [("co-1", "co", 60.0), ("co-2", "co", 40.0)], T0), T0)
    corr = fan_on_confirmed(m)
    m.supervisor.on_readings(readings(m.twin, [("co-1", "co", 50.0)], T0 + 10 * S), T0 + 10 * S)
    assert state_of(m, corr) is CommandState.SUCCEEDED, "50 ppm is not 30 % below 60"
    m.supervisor.on_readings(readings(m.twin, [("co-1", "co", 41.0)], T0 + 20 * S), T0 + 20 * S)
    assert state_of(m, corr) is CommandState.EFFECT_VERIFIED
    detail = m.detail(corr)
    assert detail is not None and "fell from 60 to 41" in (detail.transitions[-1].note or "")
    assert not m.drain_signals()


def test_gas_that_does_not_fall_raises_ventilation_ineffective_and_marks_the_fan_suspect() -> None:
    m, _ = manager()
    m.supervisor.on_readings(readings(m.twin, [("co-1", "co", 60.0)], T0), T0)
    corr = fan_on_confirmed(m)
    for i, v in enumerate((61.0, 59.0, 62.0), start=1):
        m.supervisor.on_readings(readings(m.twin, [("co-1", "co", v)], T0 + i * 10 * S), T0 + i * 10 * S)
    m.supervisor.tick(T0 + 61 * S)
    assert state_of(m, corr) is CommandState.EFFECT_NOT_SEEN
    (sig,) = m.drain_signals()
    assert sig.rule_id == VENTILATION_INEFFECTIVE and sig.kind is SignalKind.FIRING
    assert (
        sig.source_kind is SourceKind.SPACE
        and sig.source_id == "garage"
        and sig.evidence["suspect"] == "fan-1"
    )
    assert "did not fall" in m.suspects["fan-1"]


def test_a_sensor_that_never_moves_is_the_suspect_not_the_fan() -> None:
    m, _ = manager()
    m.supervisor.on_readings(readings(m.twin, [("co-1", "co", 60.0)], T0), T0)
    fan_on_confirmed(m)
    for i in range(1, 5):
        m.supervisor.on_readings(readings(m.twin, [("co-1", "co", 60.0)], T0 + i * 10 * S), T0 + i * 10 * S)
    m.supervisor.tick(T0 + 61 * S)
    assert "co-1" in m.suspects and "fan-1" not in m.suspects


def test_no_reading_to_compare_means_no_check_rather_than_a_false_alarm() -> None:
    m, _ = manager()
    corr = fan_on_confirmed(m)
    m.supervisor.tick(T0 + 120 * S)
    assert state_of(m, corr) is CommandState.SUCCEEDED and not m.drain_signals()


def test_high_lel_refuses_switching_devices_that_are_not_explosion_proof() -> None:
    m, sink = manager()
    m.supervisor.on_readings(readings(m.twin, [("gas-1", "ch4", 12.0), ("lel-1", "lel", 25.0)], T0), T0)
    with pytest.raises(CommandRefused, match="not explosion-proof") as err:
        m.submit("relay-d", "set", {"on": True}, issued_by="rule:confined-ch4", now=T0)
    assert err.value.record.state is CommandState.REFUSED
    ok = m.submit(
        "tfan-1", "set", {"on": True}, issued_by="rule:confined-ch4", now=T0
    )  # ex-rated in the twin
    assert ok.state is CommandState.SENT
    with pytest.raises(CommandRefused):
        m.submit("kfan-1", "set", {"on": False}, issued_by="user:x", now=T0)  # switching off sparks too
    assert (
        m.submit("valve-1", "set", {"open": False}, issued_by="rule:kitchen-lel", now=T0).state
        is CommandState.SENT
    )
    assert [d for d, _ in sink.sent] == ["tfan-1", "valve-1"]


def test_evacuation_broadcast_needs_two_independent_sources() -> None:
    sources: set[str] = {"co-1"}
    sink = Sink()
    from actuators.settings import ActuatorSettings
    from tests.actuators.support import twin

    m = CommandManager(twin(), ActuatorSettings(), sink, evidence=lambda _p: frozenset(sources))
    evac = {"preset": "evacuate", "volume": 100}
    with pytest.raises(CommandRefused, match="found 1 \\(co-1\\)"):
        m.submit("spk-1", "play", evac, issued_by="user:值班员", now=T0)
    assert (
        m.submit("spk-1", "play", {"text": "请注意"}, issued_by="user:值班员", now=T0).state
        is CommandState.SENT
    )
    sources.add("cam-1")
    assert m.submit("spk-1", "play", evac, issued_by="user:值班员", now=T0 + S).state is CommandState.SENT


RULE = Rule.model_validate(
    {
        "id": "garage-co",
        "name": "Garage CO",
        "category": "gas",
        "type": "threshold",
        "metric": "co",
        "citation": {"standard": "test", "clause": "1"},
        "levels": [
            {"severity": "warning", "trigger": 25, "clear": 20},
            {"severity": "alarm", "trigger": 50, "clear": 40},
        ],
        "actions": [
            {
                "device_kind": "fan",
                "params": {"on": True, "speed": 2},
                "stop_params": {"on": False},
                "verify": {"metric": "co", "fall_by": 0.3, "within_s": 60},
            },
            {
                "device_kind": "relay",
                "drives": "disinfection",
                "params": {"on": True},
                "min_severity": "alarm",
            },
        ],
    }
)


def signal(
    kind: SignalKind, severity: Severity | None, source: str = "co-1", space: str = "garage"
) -> AlarmSignal:
    return AlarmSignal(
        rule_id="garage-co",
        rule_version=1,
        rule_name="Garage CO",
        category="gas",
        kind=kind,
        severity=severity,
        source_kind=SourceKind.DEVICE,
        source_id=source,
        site="lj",
        building="b1",
        space=space,
        ts=T0,
        message="co 30 ppm > 25 ppm",
    )


def test_only_rules_that_broadcast_an_evacuation_wait_for_their_alarm_to_be_recorded() -> None:
    m, _ = manager()
    evacuate = Rule.model_validate(
        {
            **RULE.model_dump(exclude={"actions"}),
            "id": "garage-evac",
            "actions": [{"device_kind": "speaker", "action": "play", "params": {"preset": "evacuate"}}],
        }
    )
    rules = {"garage-co": RULE, "garage-evac": evacuate}
    runner = ActionRunner(m.twin, m, rules.get)
    evac_signal = signal(SignalKind.FIRING, Severity.ALARM).model_copy(update={"rule_id": "garage-evac"})
    assert runner.needs_evidence(evac_signal), "an evacuation needs the alarm itself as evidence"
    assert not runner.needs_evidence(signal(SignalKind.FIRING, Severity.ALARM)), "fans go at once"
    unknown = signal(SignalKind.FIRING, Severity.ALARM).model_copy(update={"rule_id": "gone"})
    assert not runner.needs_evidence(unknown)


def test_rule_actions_start_once_stop_after_the_last_alarm_and_respect_min_on_time() -> None:
    m, sink = manager()
    runner = ActionRunner(m.twin, m, lambda rid: RULE if rid == "garage-co" else None)
    runner.on_signals([signal(SignalKind.FIRING, Severity.WARNING)], T0)
    runner.on_signals([signal(SignalKind.FIRING, Severity.WARNING)], T0 + S)  # repeated: no new command
    assert sorted(d for d, _ in sink.sent) == ["fan-1", "fan-2"]
    assert (
        sink.to("fan-1")[0].params == {"on": True, "speed": 2}
        and sink.to("fan-1")[0].issued_by == "rule:garage-co"
    )
    assert not sink.to("relay-d"), "the relay action starts at alarm severity; garage has none anyway"
    runner.on_signals([signal(SignalKind.FIRING, Severity.WARNING, source="co-2")], T0 + S)
    for dev in ("fan-1", "fan-2"):
        cmd = sink.to(dev)[0]
        m.on_ack(
            dev,
            CommandAck(correlation_id=cmd.correlation_id, status=AckStatus.SUCCEEDED, ts=T0),
            now=T0 + 2 * S,
        )
    assert runner.wanted("fan-1") == ("set", {"on": True, "speed": 2})
    runner.on_signals([signal(SignalKind.RESOLVED, None)], T0 + 100 * S)
    assert len(sink.to("fan-1")) == 1, "co-2's alarm still wants the fans"
    runner.on_signals([signal(SignalKind.RESOLVED, None, source="co-2")], T0 + 110 * S)
    assert len(sink.to("fan-1")) == 1, "held for the fan's 300 s minimum on-time"
    m.supervisor.tick(T0 + 303 * S)
    assert sink.to("fan-1")[-1].params == {"on": False} and runner.wanted("fan-1") is None


def test_rule_actions_pick_relays_by_what_they_drive() -> None:
    m, sink = manager()
    runner = ActionRunner(m.twin, m, lambda _rid: RULE)
    runner.on_signals([signal(SignalKind.FIRING, Severity.ALARM, source="gas-1", space="tank")], T0)
    assert sorted(d for d, _ in sink.sent) == ["relay-d", "tfan-1"]
