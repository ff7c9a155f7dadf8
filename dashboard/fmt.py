"""Formatting for people, shared by every dashboard view."""

from __future__ import annotations

from typing import Any


def data_attrs(**attrs: str) -> dict[str, Any]:
    """HTML data-* attributes, by which scripts and tests find elements whose ids are arbitrary."""
    return {f"data-{k}": v for k, v in attrs.items()}


def fmt_value(value: float) -> str:
    """A reading: up to two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_age(ts_ms: int | None, now_ms: int) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 d ago' or 'never'."""
    if ts_ms is None:
        return "never"
    age_s = max(0, (now_ms - ts_ms) // 1000)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if age_s >= size:
            return f"{age_s // size} {unit} ago"
    return f"{age_s} s ago"


def fmt_floor(level: int | None) -> str:
    """'B1' below ground, '3F' above, 'outdoor' outside buildings."""
    if level is None:
        return "outdoor"
    return f"B{-level}" if level < 0 else f"{level}F"


def fmt_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def fmt_duration(seconds: float | None) -> str:
    """'45 s', '12 min', '3.5 h', '2.0 d'; '–' when unknown."""
    if seconds is None:
        return "–"
    s = abs(seconds)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86_400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} d"


def fmt_percent(part: float | None) -> str:
    """A 0..1 fraction as '93.5%'; '–' when unknown."""
    return "–" if part is None else f"{part * 100:.1f}%".replace(".0%", "%")
