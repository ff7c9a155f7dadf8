"""Stop-work orders of confined-space permits: a broadcast in the space and a notification to people."""

from __future__ import annotations

import logging
from collections.abc import Callable

from actuators.permit_models import Permit
from actuators.permit_settings import PermitSettings
from actuators.publisher import new_correlation_id
from actuators.response import ActuatorResponse, Notification
from core.contract import Command, SpeakerParams, now_ms
from twin.kinds import DeviceKind
from twin.model import Contact
from twin.twin import Twin

log = logging.getLogger(__name__)


class ResponseStopWork:
    """Implements the permits' `StopWork` over the command sender and the notification records."""

    def __init__(
        self,
        settings: PermitSettings,
        twin: Twin,
        response: ActuatorResponse,
        send: Callable[[str, Command], None],
        *,
        ttl_s: float = 60,
    ) -> None:
        self.settings = settings
        self.twin = twin
        self.response = response
        self.send = send
        self.ttl_ms = int(ttl_s * 1000)

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
            self.send(
                speaker,
                Command(
                    correlation_id=new_correlation_id(),
                    action="play",
                    params=params.model_dump(exclude_none=True),
                    issued_ts=now,
                    expires_ts=now + self.ttl_ms,
                    issued_by=f"permit:{permit.id}",
                ),
            )
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
