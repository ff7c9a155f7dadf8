"""Commands through a real Mosquitto and a whole SafeTwin: CO -> rule -> fan command -> ack -> check.

The fan is a small in-test device on the MQTT contract; the CO sensor is a test publisher whose
readings fall while the fan really runs.  Delays and windows are seconds so the timeline fits a test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from actuators.records import CommandState
from actuators.signals import ACTUATOR_FAILED, VENTILATION_INEFFECTIVE
from core.alarms import Alarm, AlarmState
from core.contract import now_ms
from safetwin.runtime import SafeTwin
from tests.actuators.device import Mode, TestFan, fan_running
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually
from tests.ingest.test_end_to_end import make_settings, running

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TWIN = """
version: 1
name: 闭环
sites:
  - id: site-a
    name: 新河社区
    location: {lat: 22.70, lon: 114.05}
    buildings:
      - id: bld-1
        name: 1栋
        location: {lat: 22.701, lon: 114.051}
        floors:
          - level: -1
            name: B1
            spaces:
              - id: garage-1
                name: 1栋B1车库
                kind: basement_garage
                devices:
                  - {id: co-1, kind: co_sensor}
                  - {id: fan-1, kind: fan}
"""

PACK = """
pack: closed-loop
title: Closed loop at test speed
rules:
  - id: garage-co
    name: Garage CO
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {device_kinds: [co_sensor], space_kinds: [basement_garage]}
    citation: {standard: GB 50736-2012, clause: 6.3.8}
    levels:
      - {severity: warning, trigger: 25, clear: 20, on_delay_s: 0.5, off_delay_s: 1}
    actions:
      - device_kind: fan
        params: {on: true, speed: 2}
        stop_params: {on: false}
        verify: {metric: co, fall_by: 0.3, within_s: 3}
"""


@pytest.fixture
def settings(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Any]:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    fan = {"type": "fan", "min_on_s": 1, "ack_timeout_s": 0.5, "done_timeout_s": 1, "retries": 1}
    s = make_settings(
        tmp_path,
        mosquitto.url,
        rules={"packs": [pack], "tick_interval_s": 0.2},
        actuators={"tick_interval_s": 0.1, "drivers": [fan]},
    )
    Path(s.twin.path).write_text(TWIN, encoding="utf-8")
    yield s


@contextlib.asynccontextmanager
async def garage(
    settings: Any, mosquitto: MosquittoBroker, mode: Mode
) -> AsyncIterator[tuple[SafeTwin, TestFan, Publisher]]:
    async with running(settings) as app, fan_running(mosquitto, app.topics, "fan-1", mode) as fan:
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            yield app, fan, pub
        finally:
            pub.close()


async def air(app: SafeTwin, fan: TestFan, pub: Publisher, start: float, stop: asyncio.Event) -> None:
    """The garage: CO holds at `start` (a little noise) and falls by a fifth a step while the fan runs."""
    co, step = start, 0
    while not stop.is_set():
        co = max(5.0, co * 0.8) if fan.on else start + (step % 3)
        pub.publish(app.topics.telemetry("co-1"), {"ts": now_ms(), "metrics": {"co": co}})
        step += 1
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def breathing(app: SafeTwin, fan: TestFan, pub: Publisher, start: float) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(air(app, fan, pub, start, stop))
    try:
        yield
    finally:
        stop.set()
        await task


def alarms(app: SafeTwin, rule: str) -> list[Alarm]:
    items, _ = app.ops.alarms.list_alarms(limit=100)
    return [a for a in items if a.rule_id == rule]


def commands(app: SafeTwin) -> list[Any]:
    items, _ = app.ops.actuators.list_commands(device_id="fan-1")
    return items


async def test_fan_on_acknowledged_co_falls_effect_verified_alarm_clears_fan_stops(
    settings: Any, mosquitto: MosquittoBroker
) -> None:
    async with garage(settings, mosquitto, "works") as (app, fan, pub), breathing(app, fan, pub, 40.0):
        await eventually(lambda: fan.on, what="the fan switched on over MQTT")
        first = fan.received[0]
        assert first.params == {"on": True, "speed": 2} and first.issued_by == "rule:garage-co"
        await eventually(
            lambda: any(c.state is CommandState.EFFECT_VERIFIED for c in commands(app)),
            what="effect verified",
        )
        await eventually(
            lambda: alarms(app, "garage-co")[0].state is AlarmState.CLEARED, what="alarm cleared"
        )
        await eventually(lambda: not fan.on, what="the fan stopped after the alarm cleared")
        assert not alarms(app, VENTILATION_INEFFECTIVE) and not alarms(app, ACTUATOR_FAILED)
        detail = app.ops.actuators.get_command(first.correlation_id)
        states = [t.state for t in detail.transitions]
        for step in (
            CommandState.SENT,
            CommandState.DELIVERED,
            CommandState.SUCCEEDED,
            CommandState.EFFECT_VERIFIED,
        ):
            assert step in states, (step, states)


async def test_fan_that_acks_but_does_nothing_raises_ventilation_ineffective(
    settings: Any, mosquitto: MosquittoBroker
) -> None:
    async with garage(settings, mosquitto, "lazy") as (app, fan, pub), breathing(app, fan, pub, 40.0):
        await eventually(
            lambda: any(a.state is AlarmState.ACTIVE for a in alarms(app, VENTILATION_INEFFECTIVE)),
            what="ventilation ineffective",
        )
        (alarm,) = alarms(app, VENTILATION_INEFFECTIVE)
        assert alarm.source_id == "garage-1" and alarm.evidence["suspect"] == "fan-1"
        assert any(c.state is CommandState.EFFECT_NOT_SEEN for c in commands(app))
        view = next(v for v in app.ops.actuators.actuators() if v.device_id == "fan-1")
        assert view.suspect and "did not fall" in view.suspect


async def test_fan_that_never_answers_raises_actuator_failed(
    settings: Any, mosquitto: MosquittoBroker
) -> None:
    async with garage(settings, mosquitto, "silent") as (app, fan, pub), breathing(app, fan, pub, 40.0):
        await eventually(
            lambda: any(a.state is AlarmState.ACTIVE for a in alarms(app, ACTUATOR_FAILED)),
            what="actuator failed",
        )
        (alarm,) = alarms(app, ACTUATOR_FAILED)
        assert alarm.source_id == "fan-1"
        (cmd,) = [c for c in commands(app) if c.correlation_id == fan.received[0].correlation_id]
        assert cmd.state is CommandState.TIMED_OUT and cmd.attempts == 2
        assert {c.correlation_id for c in fan.received} == {cmd.correlation_id}, "a retry keeps the id"


async def test_override_expires_and_the_fan_returns_to_automatic_control(
    settings: Any, mosquitto: MosquittoBroker
) -> None:
    async with garage(settings, mosquitto, "works") as (app, fan, _pub):
        rec = app.ops.actuators.command(
            "fan-1", "set", {"on": True, "speed": 3}, operator="李工", reason="试机", expires_in_s=1.5
        )
        await eventually(lambda: fan.on, what="the override ran the fan")
        assert rec.operator == "李工" and rec.override_until_ts is not None
        await eventually(lambda: not fan.on, what="the fan back off when the override expired")
        last = fan.received[-1]
        assert last.issued_by == "system:override-ended" and last.params == {"on": False}
