"""The MQTT contract, version 1: every topic and payload SafeTwin speaks.

Ingest, actuators, simulators and tests all import this module, so a change here is a change
everywhere and a drift breaks the tests.  `docs/mqtt.md` documents it for device makers.
"""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

CONTRACT_VERSION = 1
DEFAULT_PREFIX = "safetwin"


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _to_epoch_ms(value: Any) -> Any:
    """Accept epoch milliseconds (int) or an ISO 8601 string with a zone; return epoch ms."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as err:
            raise ValueError("expected epoch milliseconds or an ISO 8601 time with a zone") from err
        if parsed.tzinfo is None:
            raise ValueError("ISO 8601 time needs a zone, e.g. 2026-11-21T10:00:00Z")
        return int(parsed.timestamp() * 1000)
    return value


EpochMs = Annotated[
    int,
    BeforeValidator(_to_epoch_ms),
    Field(ge=0, description="Time as epoch milliseconds (UTC); ISO 8601 with a zone is accepted on input"),
]
DeviceId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[^/#+\s]+$",
        description="Device identifier as registered in the twin; no '/', '+', '#' or whitespace",
    ),
]
MetricName = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="Metric name, e.g. 'co'"),
]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- telemetry -------------------------------------------------------------------------------


class Telemetry(_Message):
    """One reading of one device: one or more metrics measured at the same instant.

    Topic: ``{prefix}/v1/telemetry/{device_id}``.
    """

    v: Literal[1] = Field(1, description="Contract version")
    ts: EpochMs | None = Field(
        None, description="Measurement time by the device clock; receive time if absent"
    )
    seq: int | None = Field(None, ge=0, description="Optional per-device sequence number, for gap detection")
    metrics: dict[MetricName, float] = Field(
        min_length=1, max_length=64, description="Metric name to value, in the unit the device kind declares"
    )


class GatewayReading(_Message):
    """One device's reading inside a gateway batch."""

    device_id: DeviceId
    ts: EpochMs | None = Field(None, description="Measurement time by the device or gateway clock")
    seq: int | None = Field(None, ge=0, description="Optional per-device sequence number")
    metrics: dict[MetricName, float] = Field(min_length=1, max_length=64, description="Metric name to value")


class GatewayBatch(_Message):
    """Many readings of many devices in one message, as field gateways send them.

    Topic: ``{prefix}/v1/gateway/{gateway_id}/batch``.
    """

    v: Literal[1] = Field(1, description="Contract version")
    readings: list[GatewayReading] = Field(min_length=1, max_length=10_000, description="The readings")


# --- camera detections (modelled on Frigate's events) ----------------------------------------


class DetectionEventType(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


class DetectionLabel(StrEnum):
    PERSON = "person"
    NO_HELMET = "no_helmet"
    FALL = "fall"
    SMOKE = "smoke"
    FIRE = "fire"
    CLIMBING = "climbing"
    INTRUSION = "intrusion"
    LOITERING = "loitering"
    UNREGISTERED_PERSON = "unregistered_person"
    THROWN_OBJECT = "thrown_object"
    GARBAGE_EXPOSED = "garbage_exposed"
    VEHICLE = "vehicle"


class Detection(_Message):
    """A camera detection event; one incident is one event id with new / update / end messages.

    Topic: ``{prefix}/v1/detection/{camera_id}``.
    """

    v: Literal[1] = Field(1, description="Contract version")
    type: DetectionEventType = Field(description="Lifecycle step of this event")
    event_id: str = Field(min_length=1, max_length=128, description="Stable id of the incident")
    label: DetectionLabel = Field(description="What was detected")
    ts: EpochMs = Field(description="Time of this message by the camera clock")
    start_ts: EpochMs = Field(description="When the incident started")
    end_ts: EpochMs | None = Field(None, description="When it ended; set on 'end'")
    score: float = Field(ge=0, le=1, description="Confidence of this frame, 0..1")
    top_score: float = Field(ge=0, le=1, description="Best confidence so far, 0..1")
    box: tuple[float, float, float, float] | None = Field(
        None, description="Bounding box x1, y1, x2, y2 as fractions of the frame (0..1)"
    )
    zones: list[str] = Field(default_factory=list, description="Zones of the camera the object is in")
    snapshot_url: str | None = Field(None, description="Where a JPEG snapshot with the boxes can be fetched")


# --- site access (real-name registration) ------------------------------------------------------


class AccessDirection(StrEnum):
    IN = "in"
    OUT = "out"


class AccessEvent(_Message):
    """A badge or QR-code check-in or check-out at a site gate.

    Topic: ``{prefix}/v1/access/{reader_id}``; the reader is a device of the twin at the site's gate.
    """

    v: Literal[1] = Field(1, description="Contract version")
    ts: EpochMs = Field(description="When the badge or code was read")
    person_id: str = Field(min_length=1, max_length=128, description="Badge number or QR-code id")
    direction: AccessDirection = Field(description="in or out")
    method: Literal["badge", "qr", "face"] = Field("badge", description="How the person was identified")


# --- availability --------------------------------------------------------------------------


class AvailabilityState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Availability(_Message):
    """Birth message (retained, on connect) and last-will (retained, set at connect).

    Topic: ``{prefix}/v1/availability/{device_id}``.  Plain ``online`` / ``offline`` payloads are
    accepted too, for devices that cannot send JSON in their last-will.
    """

    v: Literal[1] = Field(1, description="Contract version")
    state: AvailabilityState = Field(description="online or offline")
    ts: EpochMs | None = Field(None, description="When the state changed")
    reason: str | None = Field(None, max_length=200, description="e.g. 'birth', 'last-will', 'shutdown'")


# --- actuator commands, acknowledgements and state -------------------------------------------


class Command(_Message):
    """A command to an actuator; only `actuators/` publishes these.

    Topic: ``{prefix}/v1/command/{device_id}`` (QoS 1, not retained).
    """

    v: Literal[1] = Field(1, description="Contract version")
    correlation_id: str = Field(
        min_length=8, max_length=64, description="Echoed in every ack of this command"
    )
    action: str = Field(min_length=1, max_length=64, description="e.g. 'set', 'play', 'open', 'close'")
    params: dict[str, Any] = Field(default_factory=dict, description="Driver-specific, e.g. {'on': true}")
    issued_ts: EpochMs = Field(description="When SafeTwin issued the command")
    expires_ts: EpochMs | None = Field(None, description="The device must not act on it after this time")
    issued_by: str = Field(max_length=128, description="'rule:<id>' or 'user:<name>'")


class AckStatus(StrEnum):
    DELIVERED = "delivered"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


class CommandAck(_Message):
    """A device's answer to a command.  Topic: ``{prefix}/v1/ack/{device_id}``."""

    v: Literal[1] = Field(1, description="Contract version")
    correlation_id: str = Field(min_length=8, max_length=64, description="The command's correlation id")
    status: AckStatus = Field(description="delivered, then succeeded / failed / rejected")
    ts: EpochMs = Field(description="Device time of the answer")
    detail: str | None = Field(None, max_length=500, description="Why it failed or was rejected")


class ActuatorState(_Message):
    """An actuator's reported state, retained.  Topic: ``{prefix}/v1/state/{device_id}``."""

    v: Literal[1] = Field(1, description="Contract version")
    ts: EpochMs = Field(description="Device time of the state")
    state: dict[str, Any] = Field(description="e.g. {'on': true, 'speed': 2, 'rpm': 1400}")


# --- what each actuator kind understands ------------------------------------------------------
# One vocabulary for the command side: SafeTwin's drivers build these, simulated and real devices
# parse them.  `COMMAND_PARAMS[kind][action]` is the model of `Command.params`.


class FanParams(_Message):
    """Fan `set`: run or stop, at a speed step."""

    on: bool = Field(description="Run (true) or stop (false)")
    speed: int | None = Field(None, ge=1, le=3, description="Speed step 1..3; unset keeps the last")


class SpeakerParams(_Message):
    """Speaker `play`: a preset message or text-to-speech text."""

    text: str | None = Field(None, max_length=500, description="Text to speak (text-to-speech)")
    preset: str | None = Field(None, max_length=64, description="Id of a recorded message on the device")
    volume: int = Field(80, ge=0, le=100, description="Volume, percent")
    repeat: int = Field(1, ge=1, le=10, description="Times to play it")

    @model_validator(mode="after")
    def _something_to_say(self) -> SpeakerParams:
        if not self.text and not self.preset:
            raise ValueError("give text or preset")
        return self


class SwitchParams(_Message):
    """Relay `set` (disinfection, biodegradation, lights, alarm bell): on or off."""

    on: bool = Field(description="Energise (true) or release (false)")


class ValveParams(_Message):
    """Gas shut-off valve `set`: open or closed."""

    open: bool = Field(description="Open (true) or shut (false)")


class NoParams(_Message):
    """An action without parameters (speaker `stop`)."""


COMMAND_PARAMS: dict[str, dict[str, type[_Message]]] = {
    "fan": {"set": FanParams},
    "speaker": {"play": SpeakerParams, "stop": NoParams},
    "relay": {"set": SwitchParams},
    "valve": {"set": ValveParams},
}

# --- dead letters ----------------------------------------------------------------------------


class DeadLetter(_Message):
    """A message SafeTwin refused, with the reason.  Topic: ``{prefix}/v1/deadletter/{kind}``."""

    v: Literal[1] = Field(1, description="Contract version")
    topic: str = Field(description="Topic the refused message arrived on")
    device_id: str | None = Field(None, description="Device the message came from, where known")
    field: str | None = Field(None, description="Path of the offending field, e.g. 'readings.3.metrics.co'")
    reason: str = Field(description="What was wrong and what was expected")
    received_ts: EpochMs = Field(description="When SafeTwin received the message")
    payload: str = Field(description="The payload as text (cut to 2 KiB; invalid UTF-8 replaced)")


# --- topics ----------------------------------------------------------------------------------

TopicKind = Literal[
    "telemetry", "gateway", "detection", "access", "availability", "command", "ack", "state", "deadletter"
]


class Topics:
    """Builds and parses contract topics under one prefix (default ``safetwin``)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix or any(c in prefix for c in "+#") or prefix.endswith("/"):
            raise ValueError(
                f"MQTT topic prefix {prefix!r} must be non-empty, without '+', '#' or a final '/'"
            )
        self.prefix = prefix
        self.root = f"{prefix}/v{CONTRACT_VERSION}"
        self._depth = self.root.count("/") + 1

    def telemetry(self, device_id: str) -> str:
        return f"{self.root}/telemetry/{device_id}"

    def gateway_batch(self, gateway_id: str) -> str:
        return f"{self.root}/gateway/{gateway_id}/batch"

    def detection(self, camera_id: str) -> str:
        return f"{self.root}/detection/{camera_id}"

    def access(self, reader_id: str) -> str:
        return f"{self.root}/access/{reader_id}"

    def availability(self, device_id: str) -> str:
        return f"{self.root}/availability/{device_id}"

    def command(self, device_id: str) -> str:
        return f"{self.root}/command/{device_id}"

    def ack(self, device_id: str) -> str:
        return f"{self.root}/ack/{device_id}"

    def state(self, device_id: str) -> str:
        return f"{self.root}/state/{device_id}"

    def alarm(self, alarm_id: str) -> str:
        """Where SafeTwin announces every change of an alarm (payload: core.alarms.Alarm)."""
        return f"{self.root}/alarm/{alarm_id}"

    def work_order(self, order_id: str) -> str:
        """Where SafeTwin announces every change of a work order (payload: core.alarms.WorkOrder)."""
        return f"{self.root}/workorder/{order_id}"

    def deadletter(self, kind: str) -> str:
        return f"{self.root}/deadletter/{kind}"

    def ingest_subscriptions(self) -> list[str]:
        """The filters ingest subscribes to (everything devices publish)."""
        return [
            f"{self.root}/telemetry/+",
            f"{self.root}/gateway/+/batch",
            f"{self.root}/detection/+",
            f"{self.root}/access/+",
            f"{self.root}/availability/+",
            f"{self.root}/ack/+",
            f"{self.root}/state/+",
        ]

    def parse(self, topic: str) -> tuple[TopicKind, str] | None:
        """Return (kind, device-or-gateway id) for a contract topic, or None if it is not one."""
        parts = topic.split("/")
        d = self._depth
        if len(parts) < d + 2 or "/".join(parts[:d]) != self.root:
            return None
        kind, ident = parts[d], parts[d + 1]
        if not ident:
            return None
        if kind == "gateway":
            return ("gateway", ident) if len(parts) == d + 3 and parts[d + 2] == "batch" else None
        if len(parts) != d + 2:
            return None
        if kind in (
            "telemetry",
            "detection",
            "access",
            "availability",
            "command",
            "ack",
            "state",
            "deadletter",
        ):
            return kind, ident  # type: ignore[return-value]
        return None
