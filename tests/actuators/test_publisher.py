"""The command publisher: commands leave at once, and what the broker did not acknowledge is sent again."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiomqtt
import paho.mqtt.client as paho

from actuators.publisher import CommandPublisher
from core.contract import Command, Topics, now_ms
from core.settings import load_settings
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import eventually, unique_prefix


def command(cid: str) -> Command:
    return Command(
        correlation_id=f"corr-{cid:0>8}",
        action="set",
        params={"on": True},
        issued_ts=now_ms(),
        issued_by="test",
    )


@dataclass
class _Info:
    mid: int
    rc: int = paho.MQTT_ERR_SUCCESS


@dataclass
class _Wire:
    """A connected paho client as the publisher sees it: publish, then write to the socket."""

    sent: list[str] = field(default_factory=list)
    writes: int = 0

    def publish(self, topic: str, payload: bytes, qos: int) -> _Info:
        assert qos == 1
        self.sent.append(topic)
        return _Info(mid=len(self.sent))

    def loop_write(self) -> None:
        self.writes += 1


def test_a_command_sent_on_the_loop_is_written_at_once_and_requeued_if_never_acknowledged() -> None:
    topics = Topics("x")
    publisher = CommandPublisher(load_settings().mqtt, topics)

    async def scenario() -> None:
        wire = _Wire()
        publisher._loop = asyncio.get_running_loop()
        publisher._paho = wire  # type: ignore[assignment]
        publisher.send("fan-1", command("c1"))
        publisher.send("fan-2", command("c2"))
        # written inside send(), before any other task ran: nothing waited in the outbox
        assert wire.sent == [topics.command("fan-1"), topics.command("fan-2")] and wire.writes == 2
        assert publisher.status.queued == 0 and publisher.status.sent == 2
        publisher._acknowledged(1)  # the broker's PUBACK for c1 only
        publisher._detach()  # the connection drops
        publisher.send("fan-3", command("c3"))  # no connection: it waits, behind c2

    asyncio.run(scenario())
    assert [(d, c.correlation_id[-2:]) for d, c in publisher._outbox] == [("fan-2", "c2"), ("fan-3", "c3")]


async def test_commands_and_announcements_reach_a_real_broker_without_waiting_for_each_puback(
    mosquitto: MosquittoBroker,
) -> None:
    topics = Topics(unique_prefix())
    settings = load_settings().mqtt.model_copy(update={"url": f"mqtt://127.0.0.1:{mosquitto.port}"})
    publisher = CommandPublisher(settings, topics, on_answer=lambda _t, _p: None)
    task = asyncio.create_task(publisher.run())
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="pub-watch") as watch:
            await watch.subscribe(f"{topics.root}/#", qos=1)
            await eventually(lambda: publisher.status.connected and publisher._paho is not None, what="link")
            for i in range(200):
                publisher.send(f"fan-{i}", command(f"c{i}"))
                publisher.announce(f"{topics.root}/alarm/a{i}", b"{}")
            got: list[str] = []
            async with asyncio.timeout(10):
                async for msg in watch.messages:
                    got.append(msg.topic.value)
                    if len(got) == 400:
                        break
        commands = [t for t in got if "/command/" in t]
        assert commands == [topics.command(f"fan-{i}") for i in range(200)], "commands in order, none lost"
        assert len([t for t in got if "/alarm/" in t]) == 200
        await eventually(lambda: not publisher._unacked, what="every PUBACK settled")
        # with nothing left to write, the event loop sleeps: no writer left watching the socket
        cpu = time.process_time()
        await asyncio.sleep(1.0)
        assert time.process_time() - cpu < 0.3, "the event loop spins after the writes"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
