"""Scale mode for load tests: N devices at R readings/s, single or batched payloads, bounded, with progress.

Readings are cheap on purpose (one metric per device near its usual level, a little noise), serialised
with orjson and published QoS 1 from one paho client, paced to the asked rate.  The twin's sensors
are used first, so SafeTwin knows them; devices beyond the twin get ids ``scale-000001``... (SafeTwin
lists those as unregistered).  Messages the broker has not acknowledged are bounded: when the broker
or the network cannot keep up the rate falls instead of memory growing, and the result says so.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from core.contract import Topics
from core.settings import MqttSettings
from twin.twin import Twin

log = logging.getLogger(__name__)

TYPICAL = {"co": 3.0, "h2s": 0.4, "o2": 20.9, "ch4": 1.0, "lel": 1.0, "temperature": 25.0, "humidity": 60.0}
TICK_S = 0.005  # pacing granularity
MAX_UNACKED = 20_000  # messages in flight or queued before publishing waits for the broker


@dataclass(frozen=True, slots=True)
class ScalePlan:
    """What to send: how many devices, how fast, in what shape, and when to stop."""

    devices: int
    rate: float  # readings per second, all devices together
    batch: int = 0  # readings per gateway batch; 0 = one Telemetry message per reading
    count: int | None = None  # stop after this many readings
    duration_s: float | None = None  # or after this many seconds

    def total(self) -> int:
        """Readings to send in all (the smaller of the two bounds)."""
        by_time = int(self.rate * self.duration_s) if self.duration_s is not None else None
        bounds = [b for b in (self.count, by_time) if b is not None]
        if not bounds:
            raise ValueError("scale mode needs a bound: a count or a duration")
        return min(bounds)


@dataclass(frozen=True, slots=True)
class ScaleResult:
    """What was sent and how fast the broker took it."""

    readings: int
    messages: int
    acked: int
    elapsed_s: float
    dropped: int

    @property
    def rate(self) -> float:
        """Readings per second over the run, up to the broker's last acknowledgement."""
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0


def scale_devices(twin: Twin | None, n: int) -> list[tuple[str, str]]:
    """(device id, metric) of n devices: the twin's sensors first, then synthetic CO sensors."""
    known: list[tuple[str, str]] = []
    if twin is not None:
        for d in sorted(twin.devices.values(), key=lambda d: d.device_id):
            metric = next((m for m in d.metrics if m in TYPICAL), None)
            if metric is not None:
                known.append((d.device_id, metric))
    out = known[:n]
    if len(out) < n and twin is not None:
        log.warning(
            "the twin has %d sensors; %d synthetic devices (scale-NNNNNN) are unregistered",
            len(known),
            n - len(out),
        )
    out += [(f"scale-{i:06d}", "co") for i in range(1, n - len(out) + 1)]
    return out


class ScaleRun:
    """One load run through one MQTT client."""

    def __init__(
        self, mqtt: MqttSettings, plan: ScalePlan, devices: Sequence[tuple[str, str]], *, client_id: str
    ) -> None:
        self.plan = plan
        self.topics = Topics(mqtt.topic_prefix)
        self.devices = list(devices)
        self.rng = random.Random(0)
        self.host, self.port, tls = mqtt.endpoint()
        self.published = 0
        self.acked = 0
        self.dropped = 0
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if mqtt.username:
            client.username_pw_set(mqtt.username, mqtt.password.get_secret_value() if mqtt.password else None)
        if tls:
            client.tls_set(ca_certs=str(mqtt.ca_file) if mqtt.ca_file else None)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        client.on_publish = self._on_publish
        self.client = client
        self._single = [(self.topics.telemetry(d), m.encode(), TYPICAL[m]) for d, m in self.devices]
        self._batched = [
            (orjson.dumps({"device_id": d})[:-1] + b",", m.encode(), TYPICAL[m]) for d, m in self.devices
        ]

    def _on_publish(
        self, client: paho.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        self.acked += 1

    def _messages(self, start: int, n: int) -> list[tuple[str, bytes]]:
        """Readings start..start+n as messages; JSON is put together from per-device pieces (it is hot)."""
        ts = time.time_ns() // 1_000_000
        ndev, rnd = len(self.devices), self.rng.random
        if not self.plan.batch:
            out = []
            for i in range(start, start + n):
                topic, metric, typical = self._single[i % ndev]
                value = typical * (0.975 + 0.05 * rnd())
                out.append(
                    (topic, b'{"ts":%d,"seq":%d,"metrics":{"%s":%.2f}}' % (ts, i // ndev, metric, value))
                )
            return out
        size, topic = self.plan.batch, self.topics.gateway_batch("scale-gw")
        msgs = []
        for k in range(start, start + n, size):
            items = []
            for i in range(k, min(k + size, start + n)):
                head, metric, typical = self._batched[i % ndev]
                value = typical * (0.975 + 0.05 * rnd())
                items.append(
                    head + b'"ts":%d,"seq":%d,"metrics":{"%s":%.2f}}' % (ts, i // ndev, metric, value)
                )
            msgs.append((topic, b'{"readings":[' + b",".join(items) + b"]}"))
        return msgs

    def _send(self, messages: list[tuple[str, bytes]]) -> None:
        for k, (topic, body) in enumerate(messages):
            while (
                self.published - self.acked >= MAX_UNACKED
            ):  # wait for the broker, do not queue without bound
                self._pump(0.01)
            info = self.client.publish(topic, body, qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                self.dropped += 1
                continue
            self.published += 1
            if k % 64 == 63:
                self._pump(0.0)

    def _pump(self, timeout: float) -> None:
        """Read PUBACKs and write what waits; one thread does it all, which is far faster than paho's own."""
        rc = self.client.loop(timeout=timeout)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"lost the broker at {self.host}:{self.port}: {paho.error_string(rc)}")

    def run(self, *, progress: bool = True) -> ScaleResult:
        """Send the plan's readings at its rate; returns what the broker acknowledged."""
        total = self.plan.total()
        self.client.connect(self.host, self.port, keepalive=30)
        while not self.client.is_connected():
            self._pump(0.1)
        bar = tqdm(total=total, unit="readings", unit_scale=True, disable=not progress, smoothing=0.1)
        sent, chunk = 0, max(1, self.plan.batch)
        t0 = time.perf_counter()
        try:
            while sent < total:
                due = min(total, int(self.plan.rate * (time.perf_counter() - t0)) + chunk)
                n = min(due - sent, total - sent, 5000 * chunk)
                if sent + n < total:
                    n -= n % chunk  # whole batches only, but for the last
                if n > 0:
                    self._send(self._messages(sent, n))
                    sent += n
                    bar.update(n)
                else:
                    self._pump(TICK_S)
            deadline = time.monotonic() + 30
            while self.acked < self.published and time.monotonic() < deadline:
                self._pump(0.01)
            elapsed = time.perf_counter() - t0
        finally:
            bar.close()
            self.client.disconnect()
        return ScaleResult(sent, self.published, self.acked, elapsed, self.dropped)


def scale_main(
    mqtt: MqttSettings, plan: ScalePlan, twin: Twin | None, *, client_id: str, progress: bool = True
) -> int:
    """Run scale mode from the command line; prints a summary; exit code 0."""
    run = ScaleRun(mqtt, plan, scale_devices(twin, plan.devices), client_id=client_id)
    result = run.run(progress=progress)
    shape = f"batches of {plan.batch}" if plan.batch else "one message per reading"
    print(
        f"scale: {result.readings} readings from {plan.devices} devices "
        f"in {result.messages} messages ({shape}), "
        f"{result.elapsed_s:.1f} s, {result.rate:,.0f} readings/s (asked {plan.rate:,.0f}), "
        f"{result.acked} acknowledged, {result.dropped} dropped",
        flush=True,
    )
    return 0
