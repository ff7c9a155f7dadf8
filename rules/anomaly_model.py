"""Anomaly models: features from bucketed readings, IsolationForest training, and explanations.

Training runs in a worker process (`fit` is a plain top-level function so a spawned process can
import it); history is read beforehand in a thread (`training_rows`), since the history store
belongs to the main process.  Features per metric and bucket: mean, min, max, and delta (mean minus
the previous bucket's mean).  "What drove it" is the robust z-score of each feature against the
training data (median, IQR / 1.349): the features furthest from typical are named in the evidence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from store.base import HistoryBackend, HistoryPoint

FEATURES = ("mean", "min", "max", "delta")


def feature_names(metrics: Sequence[str]) -> list[str]:
    return [f"{m}.{f}" for m in metrics for f in FEATURES]


def row(
    metrics: Sequence[str], now: dict[str, tuple[float, float, float]], prev_mean: dict[str, float]
) -> list[float]:
    """One feature row from per-metric (mean, min, max) of a bucket and the previous bucket's means."""
    out: list[float] = []
    for m in metrics:
        mean, lo, hi = now[m]
        out += [mean, lo, hi, mean - prev_mean[m]]
    return out


def training_rows(
    history: HistoryBackend,
    devices: Sequence[str],
    metrics: Sequence[str],
    start: int,
    end: int,
    bucket_ms: int,
) -> np.ndarray:
    """Feature rows of every device's buckets in [start, end) that have every metric and a previous bucket."""
    rows: list[list[float]] = []
    for dev in devices:
        series: dict[str, dict[int, HistoryPoint]] = {
            m: {p.ts: p for p in history.query(dev, m, start, end, bucket_ms)} for m in metrics
        }
        common = set.intersection(*(set(s) for s in series.values())) if series else set()
        for b in sorted(common):
            prev = b - bucket_ms
            if prev not in common:
                continue
            now = {m: (series[m][b].mean, series[m][b].min, series[m][b].max) for m in metrics}
            rows.append(row(metrics, now, {m: series[m][prev].mean for m in metrics}))
    return np.asarray(rows, dtype=float).reshape(-1, len(FEATURES) * len(metrics))


@dataclass
class FittedModel:
    """A trained model of one device kind, with what explanations need."""

    kind: str
    features: list[str]
    forest: Any
    median: np.ndarray
    scale: np.ndarray
    rows: int
    trained_ts: int
    contamination: float
    trained_pid: int  # the worker process that fitted it


def fit(
    x: np.ndarray,
    kind: str,
    features: list[str],
    contamination: float,
    n_estimators: int,
    seed: int,
    trained_ts: int,
) -> FittedModel:
    """Train an IsolationForest on rows x (runs in a worker process)."""
    forest = IsolationForest(
        n_estimators=n_estimators, contamination=contamination, random_state=seed, n_jobs=1
    ).fit(x)
    median = np.median(x, axis=0)
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    scale = np.where(scale > 1e-9, scale, np.std(x, axis=0))
    scale = np.where(scale > 1e-9, scale, 1.0)
    return FittedModel(kind, features, forest, median, scale, len(x), trained_ts, contamination, os.getpid())


def score(model: FittedModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(decision scores, robust z-scores) of rows x; a score below 0 is an outlier."""
    scores = np.asarray(model.forest.decision_function(x), dtype=float)
    z = (x - model.median) / model.scale
    return scores, z


def drivers(model: FittedModel, x: np.ndarray, z: np.ndarray, top: int) -> list[dict[str, Any]]:
    """The `top` features furthest from typical, with their value, typical value and z-score."""
    order = np.argsort(-np.abs(z))[:top]
    return [
        {
            "feature": model.features[i],
            "value": round(float(x[i]), 4),
            "typical": round(float(model.median[i]), 4),
            "z": round(float(z[i]), 2),
        }
        for i in order
    ]
