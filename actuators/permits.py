"""Confined-space entry permits: ventilate first, then test, then work; a breach orders stop-work.

A permit is granted only when the space's fans have run for the set time and every required gas,
on every sensor of the space, is fresh and has stayed within limits for the set time; otherwise it
is refused with the reasons.  While a permit is open every reading of the space is checked as it
arrives (an ingest listener, no I/O): a breach, or gas monitoring lost, revokes it and orders
stop-work at once (speaker broadcast and notification).  State changes are kept under one lock, so
the event loop and API threads may call in; permits persist as one document of the operational store.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from actuators.permit_models import (
    Breach,
    EntryRecord,
    GasReading,
    Permit,
    PermitConflict,
    PermitInvalid,
    PermitNotFound,
    PermitRefused,
    PermitRequest,
    PermitStatus,
)
from actuators.permit_settings import WATCHED, PermitSettings
from actuators.ventilation import VentilationSource
from core.contract import now_ms
from ingest.pipeline import PipelineResult
from twin.kinds import SpaceKind
from twin.state import LiveState
from twin.twin import Twin

log = logging.getLogger(__name__)

PERMITS_DOC = "confined_space_permits"
CONFINED_KINDS = frozenset({SpaceKind.SEPTIC_TANK, SpaceKind.SEWER_WELL})
_SENSED_AS = {"lel": ("lel", "ch4")}  # combustible gas: a methane sensor in %LEL answers for it
_LABEL = {"o2": "O2", "lel": "combustible gas (%LEL)", "ch4": "CH4", "h2s": "H2S", "co": "CO"}
_SPOKEN = {"o2": "氧气", "lel": "可燃气体", "ch4": "甲烷", "h2s": "硫化氢", "co": "一氧化碳"}


class StopWork(Protocol):
    """Carries out a stop-work order: broadcast in the space, notify the people responsible."""

    def stop_work(self, permit: Permit, text: str) -> None: ...


class DocumentStore(Protocol):
    def save_document(self, name: str, body: dict[str, Any]) -> None: ...
    def load_document(self, name: str) -> dict[str, Any] | None: ...


def _spoken(breach: Breach) -> str:
    """What went wrong, as the broadcast says it."""
    r = breach.reading
    if r is not None:
        return f"{_SPOKEN.get(r.metric, r.metric)}超限，{r.value:g} {r.unit}"
    if breach.reason.startswith("ventilation"):
        return "通风已停止"
    return "气体监测中断"


def _clock(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%H:%M:%S UTC")


class PermitManager:
    """Grants, watches, revokes and closes confined-space entry permits."""

    def __init__(
        self,
        settings: PermitSettings,
        twin: Twin,
        live: LiveState,
        ventilation: VentilationSource,
        *,
        stop_work: StopWork | None = None,
        store: DocumentStore | None = None,
        clock: Callable[[], int] = now_ms,
        doc_name: str = PERMITS_DOC,
    ) -> None:
        self.doc_name = doc_name  # one per worker where several share the store
        self.settings = settings
        self.twin = twin
        self.live = live
        self.ventilation = ventilation
        self.stop_work_sink = stop_work
        self.store = store
        self.clock = clock
        self.confined = frozenset(
            sid for sid, s in twin.spaces.items() if s.confined or s.kind in CONFINED_KINDS
        )
        self.permits: dict[str, Permit] = {}
        self._open_by_space: dict[str, str] = {}
        self._ok_since: dict[tuple[str, str], int] = {}  # (device, metric) -> within limits since
        self._seen: dict[tuple[str, str], int] = {}  # (device, metric) -> last received, epoch ms
        self._lock = threading.RLock()
        self._dirty = False

    # --- persistence ----------------------------------------------------------------------------

    def load(self) -> int:
        """Read permits from the store (blocking); returns how many are open."""
        if self.store is None:
            return 0
        doc = self.store.load_document(self.doc_name) or {}
        with self._lock:
            for raw in doc.get("permits", []):
                permit = Permit.model_validate(raw)
                self.permits[permit.id] = permit
                if permit.status is PermitStatus.GRANTED:
                    self._open_by_space[permit.space_id] = permit.id
        return len(self._open_by_space)

    def save(self) -> None:
        """Write every permit kept (blocking)."""
        if self.store is None:
            return
        with self._lock:
            self._dirty = False
            done = sorted((p for p in self.permits.values() if not p.open), key=lambda p: p.requested_ts)
            for pid in [p.id for p in done[: max(0, len(done) - self.settings.keep_closed)]]:
                del self.permits[pid]
            body = {"permits": [p.model_dump(mode="json") for p in self.permits.values()]}
        self.store.save_document(self.doc_name, body)

    def save_if_dirty(self) -> None:
        """Save if something changed off an API call (a revocation on ingest); blocking."""
        if self._dirty:
            self.save()

    # --- requests -------------------------------------------------------------------------------

    def request(self, req: PermitRequest, operator: str, now: int | None = None) -> Permit:
        """Grant a permit, or raise `PermitRefused` (recorded) with every reason the space is not fit."""
        now = self.clock() if now is None else now
        space = self.twin.spaces.get(req.space_id)
        if space is None:
            raise PermitInvalid(f"there is no space {req.space_id!r} in the twin")
        if req.space_id not in self.confined:
            raise PermitInvalid(
                f"{space.name} ({req.space_id}) is not a confined space; entry needs no permit "
                "(mark the space confined: true in the twin if it is one)"
            )
        with self._lock:
            if (open_id := self._open_by_space.get(req.space_id)) is not None:
                raise PermitConflict(
                    f"permit {open_id} is already open for {space.name}; close it before asking for another"
                )
            refusals, readings, since = self.assess(req.space_id, now)
            permit = Permit(
                id=uuid.uuid4().hex[:12],
                space_id=req.space_id,
                space_name=space.name,
                site=self.twin.place_of_space[req.space_id][0],
                status=PermitStatus.REFUSED if refusals else PermitStatus.GRANTED,
                entrants=req.entrants,
                supervisor=req.supervisor,
                reason=req.reason,
                requested_by=operator,
                requested_ts=now,
                refusals=refusals,
                granted_ts=None if refusals else now,
                ventilation_since_ts=since,
                readings=readings,
            )
            self.permits[permit.id] = permit
            if not refusals:
                self._open_by_space[permit.space_id] = permit.id
        self.save()
        if refusals:
            log.warning("permit for %s refused (%s): %s", req.space_id, operator, "; ".join(refusals))
            raise PermitRefused(permit)
        log.warning("permit %s GRANTED for %s to %s by %s", permit.id, req.space_id, req.entrants, operator)
        return permit.model_copy(deep=True)

    def assess(self, space_id: str, now: int) -> tuple[list[str], list[GasReading], int | None]:
        """(reasons the space is not fit to enter, the gas values seen, ventilation running since)."""
        name = self.twin.spaces[space_id].name
        reasons: list[str] = []
        since = self.ventilation.running_since_ms(space_id)
        need_min = self.settings.ventilation_min_s / 60
        if since is None:
            reasons.append(
                f"ventilate first: no fan of {name} is confirmed running; run the fans for {need_min:g} min"
            )
        elif (ran := now - since) < self.settings.ventilation_min_s * 1000:
            ready = since + int(self.settings.ventilation_min_s * 1000)
            reasons.append(
                f"ventilation has run {ran / 60000:.1f} of the {need_min:g} min required "
                f"(ready at {_clock(ready)})"
            )
        readings: list[GasReading] = []
        for wanted in self.settings.required_metrics:
            reasons += self._test_gas(space_id, wanted, now, readings)
        return reasons, readings, since

    def _test_gas(self, space_id: str, wanted: str, now: int, out: list[GasReading]) -> list[str]:
        metrics = _SENSED_AS.get(wanted, (wanted,))
        sensors = [
            (d.device_id, m, d.metrics[m].unit)
            for d in self.twin.devices_in(space=space_id)
            for m in metrics
            if m in d.metrics
        ]
        if not sensors:
            return [f"no {_LABEL[wanted]} sensor in {self.twin.spaces[space_id].name}: it must be watched"]
        reasons = []
        max_age = int(self.settings.max_reading_age_s * 1000)
        stable = int(self.settings.gas_stable_s * 1000)
        for dev, metric, unit in sensors:
            held = self.live.devices[dev].values.get(metric)
            seen = self._seen.get((dev, metric), held[1] if held else None)
            if held is None or seen is None or now - seen > max_age or not self.live.devices[dev].online:
                reasons.append(
                    f"test first: no {_LABEL[metric]} reading from {dev} in the last {max_age // 1000} s"
                )
                continue
            out.append(GasReading(device_id=dev, metric=metric, value=held[0], unit=unit, ts=held[1]))
            if (why := self.settings.limits.breach(metric, held[0])) is not None:
                reasons.append(f"{why} at {dev}")
            elif (ok := self._ok_since.get((dev, metric))) is None or now - ok < stable:
                for_s = 0 if ok is None else (now - ok) // 1000
                reasons.append(
                    f"{_LABEL[metric]} at {dev} within limits for {for_s} s "
                    f"of the {stable // 1000} s required"
                )
        return reasons

    # --- watching -------------------------------------------------------------------------------

    def on_result(self, result: PipelineResult) -> None:
        """Ingest listener: how long each gas has been fine; a breach under an open permit stops work."""
        batch = result.readings
        if not len(batch) or not self.confined:
            return
        confined, limits = self.confined, self.settings.limits
        max_age = int(self.settings.max_reading_age_s * 1000)
        breaches: list[tuple[str, Breach]] = []
        with self._lock:
            columns = (batch.device_id, batch.metric, batch.value, batch.ts, batch.received_ts, batch.space)
            for dev, metric, value, ts, recv, space, unit in zip(*columns, batch.unit, strict=True):
                if metric not in WATCHED or space not in confined:
                    continue
                key = (dev, metric)
                why = limits.breach(metric, value)
                last = self._seen.get(key)
                self._seen[key] = recv if last is None else max(last, recv)
                if why is not None:
                    self._ok_since.pop(key, None)
                    if space in self._open_by_space:
                        reading = GasReading(device_id=dev, metric=metric, value=value, unit=unit, ts=ts)
                        breaches.append((space, Breach(reason=f"{why} at {dev}", reading=reading, ts=recv)))
                elif key not in self._ok_since or (last is not None and recv - last > max_age):
                    self._ok_since[key] = recv  # a gap in the readings restarts the clean-air window
            for space, breach in breaches:
                if space in self._open_by_space:
                    self._revoke(self._open_by_space[space], breach)

    def tick(self, now: int | None = None) -> None:
        """Stop work where gas monitoring was lost, or ventilation stopped, under an open permit."""
        now = self.clock() if now is None else now
        with self._lock:
            for space, pid in list(self._open_by_space.items()):
                lost = self._lost_monitoring(space, now)
                if lost is None and self.ventilation.running_since_ms(space) is None:
                    lost = "ventilation stopped: no fan of the space is confirmed running"
                if lost is not None:
                    self._revoke(pid, Breach(reason=lost, ts=now))

    def _lost_monitoring(self, space: str, now: int) -> str | None:
        max_age = int(self.settings.max_reading_age_s * 1000)
        for wanted in self.settings.required_metrics:
            stale: list[str] = []
            fresh = False
            for d in self.twin.devices_in(space=space):
                for m in _SENSED_AS.get(wanted, (wanted,)):
                    if m not in d.metrics:
                        continue
                    seen = self._seen.get((d.device_id, m))
                    if seen is not None and now - seen <= max_age and self.live.devices[d.device_id].online:
                        fresh = True
                    else:
                        stale.append(d.device_id)
            if not fresh:
                where = ", ".join(stale) or "no sensor"
                return (
                    f"gas monitoring lost: no {_LABEL[wanted]} reading for over {max_age // 1000} s ({where})"
                )
        return None

    def _revoke(self, pid: str, breach: Breach) -> None:
        permit = self.permits[pid]
        space = self.twin.spaces[permit.space_id].name
        text = self.settings.stop_work_text.format(
            space=space, what=_spoken(breach), reason=breach.reason, permit=pid
        )
        permit.status = PermitStatus.REVOKED
        permit.revoked_ts = breach.ts
        permit.breach = breach
        permit.stop_work = text
        self._open_by_space.pop(permit.space_id, None)
        self._dirty = True
        log.error("STOP WORK: permit %s for %s revoked: %s; inside: %s", pid, permit.space_id, breach.reason,
                  ", ".join(permit.inside) or "nobody")  # fmt: skip
        if self.stop_work_sink is None:
            log.error("no stop-work sink is wired: permit %s revoked without broadcast or notification", pid)
            return
        try:
            self.stop_work_sink.stop_work(permit.model_copy(deep=True), text)
        except Exception:  # the revocation stands even if the broadcast could not be queued
            log.exception("stop-work broadcast or notification for permit %s failed", pid)

    # --- entries, exits, closing ----------------------------------------------------------------

    def record_entry(
        self,
        permit_id: str,
        person: str,
        direction: Literal["in", "out"],
        operator: str,
        now: int | None = None,
    ) -> Permit:
        """Log someone going in (granted permits, listed entrants only) or coming out."""
        now = self.clock() if now is None else now
        person = person.strip()
        with self._lock:
            permit = self._get(permit_id)
            if direction == "in":
                if permit.status is not PermitStatus.GRANTED:
                    raise PermitConflict(f"permit {permit_id} is {permit.status.value}: nobody may enter")
                if person not in permit.entrants:
                    raise PermitConflict(
                        f"{person} is not an entrant of permit {permit_id} ({', '.join(permit.entrants)}); "
                        "ask for a new permit that lists them"
                    )
                if person in permit.inside:
                    raise PermitConflict(f"{person} is already inside {permit.space_name}")
                permit.inside.append(person)
            else:
                if person not in permit.inside:
                    raise PermitConflict(
                        f"{person} is not inside {permit.space_name} under permit {permit_id}"
                    )
                permit.inside.remove(person)
            permit.entries.append(EntryRecord(person=person, direction=direction, ts=now, operator=operator))
            out = permit.model_copy(deep=True)
        self.save()
        log.info(
            "permit %s: %s %s (%s)", permit_id, person, "entered" if direction == "in" else "left", operator
        )
        return out

    def close(self, permit_id: str, operator: str, now: int | None = None) -> Permit:
        """Close a granted or revoked permit; everyone must be out."""
        now = self.clock() if now is None else now
        with self._lock:
            permit = self._get(permit_id)
            if not permit.open:
                raise PermitConflict(f"permit {permit_id} is {permit.status.value}; only open permits close")
            if permit.inside:
                raise PermitConflict(
                    f"{', '.join(permit.inside)} still inside {permit.space_name}: "
                    "log them out before closing"
                )
            permit.status = PermitStatus.CLOSED
            permit.closed_ts = now
            permit.closed_by = operator
            if self._open_by_space.get(permit.space_id) == permit_id:
                del self._open_by_space[permit.space_id]
            out = permit.model_copy(deep=True)
        self.save()
        log.info("permit %s for %s closed by %s", permit_id, permit.space_id, operator)
        return out

    # --- reading --------------------------------------------------------------------------------

    def _get(self, permit_id: str) -> Permit:
        permit = self.permits.get(permit_id)
        if permit is None:
            raise PermitNotFound(f"there is no permit {permit_id!r}")
        return permit

    def get(self, permit_id: str) -> Permit:
        with self._lock:
            return self._get(permit_id).model_copy(deep=True)

    def list(self, *, status: PermitStatus | None = None, space_id: str | None = None) -> list[Permit]:
        """Permits, newest first."""
        with self._lock:
            found = [
                p.model_copy(deep=True)
                for p in self.permits.values()
                if (status is None or p.status is status) and (space_id is None or p.space_id == space_id)
            ]
        return sorted(found, key=lambda p: p.requested_ts, reverse=True)
