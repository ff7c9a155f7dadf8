"""Stop-work orders of confined-space permits: a broadcast in the space and a notification to people."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from actuators.permit_models import Permit
from actuators.permit_settings import PermitSettings
from actuators.publisher import new_correlation_id
from actuators.response import ActuatorResponse, Notification
from core.contract import Command, SpeakerParams, now_ms
from twin.kinds import DeviceKind
from twin.model import Contact
from twin.twin import Twin

log = logging.getLogger(__name__)

Play = Callable[[str, dict[str, Any], str], None]  # (speaker id, SpeakerParams as a dict, issued_by)


def play_by_publisher(send: Callable[[str, Command], None], *, ttl_s: float = 60) -> Play:
    """Play straight through the command publisher (no lifecycle)."""

    def play(speaker: str, params: dict[str, Any], issued_by: str) -> None:
        now = now_ms()
        command = Command(
            correlation_id=new_correlation_id(),
            action="play",
            params=params,
            issued_ts=now,
            expires_ts=now + int(ttl_s * 1000),
            issued_by=issued_by,
        )
        send(speaker, command)

    return play


def play_by_lifecycle(submit: Callable[..., object], fallback: Play) -> Play:
    """Play as a tracked command (retries, acks, records); if it is refused, straight out anyway.

    A stop-work order tells the people in one confined space to get out: holding it back is never the
    safer choice, so a refusal or error of the command lifecycle is logged and the publisher used.
    """

    def play(speaker: str, params: dict[str, Any], issued_by: str) -> None:
        try:
            submit(speaker, "play", params, issued_by=issued_by, reason="confined-space stop-work")
        except Exception as err:
            log.error("stop-work on %s not taken as a tracked command (%s); sent directly", speaker, err)
            fallback(speaker, params, issued_by)

    return play


class ResponseStopWork:
    """Implements the permits' `StopWork` over the command sender and the notification records."""

    def __init__(
        self,
        settings: PermitSettings,
        twin: Twin,
        response: ActuatorResponse,
        play: Play,
    ) -> None:
        self.settings = settings
        self.twin = twin
        self.response = response
        self.play = play

    def speakers(self, permit: Permit) -> list[str]:
        """Speakers of the space, else of its site (a sewer well's speaker stands on the street)."""
        for where in ({"space": permit.space_id}, {"site": permit.site}):
            found = [d.device_id for d in self.twin.devices_in(**where) if d.kind == DeviceKind.SPEAKER]
            if found:
                return found
        return []

    def recipients(self, permit: Permit) -> list[Contact]:
        """The space's responsible party, then the site's grid worker and community."""
        site, building, _ = self.twin.place_of_space[permit.space_id]
        parties = [self.twin.responsible_party(site, building)]
        spec = self.twin.sites.get(site)
        if spec is not None:
            parties += [spec.parties.grid, spec.parties.community]
        people: list[Contact] = []
        for pid in dict.fromkeys(p for p in parties if p):
            if pid in self.twin.parties:
                people += self.twin.parties[pid].contacts
        return people

    def stop_work(self, permit: Permit, text: str) -> None:
        """Broadcast `text` on the speakers and notify the people responsible; never waits."""
        now = now_ms()
        params = SpeakerParams(text=text[:500], volume=self.settings.volume, repeat=self.settings.repeat)
        speakers = self.speakers(permit)
        for speaker in speakers:
            try:
                self.play(speaker, params.model_dump(exclude_none=True), f"permit:{permit.id}")
            except Exception:  # one speaker failing must not keep the others or the notification back
                log.exception("stop-work broadcast on %s for permit %s failed", speaker, permit.id)
        if not speakers:
            log.error("stop-work for permit %s: no speaker at %s or its site", permit.id, permit.space_id)
        self.response.send_notification(
            Notification(
                alarm_id=f"permit:{permit.id}",
                ts=now,
                channels=list(self.settings.notify_channels),
                recipients=self.recipients(permit),
                text=text,
                delivered=False,
                detail="no notification channel driver is configured; shown in the API only",
            )
        )
