"""A small fan on the real MQTT contract for tests: it works, acks but does nothing, or stays silent."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Literal

import aiomqtt

from core.contract import AckStatus, ActuatorState, Command, CommandAck, Topics, now_ms
from tests.fixtures.mosquitto import MosquittoBroker

Mode = Literal["works", "lazy", "silent"]


class TestFan:
    """Answers commands like a device: 'delivered', then 'succeeded', and a retained state."""

    __test__ = False  # not a test class

    def __init__(self, broker: MosquittoBroker, topics: Topics, device_id: str, mode: Mode) -> None:
        self.broker, self.topics, self.device_id, self.mode = broker, topics, device_id, mode
        self.received: list[Command] = []
        self.on = False  # what the fan really does
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client(
            self.broker.host, self.broker.port, identifier=f"fan-{uuid.uuid4().hex[:8]}"
        ) as client:
            await client.subscribe(self.topics.command(self.device_id), qos=1)
            self.ready.set()
            seen: set[str] = set()
            async for message in client.messages:
                command = Command.model_validate_json(bytes(message.payload))
                self.received.append(command)
                if self.mode == "silent":
                    continue
                await self._ack(client, command, AckStatus.DELIVERED)
                if command.correlation_id in seen:
                    continue  # a retry of a command already carried out: answer, do not act again
                seen.add(command.correlation_id)
                await self._ack(client, command, AckStatus.SUCCEEDED)
                if self.mode == "works":
                    self.on = bool(command.params.get("on"))
                    state = ActuatorState(
                        ts=now_ms(), state={**command.params, "rpm": 1400 if self.on else 0}
                    )
                    await client.publish(
                        self.topics.state(self.device_id), state.model_dump_json(), qos=1, retain=True
                    )

    async def _ack(self, client: aiomqtt.Client, command: Command, status: AckStatus) -> None:
        ack = CommandAck(correlation_id=command.correlation_id, status=status, ts=now_ms())
        await client.publish(self.topics.ack(self.device_id), ack.model_dump_json(), qos=1)


@contextlib.asynccontextmanager
async def fan_running(
    broker: MosquittoBroker, topics: Topics, device_id: str, mode: Mode
) -> AsyncIterator[TestFan]:
    """A TestFan task for the duration of the block."""
    fan = TestFan(broker, topics, device_id, mode)
    task = asyncio.create_task(fan.run())
    await asyncio.wait_for(fan.ready.wait(), 10)
    try:
        yield fan
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
