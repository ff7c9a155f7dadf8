"""Closed-loop scenarios: the fleet simulator's physics against a whole SafeTwin, through a real Mosquitto.

The simulator runs as its own process (`safetwin simulate --scenario FILE`) on the demo twin's
basement garage at accelerated time: cars emit CO, the exhaust fans answer SafeTwin's commands over
the contract and, when they really run, raise the air-change rate so CO falls.  SafeTwin runs the
shipped rule engine, alarm manager and actuator side with a garage-CO rule whose delays and check
window are seconds (wall clock) so the whole loop plays out in the test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from actuators.records import CommandState
from actuators.signals import ACTUATOR_FAILED, VENTILATION_INEFFECTIVE
from core.alarms import Alarm, AlarmState
from safetwin.runtime import SafeTwin
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.process import terminate
from tests.helpers import eventually
from tests.ingest.test_end_to_end import make_settings, running

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GARAGE = "gl-lj-b01-b1-garage"
FANS = ("gl-lj-b01-b1-fan-01", "gl-lj-b01-b1-fan-02")

PACK = """
pack: closed-loop
title: Garage CO at test speed
rules:
  - id: garage-co
    name: Garage CO
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {device_kinds: [co_sensor, multi_gas], space_kinds: [basement_garage]}
    citation: {standard: GB 50736-2012, clause: 6.3.8 item 1}
    levels:
      - {severity: warning, trigger: 25, clear: 20, on_delay_s: 1, off_delay_s: 2}
    actions:
      - device_kind: fan
        params: {on: true, speed: 2}
        stop_params: {on: false}
        verify: {metric: co, fall_by: 0.25, within_s: 25}
"""


def scenario(faults: str = "", source: bool = True) -> str:
    """Cars idling in the garage for 10 simulated minutes, at 60x; `faults` are timeline lines."""
    gas = (
        f"  - {{at: 0, do: source, space: {GARAGE}, gas: co, rate: 900000, for: 10m, label: idling cars}}\n"
        if source
        else ""
    )
    return (
        "title: closed loop test\nspeed: 60\nduration: 30m\nstart_time: '17:30'\ninterval_s: 0.25\n"
        f"spaces: [{GARAGE}]\ntimeline:\n  - {{at: 0, do: activity, space: {GARAGE}, factor: 3}}\n"
        + gas
        + faults
    )


def fault(kind: str) -> str:
    return "".join(f"  - {{at: 0, do: fault, device: {fan}, fault: {{type: {kind}}}}}\n" for fan in FANS)


@pytest.fixture
def settings(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Any]:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    fan = {"type": "fan", "min_on_s": 2, "ack_timeout_s": 1, "done_timeout_s": 2, "retries": 1}
    s = make_settings(
        tmp_path,
        mosquitto.url,
        rules={"packs": [pack], "tick_interval_s": 0.2},
        actuators={"tick_interval_s": 0.1, "drivers": [fan]},
        vision={"enabled": False},
    )
    Path(s.twin.path).write_text(
        (ROOT / "data" / "demo-twin.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    yield s


@contextlib.contextmanager
def simulator(settings: Any, text: str, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`safetwin simulate --scenario FILE` in its own process, on the same broker and topic prefix."""
    file = tmp / "scenario.yaml"
    file.write_text(text, encoding="utf-8")
    env = dict(os.environ)
    env.update(
        {
            "SAFETWIN_MQTT__URL": settings.mqtt.url,
            "SAFETWIN_MQTT__TOPIC_PREFIX": settings.mqtt.topic_prefix,
            "SAFETWIN_MQTT__CLIENT_ID": f"sim-{settings.mqtt.topic_prefix}",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "safetwin",
        "simulate",
        "--scenario",
        str(file),
        "--twin",
        str(settings.twin.path),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        terminate(proc, timeout=10)


@contextlib.asynccontextmanager
async def garage(settings: Any, tmp: Path, text: str) -> AsyncIterator[SafeTwin]:
    async with running(settings) as app:
        with simulator(settings, text, tmp) as proc:
            yield app
            assert proc.poll() in (None, 0), (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]


def alarms(app: SafeTwin, rule: str) -> list[Alarm]:
    items, _ = app.ops.alarms.list_alarms(limit=200)
    return [a for a in items if a.rule_id == rule]


def fan_commands(app: SafeTwin) -> list[Any]:
    return [c for fan in FANS for c in app.ops.actuators.list_commands(device_id=fan)[0]]


def reported(app: SafeTwin, device: str) -> dict[str, Any]:
    return next(v.state for v in app.ops.actuators.actuators() if v.device_id == device)


async def test_co_rises_fans_on_acknowledged_co_falls_effect_verified_alarm_clears(
    settings: Any, tmp_path: Path
) -> None:
    async with garage(settings, tmp_path, scenario()) as app:
        await eventually(
            lambda: any(a.state is AlarmState.ACTIVE for a in alarms(app, "garage-co")), 40, "CO alarm"
        )
        await eventually(
            lambda: all(reported(app, f).get("on") for f in FANS), 15, "both fans report running"
        )
        await eventually(
            lambda: any(c.state is CommandState.EFFECT_VERIFIED for c in fan_commands(app)),
            40,
            "effect verified",
        )
        await eventually(
            lambda: any(a.state is AlarmState.CLEARED for a in alarms(app, "garage-co")),
            40,
            "the CO alarm cleared",
        )
        lives = [
            [t.state for t in app.ops.actuators.get_command(c.correlation_id).transitions]
            for c in fan_commands(app)
        ]
        went_out = [CommandState.SENT, CommandState.DELIVERED, CommandState.SUCCEEDED]
        assert any(all(step in life for step in went_out) for life in lives), lives
        assert not alarms(app, VENTILATION_INEFFECTIVE) and not alarms(app, ACTUATOR_FAILED)


async def test_fans_that_start_but_move_no_air_raise_ventilation_ineffective(
    settings: Any, tmp_path: Path
) -> None:
    async with garage(settings, tmp_path, scenario(fault("no_airflow"))) as app:
        await eventually(
            lambda: any(a.state is AlarmState.ACTIVE for a in alarms(app, VENTILATION_INEFFECTIVE)),
            80,
            "ventilation ineffective",
        )
        (alarm,) = alarms(app, VENTILATION_INEFFECTIVE)
        assert alarm.source_id == GARAGE and alarm.evidence["suspect"] in FANS
        assert any(c.state is CommandState.EFFECT_NOT_SEEN for c in fan_commands(app))
        assert app.ops.actuators.suspects(), "the fan is marked suspect"


async def test_fans_that_never_answer_raise_actuator_failed(settings: Any, tmp_path: Path) -> None:
    async with garage(settings, tmp_path, scenario(fault("no_answer"))) as app:
        await eventually(
            lambda: (
                {a.source_id for a in alarms(app, ACTUATOR_FAILED) if a.state is AlarmState.ACTIVE}
                == set(FANS)
            ),
            60,
            "actuator failed on both fans",
        )
        timed_out = [c for c in fan_commands(app) if c.state is CommandState.TIMED_OUT]
        assert timed_out and all(c.attempts == 2 for c in timed_out)


async def test_an_override_expires_and_the_fan_returns_to_its_previous_state(
    settings: Any, tmp_path: Path
) -> None:
    async with garage(settings, tmp_path, scenario(source=False)) as app:
        await eventually(
            lambda: reported(app, FANS[0]).get("on") is False, 20, "the simulated fan reports off"
        )
        rec = app.ops.actuators.command(
            FANS[0], "set", {"on": True, "speed": 3}, operator="李工", reason="试机", expires_in_s=3
        )
        assert rec.override_until_ts is not None
        await eventually(lambda: reported(app, FANS[0]).get("on") is True, 15, "the override ran the fan")
        await eventually(lambda: reported(app, FANS[0]).get("on") is False, 20, "back off when it expired")
        last = app.ops.actuators.list_commands(device_id=FANS[0])[0][0]
        assert last.issued_by == "system:override-ended" and last.state is CommandState.SUCCEEDED
