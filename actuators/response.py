"""Graded responses as the actuator layer carries them out: speaker broadcasts and notifications."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actuators.manager import CommandSink
from actuators.publisher import new_correlation_id
from core.alarms import Alarm
from core.contract import Command, now_ms
from twin.kinds import DeviceKind
from twin.model import Contact
from twin.twin import Twin

log = logging.getLogger(__name__)


class ChannelOutcome(BaseModel):
    """What one requested channel did with a notification."""

    model_config = ConfigDict(frozen=True)

    channel: str = Field(description="Channel asked for: sms, push, email, webhook")
    driver: str | None = Field(None, description="Configured channel driver that took it, if any")
    status: Literal["queued", "delivered", "failed", "not_configured"] = Field(description="Outcome so far")
    attempts: int = Field(0, description="Delivery attempts made")
    detail: str = Field("", description="What happened: the gateway's answer or the reason it failed")
    ts: int = Field(description="Time of the last change, epoch ms")


class Notification(BaseModel):
    """A message to people about an alarm, with whom it is for and whether a channel took it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="Notification id")
    alarm_id: str
    ts: int
    channels: list[str] = Field(description="Channels asked for: sms, push, email, webhook")
    recipients: list[Contact] = Field(description="People it is for")
    text: str
    delivered: bool = Field(description="A channel driver accepted it")
    detail: str = Field(description="What happened to it")
    outcomes: list[ChannelOutcome] = Field(default_factory=list, description="Outcome per channel asked for")


class ActuatorResponse:
    """Implements the alarm domain's ResponseSink over the command publisher."""

    def __init__(self, twin: Twin, commands: CommandSink, *, volume: int = 80, ttl_s: float = 60) -> None:
        self.twin = twin
        self._speakers: dict[tuple[str | None, str], list[str]] = {}
        self._site_speakers: dict[str, list[str]] | None = None  # built on first need: one walk of the twin
        self.commands = commands
        self.volume = volume
        self.ttl_ms = int(ttl_s * 1000)
        self.notifications: deque[Notification] = deque(maxlen=1000)
        self._lock = threading.Lock()
        # hands a recorded notification to the channel drivers (actuators/notifier.py); returns at once
        self.delivery: Callable[[Notification], None] | None = None

    def speakers_for(self, alarm: Alarm) -> list[str]:
        """Speakers of the alarm's space, else of its site (the twin does not change: looked up once)."""
        key = (alarm.space, alarm.site)
        found = self._speakers.get(key)
        if found is None:
            found = self._speakers[key] = self._find_speakers(alarm.space, alarm.site)
        return list(found)

    def _find_speakers(self, space: str | None, site: str) -> list[str]:
        in_space = (
            [d.device_id for d in self.twin.devices_in(space=space) if d.kind == DeviceKind.SPEAKER]
            if space
            else []
        )
        if in_space:
            return in_space
        if self._site_speakers is None:  # a site of a 400,000-device twin is too big to walk per space
            self._site_speakers = {}
            for d in self.twin.devices.values():
                if d.kind == DeviceKind.SPEAKER:
                    self._site_speakers.setdefault(d.site, []).append(d.device_id)
        return self._site_speakers.get(site, [])

    def broadcast(self, alarm: Alarm, text: str) -> None:
        """Play `text` on the speakers near the alarm."""
        speakers = self.speakers_for(alarm)
        if not speakers:
            log.info(
                "no speaker at %s for alarm %s; broadcast skipped: %s",
                alarm.space or alarm.site,
                alarm.id,
                text,
            )
            return
        now = now_ms()
        for speaker in speakers:
            self.commands.send(
                speaker,
                Command(
                    correlation_id=new_correlation_id(),
                    action="play",
                    params={"text": text, "volume": self.volume, "repeat": 2},
                    issued_ts=now,
                    expires_ts=now + self.ttl_ms,
                    issued_by=f"rule:{alarm.rule_id}",
                ),
            )
        log.info("broadcast for alarm %s on %d speaker(s): %s", alarm.id, len(speakers), text)

    def recipients(self, alarm: Alarm) -> list[Contact]:
        """The responsible party's contacts, plus the device's own (family of a one-key call)."""
        people: list[Contact] = []
        if alarm.party_id and alarm.party_id in self.twin.parties:
            people += self.twin.parties[alarm.party_id].contacts
        device = self.twin.devices.get(alarm.source_id)
        if device is not None:
            people += device.spec.contacts
        site = self.twin.sites.get(alarm.site)
        if site is not None and site.parties.community in self.twin.parties:
            people += self.twin.parties[site.parties.community].contacts
        return people

    def notify(self, alarm: Alarm, channels: Sequence[str], text: str) -> None:
        """Record a notification and hand it to the channel drivers (SMS, e-mail, webhook) if any."""
        self.send_notification(
            Notification(
                alarm_id=alarm.id,
                ts=now_ms(),
                channels=list(channels),
                recipients=self.recipients(alarm),
                text=text,
                delivered=False,
                detail="no notification channel driver is configured; shown in the API only",
            )
        )

    def send_notification(self, note: Notification) -> None:
        """Record `note` and hand it on for delivery; never waits."""
        if self.delivery is not None:
            note = note.model_copy(update={"detail": "queued for delivery"})
        with self._lock:
            self.notifications.append(note)
        log.warning(
            "NOTIFY %s (%s) -> %s: %s",
            note.alarm_id,
            ",".join(note.channels),
            ", ".join(f"{c.name} {c.phone or c.email or ''}".strip() for c in note.recipients) or "nobody",
            note.text,
        )
        if self.delivery is not None:
            self.delivery(note)

    def update(self, note: Notification) -> None:
        """Replace the record of the notification with `note.id` (delivery outcomes)."""
        with self._lock:
            for i in range(len(self.notifications) - 1, -1, -1):
                if self.notifications[i].id == note.id:
                    self.notifications[i] = note
                    return

    def recent(self, limit: int = 100) -> list[Notification]:
        with self._lock:
            return list(self.notifications)[-limit:][::-1]
