"""Anomaly rules: an IsolationForest per device kind, trained from history in a worker process.

Readings are folded into per-device buckets of `bucket_s` on the hot path (a dict lookup and a few
additions).  On tick: a model missing or older than the retrain interval is trained again (history
read in a thread, the forest fitted in a process; neither blocks ingest), and the buckets that
completed since the last tick are scored together, one batch per kind.  An outlier bucket fires with
its score and the features that drove it; the next normal bucket resolves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
from pydantic import Field

from core.alarms import AlarmSignal, Severity
from rules import anomaly_model as am
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.source import Source, fmt_duration
from twin.twin import DevicePlace

log = logging.getLogger(__name__)

_SKIP = frozenset({"battery", "rssi"})


class AnomalyRule(Rule):
    """Unusual behaviour of a device compared with its kind's history."""

    type: Literal["anomaly"] = "anomaly"
    metrics: list[str] | None = Field(
        None, description="Metrics used; unset: the kind's, without battery/rssi"
    )
    bucket_s: float = Field(300.0, ge=10, le=86_400, description="Feature window (and history bucket), s")
    train_days: float = Field(14.0, gt=0, le=365, description="History used for training, days")
    min_train_rows: int = Field(200, ge=10, description="Fewest feature rows a model is trained on")
    max_train_devices: int = Field(200, ge=1, description="Most devices of a kind read for training")
    contamination: float = Field(
        0.01, gt=0, le=0.5, description="Expected share of outliers in training data"
    )
    n_estimators: int = Field(100, ge=10, le=1000, description="Trees of the IsolationForest")
    top_features: int = Field(3, ge=1, le=20, description="Features named in the evidence")
    retrain_interval_s: float | None = Field(
        None, gt=0, description="Retrain period; unset: the engine setting"
    )
    severity: Severity = Field(Severity.WARNING, description="Severity of an anomaly")
    seed: int = Field(0, description="Random seed of the forest (reproducible models)")


class DeviceTrack(Track):
    __slots__ = ("cur", "done", "kind", "scored")

    def __init__(self, src: Source, kind: str) -> None:
        super().__init__(src)
        self.kind = kind
        self.cur: dict[str, list[float]] = {}  # metric -> [bucket, sum, n, min, max]
        self.done: dict[
            str, dict[int, tuple[float, float, float]]
        ] = {}  # metric -> bucket -> (mean, min, max)
        self.scored = -1  # newest bucket scored


@dataclass
class KindState:
    metrics: list[str]
    devices: list[str] = field(default_factory=list)
    model: am.FittedModel | None = None
    query: Future[np.ndarray] | None = None
    fitting: Future[am.FittedModel] | None = None
    next_train: int = 0


class AnomalyEvaluator(TrackedEvaluator[DeviceTrack]):
    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, AnomalyRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.bucket_ms = int(rule.bucket_s * 1000)
        self.retrain_ms = int((rule.retrain_interval_s or env.settings.anomaly_retrain_interval_s) * 1000)
        self.kinds: dict[str, KindState] = {}
        self.ready: set[str] = set()

    def _metrics(self, place: DevicePlace) -> list[str]:
        have = [m for m in place.metrics if m not in _SKIP]
        return have if self.cfg.metrics is None else [m for m in self.cfg.metrics if m in place.metrics]

    def applies_to(self, place: DevicePlace) -> bool:
        return bool(self._metrics(place))

    def make_track(self, src: Source) -> DeviceTrack:
        return DeviceTrack(src, self.env.twin.devices[src.id].kind.value)

    def bind(self, sources: Sequence[Source], now: int) -> list[AlarmSignal]:
        out = super().bind(sources, now)
        for t in self.tracks.values():
            ks = self.kinds.get(t.kind)
            if ks is None:
                ks = self.kinds[t.kind] = KindState(self._metrics(self.env.twin.devices[t.src.id]))
            ks.devices = []
        for t in self.tracks.values():
            self.kinds[t.kind].devices.append(t.src.id)
        return out

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        for t in self.tracks.values():
            for m in self.kinds[t.kind].metrics:
                subs.readings.append((t.src.id, m, partial(self.sample, t, m)))
        return subs

    def sample(self, t: DeviceTrack, metric: str, ts: int, value: float) -> None:
        b = ts - ts % self.bucket_ms
        acc = t.cur.get(metric)
        if acc is not None and acc[0] == b:
            acc[1] += value
            acc[2] += 1
            acc[3] = min(acc[3], value)
            acc[4] = max(acc[4], value)
            return
        if acc is not None:  # a new bucket began: the previous one is complete
            done = t.done.setdefault(metric, {})
            done[int(acc[0])] = (acc[1] / acc[2], acc[3], acc[4])
            for old in sorted(done)[:-2]:
                del done[old]
            if self.kinds[t.kind].model is not None:  # nothing to score with until a model exists
                self.ready.add(t.src.id)
        t.cur[metric] = [b, value, 1, value, value]

    def tick(self, now: int) -> list[AlarmSignal]:
        for kind, ks in self.kinds.items():
            self._train(kind, ks, now)
        return self._score()

    def _train(self, kind: str, ks: KindState, now: int) -> None:
        if ks.fitting is not None and ks.fitting.done():
            try:
                ks.model = ks.fitting.result()
                log.info(
                    "anomaly model for %s trained on %d rows (rule %s)", kind, ks.model.rows, self.rule.id
                )
            except Exception:
                log.exception("training the anomaly model for %s failed (rule %s)", kind, self.rule.id)
            ks.fitting = None
        if ks.query is not None and ks.query.done():
            try:
                x = ks.query.result()
            except Exception:
                log.exception("reading history for the %s anomaly model failed (rule %s)", kind, self.rule.id)
                x = np.empty((0, 0))
            ks.query = None
            if len(x) >= self.cfg.min_train_rows:
                c = self.cfg
                names = am.feature_names(ks.metrics)
                ks.fitting = self.env.process_pool().submit(
                    am.fit, x, kind, names, c.contamination, c.n_estimators, c.seed, now
                )
            else:
                log.info(
                    "anomaly model for %s not trained: %d rows of history, %d needed",
                    kind,
                    len(x),
                    self.cfg.min_train_rows,
                )
        history = self.env.history
        if history is not None and ks.query is None and ks.fitting is None and now >= ks.next_train:
            ks.next_train = now + self.retrain_ms
            step = max(1, len(ks.devices) // self.cfg.max_train_devices)
            devices = ks.devices[::step][: self.cfg.max_train_devices]
            start = now - int(self.cfg.train_days * 86_400_000)
            ks.query = self.env.thread_pool().submit(
                am.training_rows, history, devices, ks.metrics, start, now, self.bucket_ms
            )

    def _score(self) -> list[AlarmSignal]:
        batches: dict[str, list[tuple[DeviceTrack, int, list[float]]]] = {}
        for dev in self.ready:
            t = self.tracks.get(dev)
            ks = self.kinds.get(t.kind) if t is not None else None
            if t is None or ks is None or ks.model is None:
                continue
            found = self._row(t, ks.metrics)
            if found is not None:
                batches.setdefault(t.kind, []).append((t, *found))
        self.ready = set()
        out = []
        for kind, items in batches.items():
            model = self.kinds[kind].model
            assert model is not None
            x = np.asarray([r for _, _, r in items], dtype=float)
            scores, z = am.score(model, x)
            for (t, bucket, _), s, xi, zi in zip(items, scores, x, z, strict=True):
                sig = self._decide(t, bucket, float(s), xi, zi, model)
                if sig is not None:
                    out.append(sig)
        return out

    def _row(self, t: DeviceTrack, metrics: list[str]) -> tuple[int, list[float]] | None:
        """Newest completed bucket with every metric and a previous bucket, not scored yet."""
        buckets = [t.done.get(m, {}) for m in metrics]
        common = set.intersection(*(set(b) for b in buckets))
        newest = max(common, default=-1)
        if newest <= t.scored or newest - self.bucket_ms not in common:
            return None
        t.scored = newest
        now = {m: b[newest] for m, b in zip(metrics, buckets, strict=True)}
        prev = {m: b[newest - self.bucket_ms][0] for m, b in zip(metrics, buckets, strict=True)}
        return newest, am.row(metrics, now, prev)

    def _decide(
        self, t: DeviceTrack, bucket: int, s: float, x: np.ndarray, z: np.ndarray, model: am.FittedModel
    ) -> AlarmSignal | None:
        outlier = s < 0
        kind = t.decide("firing" if outlier else "idle", self.cfg.severity if outlier else None)
        if kind is None:
            return None
        top = am.drivers(model, x, z, self.cfg.top_features)
        evidence: dict[str, Any] = {
            "device": t.src.id,
            "score": round(s, 4),
            "threshold": 0.0,
            "bucket_start_ts": bucket,
            "bucket_s": self.cfg.bucket_s,
            "features": {n: round(float(v), 4) for n, v in zip(model.features, x, strict=True)},
            "drivers": top,
            "model": {
                "kind": model.kind,
                "trained_ts": model.trained_ts,
                "rows": model.rows,
                "contamination": model.contamination,
            },
        }
        span = fmt_duration(self.bucket_ms)
        if outlier:
            why = ", ".join(f"{d['feature']} {d['value']:g} (typical {d['typical']:g})" for d in top)
            msg = (
                f"Unusual readings from {t.src.name} in {t.src.space_name} over {span}: {why}; score {s:.3f}"
            )
        else:
            msg = f"Readings from {t.src.name} in {t.src.space_name} are typical again (score {s:.3f})"
        return self.emit(
            kind, t.src, bucket + self.bucket_ms, msg, evidence, self.cfg.severity if outlier else None
        )

    def status(self) -> dict[str, Any]:
        models: dict[str, Any] = {}
        for kind, ks in self.kinds.items():
            m = ks.model
            models[kind] = {
                "training": ks.query is not None or ks.fitting is not None,
                "trained_ts": m.trained_ts if m else None,
                "rows": m.rows if m else 0,
                "trained_pid": m.trained_pid if m else None,
                "features": m.features if m else am.feature_names(ks.metrics),
            }
        return {**super().status(), "models": models}

    def close(self) -> None:
        for ks in self.kinds.values():
            for fut in (ks.query, ks.fitting):
                if fut is not None:
                    fut.cancel()


PLUGIN = KindPlugin(rule=AnomalyRule, evaluator=AnomalyEvaluator)
