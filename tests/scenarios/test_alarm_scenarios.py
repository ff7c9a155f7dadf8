"""Alarm scenarios end to end: device -> real Mosquitto -> ingest -> rules -> alarms -> API records.

Delays and deadlines are seconds instead of minutes so the timeline runs in the test; the rules and
the alarm manager are the shipped code, only their figures are the test's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from core.alarms import Alarm, AlarmState, Severity, WorkOrderState
from core.contract import Command, now_ms
from safetwin.runtime import SafeTwin
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually
from tests.ingest.test_end_to_end import make_settings, running

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TWIN = """
version: 1
name: 场景
parties:
  - {id: pm, name: 物业公司, kind: property_company, contacts: [{name: 物业值班, phone: '0755-1'}]}
  - {id: grid, name: 网格员, kind: grid_worker, contacts: [{name: 网格员甲, phone: '138-1'}]}
  - {id: sq, name: 社区工作站, kind: community, contacts: [{name: 社区值班, phone: '0755-2'}]}
  - {id: jd, name: 街道办, kind: street}
  - {id: qu, name: 区应急局, kind: district}
sites:
  - id: site-a
    name: 新河社区
    location: {lat: 22.70, lon: 114.05}
    parties: {owner: pm, grid: grid, community: sq, street: jd, district: qu}
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
                  - {id: co-2, kind: co_sensor}
                  - {id: spk-1, kind: speaker}
"""

PACK = """
pack: scenario
title: Scenario rules
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
      - {severity: warning, trigger: 25, clear: 20, on_delay_s: 2, off_delay_s: 2}
      - {severity: alarm, trigger: 50, clear: 40, on_delay_s: 1, off_delay_s: 2}
  - id: co-stuck
    name: CO sensor stuck
    category: sensor_fault
    type: stuck
    metrics: [co]
    target: {device_kinds: [co_sensor]}
    citation: {standard: practice, clause: test figures}
    epsilon: 0.01
    duration_s: 4
    severity: warning
  - id: co-silent
    name: CO sensor silent
    category: offline
    type: no_data
    target: {device_kinds: [co_sensor]}
    citation: {standard: practice, clause: test figures}
    timeout_s: 3
    severity: warning
"""


@pytest.fixture
def settings_for(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Any]:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")

    def make(**alarms: Any) -> Any:
        s = make_settings(
            tmp_path, mosquitto.url, rules={"packs": [pack], "tick_interval_s": 0.2}, alarms=alarms
        )
        Path(s.twin.path).write_text(TWIN, encoding="utf-8")
        return s

    yield make


@contextlib.asynccontextmanager
async def device(mosquitto: MosquittoBroker) -> AsyncIterator[Publisher]:
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        yield pub
    finally:
        pub.close()


async def feed(pub: Publisher, app: SafeTwin, dev: str, values: list[float], every_s: float = 0.25) -> None:
    """Publish readings stamped with the time they are sent, `every_s` apart."""
    for v in values:
        pub.publish(app.topics.telemetry(dev), {"ts": now_ms(), "metrics": {"co": v}})
        await asyncio.sleep(every_s)


def alarms_of(app: SafeTwin, rule: str, source: str = "co-1") -> list[Alarm]:
    items, _ = app.ops.alarms.list_alarms(source_id=source, limit=100)
    return [a for a in items if a.rule_id == rule]


def actions(app: SafeTwin, alarm: Alarm) -> list[str]:
    return [e.action for e in app.ops.alarms.alarm_history(alarm.id)]


async def test_garage_co_rise_pending_active_escalated_then_cleared(
    settings_for: Any, mosquitto: MosquittoBroker
) -> None:
    async with running(settings_for()) as app, device(mosquitto) as pub:
        await feed(pub, app, "co-1", [10, 30])  # above the warning level: pending, not yet active
        await eventually(lambda: bool(alarms_of(app, "garage-co")), what="a pending alarm")
        assert alarms_of(app, "garage-co")[0].state is AlarmState.PENDING
        await feed(pub, app, "co-1", [31] * 10)  # held for > 2 s
        await eventually(lambda: alarms_of(app, "garage-co")[0].state is AlarmState.ACTIVE, what="active")
        await feed(pub, app, "co-1", [60] * 6)  # alarm level held for > 1 s
        await eventually(lambda: alarms_of(app, "garage-co")[0].severity is Severity.ALARM, what="escalated")
        await feed(pub, app, "co-1", [35] * 12)  # below alarm clear (40): back to warning, still active
        await eventually(
            lambda: alarms_of(app, "garage-co")[0].severity is Severity.WARNING, what="de-escalated"
        )
        await feed(pub, app, "co-1", [22] * 12)  # below the trigger but above the clear level: stays active
        assert alarms_of(app, "garage-co")[0].state is AlarmState.ACTIVE, "hysteresis: 22 ppm is above 20"
        await feed(pub, app, "co-1", [15] * 12)  # below clear for > off-delay
        await eventually(lambda: alarms_of(app, "garage-co")[0].state is AlarmState.CLEARED, what="cleared")
        (alarm,) = alarms_of(app, "garage-co")
        assert alarm.peak_severity is Severity.ALARM
        history = actions(app, alarm)
        for step in ("raised", "active", "escalated", "deescalated", "cleared"):
            assert step in history, (step, history)
        assert alarm.evidence, "the alarm explains itself"


async def test_flapping_around_a_threshold_raises_no_alarm_storm(
    settings_for: Any, mosquitto: MosquittoBroker
) -> None:
    async with running(settings_for()) as app, device(mosquitto) as pub:
        await feed(pub, app, "co-1", [26, 24] * 12, every_s=0.15)  # never above 25 for 2 s in a row
        await asyncio.sleep(0.5)
        assert not [a for a in alarms_of(app, "garage-co") if a.state is AlarmState.ACTIVE]
        assert len(alarms_of(app, "garage-co")) <= 1, "one alarm per (rule, source), not one per crossing"


async def test_stuck_sensor_is_a_fault_not_a_gas_alarm(settings_for: Any, mosquitto: MosquittoBroker) -> None:
    async with running(settings_for()) as app, device(mosquitto) as pub:
        await feed(pub, app, "co-2", [7.0] * 24)
        await eventually(
            lambda: any(a.state is AlarmState.ACTIVE for a in alarms_of(app, "co-stuck", "co-2")),
            what="stuck-sensor alarm",
        )
        assert not alarms_of(app, "garage-co", "co-2")


async def test_device_going_silent_raises_no_data(settings_for: Any, mosquitto: MosquittoBroker) -> None:
    async with running(settings_for()) as app, device(mosquitto) as pub:
        await feed(pub, app, "co-2", [5, 6])
        await eventually(lambda: bool(alarms_of(app, "co-silent", "co-2")), timeout=10, what="no-data alarm")


async def test_restart_in_the_middle_of_an_on_delay(settings_for: Any, mosquitto: MosquittoBroker) -> None:
    settings = settings_for()
    async with running(settings) as app, device(mosquitto) as pub:
        await feed(pub, app, "co-1", [30], every_s=0.1)
        await eventually(lambda: bool(alarms_of(app, "garage-co")), what="pending")
    async with running(settings) as app, device(mosquitto) as pub:
        first = alarms_of(app, "garage-co")[0]
        assert first.state is AlarmState.PENDING
        await asyncio.sleep(max(0.0, (first.created_ts + 2500 - now_ms()) / 1000))  # the on-delay has run out
        sent = now_ms()
        await feed(pub, app, "co-1", [30] * 4, every_s=0.25)
        await eventually(lambda: alarms_of(app, "garage-co")[0].state is AlarmState.ACTIVE, what="active")
        alarm = alarms_of(app, "garage-co")[0]
        assert alarm.id == first.id
        assert alarm.active_ts is not None and alarm.active_ts - sent < 250, (
            "active on the first reading after the restart: the on-delay kept running across it"
        )
        assert len(alarms_of(app, "garage-co")) == 1, "the same alarm continued"


async def test_general_hazard_fixed_in_time_closes_itself(
    settings_for: Any, mosquitto: MosquittoBroker
) -> None:
    deadlines = {"warning": 30.0, "alarm": 30.0}
    async with running(settings_for(hazard_deadline_s=deadlines)) as app, device(mosquitto) as pub:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as speaker:
            await speaker.subscribe(app.topics.command("spk-1"), qos=1)
            await feed(pub, app, "co-1", [31] * 12)
            async with asyncio.timeout(10):
                msg = await anext(speaker.messages)
        broadcast = Command.model_validate_json(msg.payload)
        assert broadcast.action == "play" and broadcast.params["text"], "a voice broadcast at the site"
        alarm = alarms_of(app, "garage-co")[0]
        assert alarm.deadline_ts is not None
        await feed(pub, app, "co-1", [10] * 12)
        await eventually(lambda: alarms_of(app, "garage-co")[0].state is AlarmState.CLEARED, what="cleared")
        assert alarms_of(app, "garage-co")[0].work_order_id is None, "fixed in time: no work order"


async def test_overdue_hazard_becomes_a_work_order_that_escalates(
    settings_for: Any, mosquitto: MosquittoBroker
) -> None:
    settings = settings_for(
        hazard_deadline_s={"warning": 1.0, "alarm": 1.0},
        work_order_deadline_s={"warning": 1.0, "alarm": 1.0, "emergency": 1.0},
        escalation_period_s={"warning": 1.0, "alarm": 1.0, "emergency": 1.0},
    )
    async with running(settings) as app, device(mosquitto) as pub:
        await feed(pub, app, "co-1", [31] * 12)
        await eventually(lambda: alarms_of(app, "garage-co")[0].work_order_id is not None, what="work order")
        order_id = alarms_of(app, "garage-co")[0].work_order_id
        assert order_id is not None
        order = app.ops.alarms.get_work_order(order_id)
        assert order.party_id == "pm" and order.state is WorkOrderState.CREATED
        await eventually(
            lambda: app.ops.alarms.get_work_order(order_id).escalation_level >= 2,
            timeout=10,
            what="two escalations",
        )
        order = app.ops.alarms.get_work_order(order_id)
        assert order.overdue and order.escalated_to in ("sq", "jd", "qu")
        steps = [s.action for s in app.ops.alarms.work_order_steps(order_id)]
        assert steps[0] == "created" and "overdue" in steps and steps.count("escalated") >= 2
        scores = {p.party_id: p.score for p in app.ops.alarms.credit_scores()}
        assert scores["pm"] < 100, "an overdue order costs the responsible party credit"


async def test_credit_score_after_a_series_of_overdue_orders(
    settings_for: Any, mosquitto: MosquittoBroker
) -> None:
    settings = settings_for(
        hazard_deadline_s={"warning": 0.5, "alarm": 0.5},
        work_order_deadline_s={"warning": 0.5, "alarm": 0.5, "emergency": 0.5},
        escalation_period_s={"warning": 60.0, "alarm": 60.0, "emergency": 60.0},
    )
    async with running(settings) as app, device(mosquitto) as pub:
        for _ in range(5):
            await feed(pub, app, "co-1", [31] * 10)
            await eventually(lambda: bool(app.ops.alarms.list_work_orders(party_id="pm")[1]), what="an order")
            await feed(pub, app, "co-1", [10] * 12)
            await eventually(
                lambda: alarms_of(app, "garage-co")[0].state is AlarmState.CLEARED, what="cleared"
            )
        await eventually(
            lambda: {p.party_id for p in app.ops.alarms.key_supervision()} >= {"pm"},
            timeout=10,
            what="the property company on the key-supervision list",
        )
        score = {p.party_id: p.score for p in app.ops.alarms.credit_scores()}["pm"]
        assert score < 80
        history = app.ops.alarms.credit_history("pm")
        assert history and all(e.reason for e in history)
