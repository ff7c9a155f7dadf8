"""The status strip: SafeTwin's own health (broker, ingest counters, history writer, system alarms)."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.client import Json
from dashboard.fmt import data_attrs, fmt_bytes


def _stat(ident: str, label: str, value: Any, tone: str = "", title: str | None = None) -> html.Div:
    return html.Div(
        [html.Span(label, className="stat-label"), html.Span(str(value), className="stat-value")],
        id=ident,
        className=f"stat {tone}".strip(),
        title=title or label,
    )


def history_text(history: Json) -> tuple[str, str]:
    """(text, tone) of the history writer's status: backend, store up or down, spool, losses."""
    parts = [str(history.get("backend", "?"))]
    tone = "ok"
    if "store_up" in history:
        parts.append("up" if history["store_up"] else "down")
        tone = "ok" if history["store_up"] else "warn"
    spooled = history.get("spooled_bytes")
    if isinstance(spooled, int | float):
        parts.append(f"spool {fmt_bytes(spooled)}" if spooled else "spool empty")
        if spooled:
            tone = "warn"
    if history.get("spool_full"):
        parts.append("spool FULL")
        tone = "bad"
    dropped = history.get("dropped_points") or 0
    if dropped:
        parts.append(f"{dropped:,} readings dropped")
        tone = "bad"
    return " · ".join(parts), tone


def status_strip(status: Json) -> list[html.Div]:
    """The counters under the title, one box each, toned ok / warn / bad."""
    ingest = status.get("ingest", {})
    history = status.get("history", {})
    hist, hist_tone = history_text(history)
    mqtt = bool(status.get("mqtt_connected"))
    alarms = status.get("alarms", [])
    dead = ingest.get("dead_letters", 0)
    unreg = ingest.get("unregistered_devices", 0)
    online = f"{status.get('devices_online', 0):,} / {status.get('devices_total', 0):,}"
    return [
        _stat("status-mqtt", "MQTT", "connected" if mqtt else "disconnected", "ok" if mqtt else "bad"),
        _stat("status-devices", "Devices online", online),
        _stat("status-readings", "Readings accepted", f"{ingest.get('accepted_readings', 0):,}"),
        _stat("status-dead-letters", "Dead letters", f"{dead:,}", "warn" if dead else ""),
        _stat("status-unregistered", "Unregistered devices", f"{unreg:,}", "warn" if unreg else ""),
        _stat("status-history", "History", hist, hist_tone, title=history.get("last_error")),
        _stat("status-alarms", "System alarms", len(alarms), "bad" if alarms else "ok"),
    ]


def alarm_list(status: Json) -> list[html.Div]:
    """Alarms about SafeTwin itself, each with what to do."""
    return [
        html.Div(
            [
                html.Span(str(a.get("severity", "")).upper(), className="sys-alarm-severity"),
                html.Span(str(a.get("message", "")), className="sys-alarm-message"),
            ],
            className=f"sys-alarm {a.get('severity', 'warning')}",
            **data_attrs(alarm=str(a.get("key", ""))),
        )
        for a in status.get("alarms", [])
    ]
