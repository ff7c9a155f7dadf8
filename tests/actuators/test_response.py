"""Graded responses on the wire: a broadcast reaches the speakers as commands through a real broker."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from actuators.publisher import CommandPublisher
from actuators.response import ActuatorResponse
from core.alarms import Alarm, AlarmState, Grade, Severity, SourceKind
from core.contract import Command, Topics, now_ms
from core.settings import load_settings
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import eventually, unique_prefix
from twin.loader import parse_twin
from twin.twin import Twin

TWIN = """
version: 1
name: t
parties:
  - {id: pm, name: 物业, kind: property_company, contacts: [{name: 值班, phone: '0755'}]}
  - {id: sq, name: 社区, kind: community, contacts: [{name: 社区值班, phone: '0756'}]}
sites:
  - id: cs
    name: 工地
    kind: construction_site
    location: {lat: 22.7, lon: 114.0}
    parties: {owner: pm, community: sq}
    spaces:
      - id: zone-1
        name: 基坑
        kind: construction_site
        devices:
          - {id: cam-1, kind: camera}
          - {id: spk-1, kind: speaker}
      - id: zone-2
        name: 堆场
        kind: construction_site
        devices:
          - {id: spk-2, kind: speaker}
      - id: home
        name: 老人家
        kind: residence
        devices:
          - {id: sos-1, kind: panic_button, contacts: [{name: 王女士, role: 女儿, phone: '138'}]}
"""


def alarm(space: str, source: str, rule: str = "no-helmet") -> Alarm:
    now = now_ms()
    return Alarm(
        id="a1",
        rule_id=rule,
        rule_version=1,
        rule_name=rule,
        category="camera",
        source_kind=SourceKind.DEVICE,
        source_id=source,
        site="cs",
        space=space,
        state=AlarmState.ACTIVE,
        severity=Severity.WARNING,
        peak_severity=Severity.WARNING,
        grade=Grade.GENERAL,
        message="m",
        created_ts=now,
        updated_ts=now,
        party_id="pm",
    )


@pytest.mark.mosquitto
async def test_broadcast_reaches_the_speaker_of_the_space(mosquitto: MosquittoBroker) -> None:
    twin = Twin(parse_twin(TWIN))
    topics = Topics(unique_prefix())
    settings = load_settings(mqtt={"url": mosquitto.url, "client_id": unique_prefix()})
    publisher = CommandPublisher(settings.mqtt, topics)
    response = ActuatorResponse(twin, publisher)
    task = asyncio.create_task(publisher.run())
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as spk:
            await spk.subscribe(f"{topics.root}/command/+", qos=1)
            await eventually(lambda: publisher.status.connected, what="publisher connected")
            response.broadcast(alarm("zone-1", "cam-1"), "请佩戴安全帽")
            async with asyncio.timeout(10):
                msg = await anext(spk.messages)
        assert msg.topic.value == topics.command("spk-1"), "only the speaker in the alarm's space"
        cmd = Command.model_validate_json(msg.payload)
        assert (cmd.action, cmd.params["text"], cmd.issued_by) == ("play", "请佩戴安全帽", "rule:no-helmet")
        assert cmd.expires_ts is not None and cmd.expires_ts > cmd.issued_ts
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_expired_commands_are_never_sent() -> None:
    twin = Twin(parse_twin(TWIN))
    publisher = CommandPublisher(load_settings().mqtt, Topics("x"))
    ActuatorResponse(twin, publisher, ttl_s=0.001).broadcast(alarm("zone-2", "cam-1"), "x")
    assert publisher.status.queued == 1

    class _Refuses:  # a connected MQTT client that must not be asked to publish anything
        def publish(self, *_a: object, **_k: object) -> None:
            raise AssertionError("an expired command reached the wire")

    async def drain() -> None:
        await asyncio.sleep(0.01)
        publisher._paho = _Refuses()  # type: ignore[assignment]
        task = asyncio.create_task(publisher._drain_forever())
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(drain())
    assert publisher.status.expired == 1 and publisher.status.sent == 0


def test_notification_goes_to_party_family_and_community() -> None:
    twin = Twin(parse_twin(TWIN))
    response = ActuatorResponse(twin, CommandPublisher(load_settings().mqtt, Topics("x")))
    response.notify(alarm("home", "sos-1", "panic"), ["sms", "push"], "一键呼叫")
    (note,) = response.recent()
    assert [c.name for c in note.recipients] == ["值班", "王女士", "社区值班"]
    assert note.channels == ["sms", "push"] and not note.delivered
