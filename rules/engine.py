"""The rule engine: evaluates every rule inline with ingest, keeps timers across restarts.

`on_result` takes what one ingest batch produced and returns the signals it caused; `tick` lets time
pass (on-delays, off-delays, silence, calibration dates, anomaly scoring).  Rules are resolved
against the twin when they are set, so a reading costs a dict lookup per device, one per metric,
and a few comparisons per rule watching it.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, cast

import orjson

from core.alarms import AlarmSignal, SignalKind
from core.contract import AvailabilityState
from core.heap import steady_copy
from core.records import ReadingBatch
from core.steps import STEP_ENTRIES, dumps_in_steps, encode_entries_in_steps, finish
from ingest.pipeline import PipelineResult
from rules.kinds import REGISTRY
from rules.kinds.base import Evaluator, Handler
from rules.model import Rule
from rules.settings import RuleSettings
from rules.slots import Slot, rows
from rules.source import SourceCatalog
from rules.targets import TwinIndex, assign
from store.base import HistoryBackend
from twin.twin import Twin

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1


class RuleEngine:
    """Evaluates rules over ingest results and time; see docs/rules.md."""

    def __init__(
        self,
        twin: Twin,
        rules: Sequence[Rule],
        *,
        history: HistoryBackend | None = None,
        settings: RuleSettings | None = None,
    ) -> None:
        self.twin = twin
        self.history = history
        self.settings = settings or RuleSettings()
        self._index = TwinIndex(twin)
        self._catalog = SourceCatalog(twin)
        self._rules: list[Rule] = []
        self._rule_by_id: dict[str, Rule] = {}
        self._evs: dict[str, Evaluator] = {}
        self._slots: dict[str, Slot] = {}
        self._tickers: list[Evaluator] = []
        self._outbox: list[AlarmSignal] = []
        self._failed: set[str] = set()
        self._now = 0
        self._procs: ProcessPoolExecutor | None = None
        self._threads: ThreadPoolExecutor | None = None
        self.stats = {"readings": 0, "late_readings": 0, "signals": 0, "errors": 0}
        self.set_rules(rules)

    # --- Env: what evaluators may ask of the engine ---------------------------------------------

    def now(self) -> int:
        return self._now

    def offset(self, device_id: str) -> int:
        slot = self._slots.get(device_id)
        return 0 if slot is None or slot.last_ts < 0 else slot.last_recv - slot.last_ts

    def last_received(self, device_id: str) -> int | None:
        slot = self._slots.get(device_id)
        return slot.heard if slot is not None and slot.heard else None

    def process_pool(self) -> Executor:
        if self._procs is None:
            self._procs = ProcessPoolExecutor(
                max_workers=self.settings.anomaly_workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._procs

    def thread_pool(self) -> Executor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rules-io")
        return self._threads

    # --- the public API ----------------------------------------------------------------------------

    def on_result(self, result: PipelineResult) -> list[AlarmSignal]:
        """Evaluate one ingest batch; inline, synchronous, never raises for a failing rule."""
        out, self._outbox = self._outbox, []
        batch = result.readings
        latest = [letter.received_ts for _, letter in result.dead_letters]
        if batch:
            latest.append(max(batch.received_ts))
        self._now = max([self._now, *latest])
        if batch:
            self._readings(batch, out)
        for camera_id, det in result.detections:
            slot = self._slots.get(camera_id)
            if slot is not None:
                when = self._now or det.ts  # SafeTwin's clock; the camera's before the first tick
                self._heard(camera_id, slot, when, out)
                for ev in slot.det:
                    self._guard(ev, out, ev.on_detection, camera_id, det, when)
        for category, letter in result.dead_letters:
            dev = letter.device_id
            slot = self._slots.get(dev) if dev else None
            if dev and slot is not None:
                self._heard(dev, slot, letter.received_ts, out)
                for ev in slot.dead:
                    self._guard(ev, out, ev.on_dead_letter, dev, category, letter, self._now)
        for ident, state in result.availability:
            self._availability(ident, state == AvailabilityState.ONLINE, out)
        self.stats["signals"] += len(out)
        return out

    def tick(self, now_ms: int) -> list[AlarmSignal]:
        """Let time pass: delays, silence, calibration dates, anomaly training and scoring."""
        self._now = max(self._now, now_ms)
        out, self._outbox = self._outbox, []
        for ev in self._tickers:
            self._guard(ev, out, ev.tick, now_ms)
        self.stats["signals"] += len(out)
        return out

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rule set; rules whose (id, version) and content are unchanged keep their state."""
        seen: set[str] = set()
        for r in rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} appears twice; rule ids must be unique")
            seen.add(r.id)
        now, disabled = self._now, set(self.settings.disabled_rules)
        wanted = {r.id: r for r in rules if r.enabled and r.id not in disabled}
        kept: dict[str, Evaluator] = {}
        for rid, ev in self._evs.items():
            new = wanted.get(rid)
            if new is not None and new == ev.rule:
                kept[rid] = ev
                continue
            why = "the rule was removed or disabled" if new is None else f"replaced by version {new.version}"
            if new is not None and new.version == ev.rule.version:
                log.warning("rule %s changed without a new version; its state starts over", rid)
            self._outbox.extend(ev.retire(now, why))
            ev.close()
        evs: dict[str, Evaluator] = {}
        for rid, r in wanted.items():
            made = kept.get(rid) or self._make(r)
            if made is not None:
                evs[rid] = made
        self._rules, self._evs = list(rules), evs
        self._rule_by_id = {r.id: r for r in rules}
        self._failed &= set(evs)
        for rid, sources in assign(self._index, self._catalog, list(evs.values())).items():
            if not sources and not evs[rid].rule.overrides:
                log.info("rule %s matches no device of the twin", rid)
            self._outbox.extend(evs[rid].bind(sources, now))
        self._route()

    def rules(self) -> list[Rule]:
        """The rules as last set (enabled or not)."""
        return list(self._rules)

    def rule(self, rule_id: str) -> Rule | None:
        """The rule of this id as last set (enabled or not), or None."""
        return self._rule_by_id.get(rule_id)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state (timers, windows, hysteresis, last values, device clocks) for a restart:
        what `snapshot_in_steps` saves, as a restart reads it back."""
        return cast(dict[str, Any], orjson.loads(finish(dumps_in_steps(finish(self.snapshot_in_steps())))))

    def snapshot_in_steps(self, chunk: int = STEP_ENTRIES) -> Generator[None, None, dict[str, Any]]:
        """The snapshot a chunk of devices or tracks at a time, yielding in between.

        With hundreds of thousands of devices a whole snapshot takes long enough to stall ingest;
        the caller on the event loop lets other work run at each yield.  Each track's state is
        taken whole, so a restart sees every timer as it was at some instant of the snapshot.
        Devices and track states come encoded already (`core.steps.Encoded`): write the whole with
        `core.steps.dumps_in_steps`.
        """
        # Encoded as they are taken (core/steps.py): the pairs, lists and dicts of every device stayed
        # in the collector's young generations while a snapshot was built, and each of its passes
        # walked them again (15-25 ms a pass with 74,000 devices).
        slots = self._slots

        def clocks(d: str) -> tuple[int, int, int] | None:
            s = slots[d]
            return (s.last_ts, s.last_recv, s.heard) if s.heard or s.last_ts >= 0 else None

        devices = yield from encode_entries_in_steps(steady_copy(slots), clocks, chunk)
        state: dict[str, Any] = {}
        for rid, ev in list(self._evs.items()):
            state[rid] = {"version": ev.rule.version, "state": (yield from ev.snapshot_in_steps(chunk))}
        return {"format": SNAPSHOT_FORMAT, "saved_ts": self._now, "devices": devices, "rules": state}

    def restore(self, snap: dict[str, Any]) -> None:
        """Load a snapshot; rules whose version changed since, and unknown devices, are skipped."""
        if snap.get("format") != SNAPSHOT_FORMAT:
            log.warning(
                "rule snapshot format %r is not %d; starting without it", snap.get("format"), SNAPSHOT_FORMAT
            )
            return
        self._now = max(self._now, int(snap.get("saved_ts", 0)))
        for dev, (last_ts, last_recv, heard) in snap.get("devices", {}).items():
            slot = self._slots.get(dev)
            if slot is not None:
                slot.last_ts, slot.last_recv, slot.heard = int(last_ts), int(last_recv), int(heard)
        for rid, data in snap.get("rules", {}).items():
            ev = self._evs.get(rid)
            if ev is None or ev.rule.version != data.get("version"):
                log.info(
                    "rule state of %s (version %s) not restored: rule changed or gone",
                    rid,
                    data.get("version"),
                )
                continue
            try:
                ev.restore(data.get("state", {}))
            except (KeyError, TypeError, ValueError, IndexError):
                log.exception("rule state of %s could not be restored; it starts over", rid)

    def status(self) -> dict[str, Any]:
        """Counters and per-rule status (sources, anomaly models) for the API's status page."""
        return {"stats": dict(self.stats), "rules": {rid: ev.status() for rid, ev in self._evs.items()}}

    def close(self) -> None:
        """Stop background training; call at shutdown."""
        for ev in self._evs.values():
            ev.close()
        if self._procs is not None:
            self._procs.shutdown(wait=False, cancel_futures=True)
            self._procs = None
        if self._threads is not None:  # a history query in flight finishes before the store closes
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None

    # --- internals -------------------------------------------------------------------------------

    def _make(self, rule: Rule) -> Evaluator | None:
        cls = REGISTRY.get(rule.type)
        if cls is None:
            log.error("rule %s has unknown type %r; known: %s", rule.id, rule.type, sorted(REGISTRY))
            return None
        return cls(rule, self)

    def _route(self) -> None:
        for slot in self._slots.values():
            slot.clear()
        self._tickers = [ev for ev in self._evs.values() if ev.needs_tick]
        for ev in self._evs.values():
            subs = ev.subscriptions()
            for dev, metric, h in subs.readings:
                self._slot(dev).handlers.setdefault(metric, []).append(h)
            for dev, metric, h in subs.late_readings:
                self._slot(dev).late.setdefault(metric, []).append(h)
                self._slot(dev).handlers.setdefault(metric, []).append(h)
            for dev, hook in subs.seen:
                self._slot(dev).seen.append(hook)
            for devs, attr in (
                (subs.detections, "det"),
                (subs.dead_letters, "dead"),
                (subs.availability, "avail"),
            ):
                for dev in devs:
                    getattr(self._slot(dev), attr).append(ev)
            for dev in {d for src in ev.sources.values() for d in src.devices}:
                self._slot(dev).watchers.append(ev)

    def _slot(self, device_id: str) -> Slot:
        slot = self._slots.get(device_id)
        if slot is None:
            slot = self._slots[device_id] = Slot()
        return slot

    def _readings(self, batch: ReadingBatch, out: list[AlarmSignal]) -> None:
        slots, late = self._slots, 0
        for dev, metric, value, ts, recv in rows(batch):
            slot = slots.get(dev)
            if slot is None:
                continue
            if recv > slot.heard:  # alive: heartbeat hooks (inlined _heard, this loop is the hot path)
                slot.heard = recv
                for hook in slot.seen:
                    seen_sig = hook(dev, recv)
                    if seen_sig is not None:
                        out.append(seen_sig)
            if ts < slot.last_ts:  # older than what was evaluated: only event rules take it
                late += 1
                handlers = slot.late.get(metric)
            else:
                slot.last_ts, slot.last_recv = ts, recv
                handlers = slot.handlers.get(metric)
            if handlers:
                for h in handlers:
                    try:
                        sig = h(ts, value)
                    except Exception as err:
                        self._handler_failed(h, dev, err, out)
                        continue
                    if sig is not None:
                        out.append(sig)
        self.stats["readings"] += len(batch)
        if late:
            self.stats["late_readings"] += late
            log.debug(
                "%d late readings (older than their device's last evaluated one) skipped by stateful rules",
                late,
            )

    def _heard(self, dev: str, slot: Slot, when: int, out: list[AlarmSignal], force: bool = False) -> None:
        """The device is alive at `when`; `force`: even if nothing newer (a birth after a last-will)."""
        if when <= slot.heard and not force:
            return
        slot.heard = when = max(when, slot.heard)
        for hook in slot.seen:
            sig = hook(dev, when)
            if sig is not None:
                out.append(sig)

    def _availability(self, ident: str, online: bool, out: list[AlarmSignal]) -> None:
        now = self._now
        if ident in self.twin.gateways:
            if online:
                return  # a gateway back brings nobody online: each device is, when next heard from
            devices, reason = self.twin.behind_gateway.get(ident, []), f"gateway {ident} last-will"
        else:
            devices, reason = [ident], "last-will" if not online else "birth"
        for dev in devices:
            slot = self._slots.get(dev)
            if slot is None:
                continue
            if online:
                self._heard(dev, slot, now, out, force=True)
                continue
            for ev in slot.avail:
                self._guard(ev, out, ev.on_availability, dev, False, now, reason)
            self._silence(dev, now, reason, out)

    def _silence(self, dev: str, now: int, reason: str, out: list[AlarmSignal]) -> None:
        slot = self._slots.get(dev)
        for ev in slot.watchers if slot is not None else ():
            if not ev.reports_silence:
                self._guard(ev, out, ev.on_silent, dev, now, reason)

    def _guard(
        self, ev: Evaluator, out: list[AlarmSignal], call: Callable[..., list[AlarmSignal]], *args: Any
    ) -> None:
        """Run an evaluator call; a failure becomes an ERROR signal, never an exception in ingest."""
        try:
            sigs = call(*args)
        except Exception as err:
            self._failure(ev, None, err, out)
            return
        out.extend(sigs)
        if ev.reports_silence:
            for sig in sigs:
                if sig.kind == SignalKind.FIRING:
                    self._silence(sig.source_id, self._now, str(sig.evidence.get("reason", "silent")), out)

    def _handler_failed(self, handler: Handler, dev: str, err: Exception, out: list[AlarmSignal]) -> None:
        owner = getattr(getattr(handler, "func", handler), "__self__", None)  # bound method or partial
        ev = getattr(owner, "ev", owner)
        if isinstance(ev, Evaluator):
            self._failure(ev, dev, err, out)
        else:
            self.stats["errors"] += 1
            log.exception("a reading handler failed on device %s", dev)

    def _failure(self, ev: Evaluator, dev: str | None, err: Exception, out: list[AlarmSignal]) -> None:
        self.stats["errors"] += 1
        rid = ev.rule.id
        if rid in self._failed:
            return
        self._failed.add(rid)
        log.exception("rule %s failed (%s); it keeps running, further failures are counted only", rid, err)
        src = ev.sources.get(dev or "") or next(iter(ev.sources.values()), None)
        if src is not None:
            msg = f"Rule {ev.rule.name} failed to evaluate: {type(err).__name__}: {err}"
            out.append(ev.emit(SignalKind.ERROR, src, self._now, msg, {"error": repr(err)}))
