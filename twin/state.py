"""Live state of every device: last value per metric, last seen, online/offline, health."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.records import ReadingBatch
from core.steps import STEP_ENTRIES, Encoded, encode_entries_in_steps
from twin.twin import Twin


class Health(StrEnum):
    UNKNOWN = "unknown"  # never heard from
    OK = "ok"
    FAULT = "fault"  # reported a value outside the sensor's valid range
    CLOCK_OFF = "clock_off"  # device clock far from ours
    OFFLINE = "offline"


class MetricValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: float = Field(description="Last value")
    unit: str = Field(description="Unit of the value")
    ts: int = Field(description="Measurement time of the last value, epoch ms")


class DeviceLive(BaseModel):
    """What the API shows of a device's live state."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    online: bool = Field(description="Heard from within the offline timeout and no last-will since")
    health: Health
    last_seen_ts: int | None = Field(description="When SafeTwin last received anything from it, epoch ms")
    clock_skew_ms: int | None = Field(description="Device clock minus ours at the last reading, ms")
    fault: str | None = Field(description="Why health is 'fault', if it is")
    values: dict[str, MetricValue] = Field(description="Last value per metric")
    actuator_state: dict[str, Any] | None = Field(description="Last state an actuator reported")


_NEVER = float("-inf")  # measurement time of a metric not heard from yet: any reading is newer


class DeviceState:
    """Mutable per-device state, kept small (slots) because a community has 400,000 devices.

    The last value of each metric and its measurement time lie side by side in one list, made when
    the device is first heard from: about 100 bytes for a three-metric sensor, where a dictionary of
    (value, time) tuples took about 300 and a tuple more per metric heard.
    """

    __slots__ = (
        "_held",
        "_where",
        "actuator_state",
        "birth",
        "clock_skew_ms",
        "fault",
        "last_seen",
        "online",
        "will_offline",
    )

    def __init__(self, where: Mapping[str, int] | None = None) -> None:
        # metric -> index of its value in `_held`, its time next to it; one mapping for a whole kind
        self._where: Mapping[str, int] = where if where is not None else {}
        self._held: list[float] | None = None
        self.last_seen: int | None = None
        self.online = False
        self.will_offline = False
        self.birth = False  # announced itself online: its last-will, not silence, says when it is gone
        self.clock_skew_ms: int | None = None
        self.fault: str | None = None
        self.actuator_state: dict[str, Any] | None = None

    @property
    def values(self) -> dict[str, tuple[float, int]]:
        """Last value and its measurement time (epoch ms) of every metric heard from."""
        held = self._held
        if held is None:
            return {}
        return {m: (held[i], int(held[i + 1])) for m, i in self._where.items() if held[i + 1] != _NEVER}

    def record(self, metric: str, value: float, ts: int) -> None:
        """Keep a value unless the one held was measured later; metrics the device does not report are
        left out (ingest turns them away before they get here)."""
        i = self._where.get(metric)
        if i is None:
            return
        held = self._held
        if held is None:
            held = self._held = [_NEVER] * (2 * len(self._where))
        if ts >= held[i + 1]:
            held[i] = value
            held[i + 1] = ts

    def forget_values(self) -> None:
        """Drop every held value, as before the device was first heard from."""
        self._held = None


class LiveState:
    """Live state of every device in the twin; updated by ingest, read by the API."""

    def __init__(self, twin: Twin, *, offline_after_ms: int, clock_skew_warn_ms: int) -> None:
        self.twin = twin
        self.offline_after_ms = offline_after_ms
        self.clock_skew_warn_ms = clock_skew_warn_ms
        layouts: dict[tuple[str, ...], dict[str, int]] = {}
        self.devices: dict[str, DeviceState] = {}
        for dev_id, place in twin.devices.items():
            names = tuple(place.metrics)
            where = layouts.get(names)
            if where is None:
                where = layouts[names] = {m: 2 * k for k, m in enumerate(names)}
            self.devices[dev_id] = DeviceState(where)
        # devices that never send telemetry (cameras, valves, speakers): silence is normal for them
        self._quiet_kinds = {d for d, place in twin.devices.items() if not place.metrics}
        self.gateways_online: dict[str, bool] = {}
        self._order = list(self.devices)  # sweep order, for sweeping a slice at a time
        self._cursor = 0

    def apply(self, batch: ReadingBatch) -> None:
        """Take a batch of accepted readings; a value older than the one we hold does not replace it."""
        devices = self.devices
        for dev_id, metric, value, ts, recv in zip(
            batch.device_id, batch.metric, batch.value, batch.ts, batch.received_ts, strict=True
        ):
            st = devices[dev_id]
            st.record(metric, value, ts)
            st.clock_skew_ms = ts - recv
            if st.last_seen is None or recv > st.last_seen:
                st.last_seen = recv
            st.online = True
            st.will_offline = False

    def touch(self, device_id: str, received_ms: int) -> None:
        st = self.devices[device_id]
        st.last_seen = max(st.last_seen or 0, received_ms)
        st.online = True
        st.will_offline = False

    def set_fault(self, device_id: str, reason: str | None) -> None:
        self.devices[device_id].fault = reason

    def set_availability(self, device_id: str, online: bool, received_ms: int) -> None:
        st = self.devices[device_id]
        st.online = online
        st.will_offline = not online
        st.birth = online
        if online:
            st.last_seen = max(st.last_seen or 0, received_ms)

    def set_gateway_availability(self, gateway_id: str, online: bool, received_ms: int) -> list[str]:
        """A gateway's birth or last-will; offline takes every device behind it offline with it.

        Returns the devices that went offline.  A gateway coming back brings nobody online: each device
        is online again when it is next heard from.
        """
        self.gateways_online[gateway_id] = online
        if online:
            return []
        went = []
        for dev_id in self.twin.behind_gateway.get(gateway_id, []):
            st = self.devices[dev_id]
            if st.online:
                went.append(dev_id)
            st.online = False
            st.will_offline = True
        return went

    def set_actuator_state(self, device_id: str, state: dict[str, Any], received_ms: int) -> None:
        self.devices[device_id].actuator_state = state
        self.touch(device_id, received_ms)

    def sweep(self, now_ms: int, share: float = 1.0) -> list[str]:
        """Mark devices silent for longer than the timeout offline; return those that just went offline.

        `share` < 1 checks only that share of the devices, the next ones on the next call, so a
        400,000-device twin is swept a slice a second instead of all at once on the event loop.
        """
        went: list[str] = []
        limit = now_ms - self.offline_after_ms
        if share >= 1.0:
            ids: list[str] | dict[str, DeviceState] = self.devices
        else:
            ids = self._next_slice(max(1, int(len(self._order) * share)))
        devices = self.devices
        for dev_id in ids:
            st = devices[dev_id]
            if st.birth and dev_id in self._quiet_kinds:
                continue  # online until its last-will says otherwise
            if st.online and st.last_seen is not None and st.last_seen < limit:
                st.online = False
                went.append(dev_id)
        return went

    def _next_slice(self, size: int) -> list[str]:
        start = self._cursor % len(self._order) if self._order else 0
        part = self._order[start : start + size]
        self._cursor = start + len(part)
        return part

    def health(self, st: DeviceState) -> Health:
        if st.last_seen is None and not st.will_offline:
            return Health.UNKNOWN
        if not st.online:
            return Health.OFFLINE
        if st.fault:
            return Health.FAULT
        if st.clock_skew_ms is not None and abs(st.clock_skew_ms) > self.clock_skew_warn_ms:
            return Health.CLOCK_OFF
        return Health.OK

    def view(self, device_id: str) -> DeviceLive:
        st = self.devices[device_id]
        specs = self.twin.devices[device_id].metrics
        # model_construct: every value comes from validated readings; views are built per reading
        # for the live-change stream, where validating them again costs more than ingest itself
        return DeviceLive.model_construct(
            device_id=device_id,
            online=st.online,
            health=self.health(st),
            last_seen_ts=st.last_seen,
            clock_skew_ms=st.clock_skew_ms,
            fault=st.fault,
            values={
                m: MetricValue.model_construct(value=v, unit=specs[m].unit if m in specs else "", ts=ts)
                for m, (v, ts) in st.values.items()
            },
            actuator_state=st.actuator_state,
        )

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy, saved periodically so a restart keeps the last known values."""
        return {dev_id: entry for dev_id in self._order if (entry := self._entry(dev_id)) is not None}

    def snapshot_json_in_steps(self, chunk: int = STEP_ENTRIES) -> Generator[None, None, Encoded]:
        """The JSON of `snapshot`, `chunk` devices at a time, yielding in between (for the event loop).

        Each chunk is encoded as soon as it is taken: only bytes outlive a step, not the dicts of
        every device, which the garbage collector would walk at each pass until the save was done.
        The pieces are left for the writer's thread to assemble (`Encoded.assemble`)."""
        return (yield from encode_entries_in_steps(self._order, self._entry, chunk))

    def _entry(self, dev_id: str) -> dict[str, Any] | None:
        st = self.devices[dev_id]
        values = st.values
        if st.last_seen is None and not values:
            return None
        return {
            "values": values,  # a fresh dict of (value, ts) pairs
            "last_seen": st.last_seen,
            "online": st.online,
            "fault": st.fault,
            "clock_skew_ms": st.clock_skew_ms,
            "actuator_state": st.actuator_state,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Load a snapshot; devices no longer in the twin are skipped."""
        for dev_id, data in snap.items():
            st = self.devices.get(dev_id)
            if st is None:
                continue
            st.forget_values()
            for m, (v, ts) in data.get("values", {}).items():
                st.record(m, float(v), int(ts))
            st.last_seen = data.get("last_seen")
            st.online = bool(data.get("online"))
            st.fault = data.get("fault")
            st.clock_skew_ms = data.get("clock_skew_ms")
            st.actuator_state = data.get("actuator_state")
