"""What every rule kind implements, and the per-source track bookkeeping most kinds share.

An evaluator is one rule bound to its sources (devices, or spaces for space-wide rules).  The engine
asks it what it wants to hear (`subscriptions`) and calls it: per reading through plain callables
(`Handler`: a dict lookup and a few comparisons on the hot path), per detection, dead letter,
availability change and silence, and once a second on `tick`.  Evaluators only return signals; they
never block and never do I/O on the caller's thread.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from core.alarms import AlarmSignal, Severity, SignalKind, SourceKind
from core.contract import DeadLetter, Detection
from core.heap import steady_copy
from core.steps import encode_entries_in_steps
from rules.model import Rule
from rules.settings import RuleSettings
from rules.source import Source, SourceCatalog
from store.base import HistoryBackend
from twin.twin import DevicePlace, Twin

log = logging.getLogger(__name__)

Handler = Callable[[int, float], AlarmSignal | None]  # (reading ts, value) -> a signal on change
SeenHook = Callable[[str, int], AlarmSignal | None]  # (device id, received ms): the device is alive
Emitted = Literal["idle", "pending", "firing", "no_data"]


class Env(Protocol):
    """What the engine lends its evaluators."""

    twin: Twin
    settings: RuleSettings
    history: HistoryBackend | None

    def now(self) -> int:
        """SafeTwin's clock as last seen by the engine (tick time or newest receive time), epoch ms."""
        ...

    def offset(self, device_id: str) -> int:
        """Receive time minus device time of the device's last reading (0 if unknown), ms."""
        ...

    def last_received(self, device_id: str) -> int | None:
        """When the device was last heard from, epoch ms, or None."""
        ...

    def process_pool(self) -> Executor:
        """The engine's process pool for CPU work (model training)."""
        ...

    def thread_pool(self) -> Executor:
        """The engine's thread pool for blocking I/O (history queries)."""
        ...


@dataclass(slots=True)
class Subscriptions:
    """What an evaluator wants delivered, per device."""

    readings: list[tuple[str, str, Handler]] = field(default_factory=list)  # (device, metric, handler)
    late_readings: list[tuple[str, str, Handler]] = field(default_factory=list)  # events: even if late
    seen: list[tuple[str, SeenHook]] = field(default_factory=list)
    detections: list[str] = field(default_factory=list)  # camera ids
    dead_letters: list[str] = field(default_factory=list)
    availability: list[str] = field(default_factory=list)


class Emitter:
    """Builds the signals of one rule."""

    __slots__ = ("head", "rule")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.head = {"id": rule.id, "version": rule.version, "type": rule.type}

    def __call__(
        self,
        kind: SignalKind,
        src: Source,
        ts: int,
        message: str,
        evidence: dict[str, Any],
        severity: Severity | None = None,
    ) -> AlarmSignal:
        r = self.rule
        return AlarmSignal(
            rule_id=r.id,
            rule_version=r.version,
            rule_name=r.name,
            category=r.category,
            kind=kind,
            severity=severity if kind in (SignalKind.PENDING, SignalKind.FIRING) else None,
            source_kind=src.kind,
            source_id=src.id,
            site=src.site,
            building=src.building,
            space=src.space,
            ts=ts,
            message=message,
            evidence={"rule": self.head, "source_name": src.name, **evidence},
        )


class Track:
    """Per-source state: what was last said about the source (signals go out only on change)."""

    __slots__ = ("emitted", "esev", "src")

    def __init__(self, src: Source) -> None:
        self.src = src
        self.emitted: Emitted = "idle"
        self.esev: Severity | None = None

    def decide(self, state: Literal["idle", "pending", "firing"], sev: Severity | None) -> SignalKind | None:
        """The signal that moving to `state` at `sev` calls for, or None when nothing changed."""
        last = self.emitted
        if state == last and (state == "idle" or sev == self.esev):
            return None
        if state == "idle" or (state == "pending" and last == "firing"):
            # pending after firing: resolve now, the next evaluation announces the new pending
            self.emitted, self.esev = "idle", None
            return SignalKind.RESOLVED
        self.emitted, self.esev = state, sev
        return SignalKind.FIRING if state == "firing" else SignalKind.PENDING

    @property
    def busy(self) -> bool:
        return self.emitted != "idle"

    def dump(self) -> dict[str, Any] | None:
        """JSON-able state, or None when there is nothing worth keeping."""
        if self.emitted == "idle":
            return None
        return {"emitted": self.emitted, "esev": self.esev.value if self.esev else None}

    def load(self, data: dict[str, Any]) -> None:
        self.emitted = data.get("emitted", "idle")
        esev = data.get("esev")
        self.esev = Severity(esev) if esev else None


class Evaluator(ABC):
    """One rule bound to its sources.  Subclass per kind; register it in the kind's module as PLUGIN."""

    scope: ClassVar[SourceKind] = SourceKind.DEVICE
    reports_silence: ClassVar[bool] = False  # its FIRING signals mean "this device is silent"
    needs_tick: ClassVar[bool] = False

    def __init__(self, rule: Rule, env: Env) -> None:
        self.rule = rule
        self.env = env
        self.emit = Emitter(rule)
        self.sources: dict[str, Source] = {}

    def applies_to(self, place: DevicePlace) -> bool:
        """Whether a device the target matched can feed this rule (it reports the metric, ...)."""
        return True

    def sources_from(self, places: Sequence[DevicePlace], catalog: SourceCatalog) -> list[Source]:
        """The sources the matched devices make: the devices themselves, or their spaces."""
        if self.scope == SourceKind.DEVICE:
            return [catalog.device(p) for p in places]
        by_space: dict[str, list[str]] = {}
        for p in places:
            by_space.setdefault(p.space, []).append(p.device_id)
        return [catalog.space(space, tuple(sorted(devs))) for space, devs in sorted(by_space.items())]

    @abstractmethod
    def bind(self, sources: Sequence[Source], now: int) -> list[AlarmSignal]:
        """Take these sources (replacing earlier ones); resolve what a dropped source was raising."""

    @abstractmethod
    def subscriptions(self) -> Subscriptions:
        """Handlers and device ids the engine routes to this evaluator."""

    def on_detection(self, camera_id: str, det: Detection, now: int) -> list[AlarmSignal]:
        return []

    def on_dead_letter(
        self, device_id: str, category: str, letter: DeadLetter, now: int
    ) -> list[AlarmSignal]:
        return []

    def on_availability(self, device_id: str, online: bool, now: int, reason: str) -> list[AlarmSignal]:
        return []

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        """The device is silent (heartbeat timeout or last-will)."""
        return []

    def tick(self, now: int) -> list[AlarmSignal]:
        return []

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """JSON-able state for a restart."""

    def snapshot_in_steps(self, chunk: int) -> Generator[None, None, dict[str, Any]]:
        """The snapshot, yielding between chunks of `chunk` sources where the state is large."""
        yield
        return self.snapshot()

    @abstractmethod
    def restore(self, data: dict[str, Any]) -> None:
        """Load what snapshot() returned (for the same rule id and version)."""

    @abstractmethod
    def retire(self, now: int, reason: str) -> list[AlarmSignal]:
        """The rule is removed, disabled or replaced by a new version: resolve what it raised."""

    def status(self) -> dict[str, Any]:
        """What the status page shows of this rule."""
        return {"type": self.rule.type, "version": self.rule.version, "sources": len(self.sources)}

    def close(self) -> None:  # noqa: B027 - optional hook, most kinds hold nothing to release
        """Release background resources."""


T = TypeVar("T", bound=Track)


class TrackedEvaluator(Evaluator, Generic[T]):
    """An evaluator holding one Track per source: binding, silence, retiring and snapshots done once."""

    def __init__(self, rule: Rule, env: Env) -> None:
        super().__init__(rule, env)
        self.tracks: dict[str, T] = {}
        self.by_device: dict[str, list[T]] = {}

    @abstractmethod
    def make_track(self, src: Source) -> T:
        """A fresh track for a source."""

    def bind(self, sources: Sequence[Source], now: int) -> list[AlarmSignal]:
        wanted = {s.id: s for s in sources}
        out: list[AlarmSignal] = []
        for sid in [sid for sid in self.tracks if sid not in wanted]:
            track = self.tracks.pop(sid)
            if track.busy:
                out.append(self._resolved(track, now, "the rule no longer applies to this source"))
        for sid, src in wanted.items():
            if sid not in self.tracks:
                self.tracks[sid] = self.make_track(src)
        self.sources = wanted
        self.by_device = {}
        for track in self.tracks.values():
            for dev in track.src.devices:
                self.by_device.setdefault(dev, []).append(track)
        return out

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        out = []
        for track in self.by_device.get(device_id, ()):
            if track.emitted in ("pending", "firing"):
                track.emitted = "no_data"
                msg = (
                    f"{self.rule.name}: no data from {track.src.name} ({reason}); "
                    "whether the condition still holds is unknown"
                )
                out.append(self.emit(SignalKind.NO_DATA, track.src, now, msg, {"reason": reason}))
        return out

    def retire(self, now: int, reason: str) -> list[AlarmSignal]:
        out = [self._resolved(t, now, reason) for t in self.tracks.values() if t.busy]
        self.tracks.clear()
        self.by_device.clear()
        return out

    def _resolved(self, track: Track, now: int, reason: str) -> AlarmSignal:
        track.emitted, track.esev = "idle", None
        msg = f"{self.rule.name} on {track.src.name}: resolved, {reason}"
        return self.emit(SignalKind.RESOLVED, track.src, now, msg, {"reason": reason})

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sid, track in self.tracks.items():
            data = track.dump()
            if data is not None:
                out[sid] = data
        return {"tracks": out}

    def snapshot_in_steps(self, chunk: int) -> Generator[None, None, dict[str, Any]]:
        if type(self).snapshot is not TrackedEvaluator.snapshot:  # a kind that saves more: its own, whole
            return (yield from super().snapshot_in_steps(chunk))
        tracks = self.tracks

        def state(sid: str) -> Any:
            track = tracks.get(sid)  # a rebind between steps may have dropped it
            return None if track is None else track.dump()

        def refused(sid: str, err: TypeError) -> None:
            rid = self.rule.id
            log.error("rule %s: the state of %s cannot be saved (%s); it starts over", rid, sid, err)

        # encoded as it is taken: see core.steps (ids, not (id, track) pairs, and out of the
        # collector's sight: core.heap.steady_copy)
        encoded = yield from encode_entries_in_steps(steady_copy(tracks), state, chunk, refused)
        return {"tracks": encoded}

    def restore(self, data: dict[str, Any]) -> None:
        for sid, state in data.get("tracks", {}).items():
            track = self.tracks.get(sid)
            if track is not None:
                track.load(state)
