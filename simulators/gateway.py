"""The simulated fleet's MQTT side, one client per field gateway: QoS 1, persistent session, retained births.

One paho-mqtt client (threaded, ``loop_start``) carries the devices behind one gateway, as the gateway
would, with a retained 'offline' last-will for the gateway that covers them all.  Devices that connect
directly share one client that announces no availability of its own (``announce=False``).  While the
broker is away paho keeps every QoS 1 message in its outgoing queue (``publish`` answers
``MQTT_ERR_NO_CONN`` but the message stays queued) and sends the queue again after it reconnects; the
queue is bounded by ``max_queued`` and a message refused for a full queue is counted and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import TypeAdapter

from core.contract import (
    Availability,
    AvailabilityState,
    Detection,
    DeviceId,
    GatewayBatch,
    GatewayReading,
    Telemetry,
    Topics,
    now_ms,
)
from core.mqtt import no_delay
from core.settings import MqttSettings
from simulators.sensors import Reading

log = logging.getLogger(__name__)

_device_id = TypeAdapter(DeviceId)
_QUEUED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


class DevicePublisher:
    """One simulated gateway's MQTT connection: one client, QoS 1, a fixed id and a persistent session.

    With ``announce`` (the default) the gateway has a retained 'offline' last-will and publishes a retained
    'online' birth on every connect and an 'offline' at stop; without it, only its devices' are published.
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        *,
        gateway_id: str = "safetwin-sim",
        client_id: str | None = None,
        topics: Topics | None = None,
        max_queued: int = 50_000,
        max_inflight: int = 200,
        batch_max_readings: int = 500,
        announce: bool = True,
    ) -> None:
        self.gateway_id = _device_id.validate_python(gateway_id)
        self.announce = announce
        self.topics = topics or Topics(mqtt.topic_prefix)
        self.batch_max_readings = batch_max_readings
        self.host, self.port, tls = mqtt.endpoint()
        self.keepalive = mqtt.keepalive_s
        self.published = 0  # accepted into paho's queue
        self.acked = 0  # PUBACK received
        self.dropped = 0  # refused: queue full or client error
        self._seq: dict[str, int] = {}
        self._devices: list[str] = []
        self._pending: set[int] = set()
        self._early: set[int] = set()  # PUBACKs that came before publish() returned the mid
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._stopping = False
        self._started = False
        self._connect_failures = 0

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{self.gateway_id}-gateway",
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        if mqtt.username:
            password = mqtt.password.get_secret_value() if mqtt.password else None
            client.username_pw_set(mqtt.username, password)
        if tls:
            client.tls_set(ca_certs=str(mqtt.ca_file) if mqtt.ca_file else None)
        # paho annotates the delays as int but waits fractional seconds just as well
        client.reconnect_delay_set(cast(int, mqtt.reconnect_min_s), cast(int, mqtt.reconnect_max_s))
        client.max_queued_messages_set(max_queued)
        client.max_inflight_messages_set(max_inflight)
        client.on_socket_open = lambda _c, _u, sock: no_delay(sock)  # acks and readings go at once
        if announce:
            client.will_set(
                self.topics.availability(self.gateway_id),
                _availability(AvailabilityState.OFFLINE, "last-will", ts=False),
                qos=1,
                retain=True,
            )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        self.client = client

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, device_ids: Iterable[str] = ()) -> None:
        """Connect in the background and queue a retained 'online' birth for every device given."""
        if self._started:
            raise RuntimeError("DevicePublisher.start() was called twice")
        self._started = True
        self._devices = [_device_id.validate_python(d) for d in device_ids]
        log.info(
            "simulated gateway %s connecting to %s:%d (%d device births)",
            self.gateway_id,
            self.host,
            self.port,
            len(self._devices),
        )
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        for device_id in self._devices:
            self.publish_availability(device_id, AvailabilityState.ONLINE, "birth")

    def stop(self, timeout: float = 5.0) -> bool:
        """Mark the devices and the gateway offline, flush, disconnect; False if messages were left unsent."""
        if not self._started:
            return True
        for device_id in self._devices:
            self.publish_availability(device_id, AvailabilityState.OFFLINE, "shutdown")
        if self.announce:
            self.publish_availability(self.gateway_id, AvailabilityState.OFFLINE, "shutdown")
        # paho's queue lives in this process: what the broker has not acknowledged is lost on exit
        flushed = self.wait_all_published(timeout if self.connected else min(timeout, 1.0))
        if not flushed:
            log.warning(
                "simulated gateway %s stops with %d messages not acknowledged by the broker",
                self.gateway_id,
                self.pending,
            )
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False
        return flushed

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection (and not lost it since)."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or `timeout` seconds passed."""
        return self._connected.wait(timeout)

    @property
    def pending(self) -> int:
        """Messages queued or in flight that the broker has not acknowledged yet."""
        with self._cond:
            return len(self._pending)

    def wait_all_published(self, timeout: float) -> bool:
        """Block until the broker acknowledged every message published so far; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    # --- publishing ----------------------------------------------------------------------------

    def publish_reading(
        self, device_id: str, metrics: Mapping[str, float], ts: int | None = None
    ) -> int | None:
        """Publish one Telemetry message for a device; returns the MQTT message id, None if dropped."""
        device_id = _device_id.validate_python(device_id)
        msg = Telemetry(
            ts=now_ms() if ts is None else ts, seq=self._next_seq(device_id), metrics=dict(metrics)
        )
        return self._publish(
            self.topics.telemetry(device_id), msg.model_dump_json(exclude_none=True).encode()
        )

    def publish_batch(self, gateway_id: str, readings: Iterable[Reading | GatewayReading]) -> list[int]:
        """Publish readings as GatewayBatch messages (split at batch_max_readings); returns message ids."""
        topic = self.topics.gateway_batch(_device_id.validate_python(gateway_id))
        items = [self._gateway_reading(r) for r in readings]
        mids: list[int] = []
        for start in range(0, len(items), self.batch_max_readings):
            batch = GatewayBatch(readings=items[start : start + self.batch_max_readings])
            mid = self._publish(topic, batch.model_dump_json(exclude_none=True).encode())
            if mid is not None:
                mids.append(mid)
        return mids

    def publish_readings(self, readings: Sequence[Reading]) -> None:
        """Publish each reading as its own Telemetry message."""
        for r in readings:
            self.publish_reading(r.device_id, r.metrics, r.ts)

    def publish_detection(self, camera_id: str, detection: Detection) -> int | None:
        """Publish a camera's Detection event (new, update or end)."""
        topic = self.topics.detection(_device_id.validate_python(camera_id))
        return self._publish(topic, detection.model_dump_json(exclude_none=True).encode())

    def publish_availability(self, device_id: str, state: AvailabilityState, reason: str) -> int | None:
        """Publish a retained Availability message for a device (or the gateway itself)."""
        topic = self.topics.availability(_device_id.validate_python(device_id))
        return self._publish(topic, _availability(state, reason), retain=True)

    def _gateway_reading(self, r: Reading | GatewayReading) -> GatewayReading:
        if isinstance(r, GatewayReading):
            return r
        return GatewayReading(
            device_id=r.device_id, ts=r.ts, seq=self._next_seq(r.device_id), metrics=r.metrics
        )

    def _next_seq(self, device_id: str) -> int:
        seq = self._seq.get(device_id, -1) + 1
        self._seq[device_id] = seq
        return seq

    def _publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in _QUEUED:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "message to %s dropped (%s); %d dropped so far, %d waiting for the broker",
                    topic,
                    paho.error_string(info.rc),
                    self.dropped,
                    self.pending,
                )
            return None
        with self._cond:
            self.published += 1
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._pending.add(info.mid)
        return info.mid

    # --- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connect_failures = 0
        if reason.is_failure:
            log.warning(
                "broker %s:%d refused simulated gateway %s: %s", self.host, self.port, self.gateway_id, reason
            )
            return
        log.info(
            "simulated gateway %s connected to %s:%d (session present: %s, %d messages queued)",
            self.gateway_id,
            self.host,
            self.port,
            flags.session_present,
            self.pending,
        )
        if self.announce:  # every connect: a broker that fired our last-will must learn we are back
            self.publish_availability(self.gateway_id, AvailabilityState.ONLINE, "birth")
        self._connected.set()  # after the birth is queued, so wait_connected + wait_all_published cover it

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        self._connect_failures += 1
        if self._connect_failures in (1, 10) or self._connect_failures % 100 == 0:
            log.warning(
                "simulated gateway %s cannot reach the broker at %s:%d (%d attempts); retrying, "
                "%d messages kept meanwhile",
                self.gateway_id,
                self.host,
                self.port,
                self._connect_failures,
                self.pending,
            )

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if self._stopping:
            log.info("simulated gateway %s disconnected", self.gateway_id)
        else:
            log.warning(
                "simulated gateway %s lost the broker (%s); %d messages kept for resending",
                self.gateway_id,
                reason,
                self.pending,
            )

    def _on_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self.acked += 1
            if mid in self._pending:
                self._pending.discard(mid)
                if not self._pending:
                    self._cond.notify_all()
            else:
                self._early.add(mid)


def _availability(state: AvailabilityState, reason: str, *, ts: bool = True) -> bytes:
    msg = Availability(state=state, reason=reason, ts=now_ms() if ts else None)
    return msg.model_dump_json(exclude_none=True).encode()
