"""The simulated actuators' MQTT side: one client that takes commands and sends acks and retained state.

Commands arrive on paho's network thread and are answered there at once (the device logic is small and
does no I/O); a slow actuator's final ack waits on a timer.  The client subscribes to every command topic
under the prefix (``command/+``) and ignores commands for devices it does not simulate.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel

from core.contract import ActuatorState, Topics, now_ms
from core.mqtt import no_delay
from core.settings import MqttSettings
from simulators.actuators import ActuatorSim, Answer

log = logging.getLogger(__name__)


class CommandLink:
    """One MQTT client for all simulated actuators: commands in, acks and state out (QoS 1)."""

    def __init__(
        self,
        mqtt: MqttSettings,
        actuators: dict[str, ActuatorSim],
        sim_now: Callable[[], int],
        *,
        client_id: str,
        topics: Topics | None = None,
    ) -> None:
        self.actuators = actuators
        self.sim_now = sim_now
        self.topics = topics or Topics(mqtt.topic_prefix)
        self.host, self.port, tls = mqtt.endpoint()
        self.keepalive = mqtt.keepalive_s
        self.commands = 0  # commands received for simulated devices
        self.lock = threading.Lock()  # one command at a time: devices and physics change together
        self._subscribed = threading.Event()
        self._timers: list[threading.Timer] = []
        # a clean session: a restarted simulator must not act on commands queued for its previous run
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{client_id}-{uuid.uuid4().hex[:6]}",
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        if mqtt.username:
            client.username_pw_set(mqtt.username, mqtt.password.get_secret_value() if mqtt.password else None)
        if tls:
            client.tls_set(ca_certs=str(mqtt.ca_file) if mqtt.ca_file else None)
        client.reconnect_delay_set(cast(int, mqtt.reconnect_min_s), cast(int, mqtt.reconnect_max_s))
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_socket_open = lambda _c, _u, sock: no_delay(sock)  # acks and readings go at once
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_message
        self.client = client

    def start(self, timeout: float = 10.0) -> bool:
        """Connect, subscribe and publish every actuator's retained state; False if not subscribed in time."""
        if not self.actuators:
            return True
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        ok = self._subscribed.wait(timeout)
        if not ok:
            log.warning("simulated actuators could not subscribe to commands at %s:%d", self.host, self.port)
        sent = [
            self._send(
                self.topics.state(d.device_id), ActuatorState(ts=now_ms(), state=dict(d.state)), retain=True
            )
            for d in self.actuators.values()
        ]
        if ok:  # once start() returns, a newcomer finds every state retained on the broker
            deadline = time.monotonic() + timeout
            for info in sent:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        return ok

    def stop(self) -> None:
        """Cancel pending answers and disconnect."""
        for t in self._timers:
            t.cancel()
        if self.actuators:
            self.client.disconnect()
            self.client.loop_stop()

    def publish_state(self, device_id: str, state: ActuatorState) -> None:
        """Publish a device's state, retained."""
        self._send(self.topics.state(device_id), state, retain=True)

    def tick(self) -> None:
        """Publish state changes that come from time alone (speakers that finished)."""
        sim, wall = self.sim_now(), now_ms()
        with self.lock:
            changes = [(d.device_id, s) for d in self.actuators.values() if (s := d.tick(sim, wall))]
        for device_id, state in changes:
            self.publish_state(device_id, state)

    def _send(self, topic: str, msg: BaseModel, *, retain: bool = False) -> paho.MQTTMessageInfo:
        return self.client.publish(
            topic, msg.model_dump_json(exclude_none=True).encode(), qos=1, retain=retain
        )

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        client.subscribe(f"{self.topics.root}/command/+", qos=1)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        parsed = self.topics.parse(msg.topic)
        dev = self.actuators.get(parsed[1]) if parsed and parsed[0] == "command" else None
        if dev is None:
            return
        with self.lock:
            self.commands += 1
            answer = dev.handle(bytes(msg.payload), now_ms(), self.sim_now())
        if answer is not None:
            self._answer(dev, answer)

    def _answer(self, dev: ActuatorSim, answer: Answer) -> None:
        device_id = dev.device_id
        first, rest = answer.acks[:1], answer.acks[1:]
        for ack in first:
            self._send(self.topics.ack(device_id), ack)

        def finish() -> None:
            state = answer.state
            if answer.pending is not None:
                with self.lock:
                    dev.apply(answer.pending, self.sim_now())
                    state = ActuatorState(ts=now_ms(), state=dict(dev.state))
            if state is not None:
                self.publish_state(device_id, state)
            for ack in rest:
                self._send(self.topics.ack(device_id), ack.model_copy(update={"ts": max(ack.ts, now_ms())}))

        if answer.delay_s > 0:
            timer = threading.Timer(answer.delay_s, finish)
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        else:
            finish()
