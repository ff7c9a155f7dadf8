"""Camera events: the latest detections of SafeTwin's video analytics, with their snapshots."""

from __future__ import annotations

import time
from typing import Any

from dash import html

from dashboard.client import Json
from dashboard.fmt import data_attrs
from dashboard.i18n import t
from dashboard.twincache import Names


def event_card(event: Json, names: Names, snapshot_prefix: str) -> html.Div:
    """One detection: snapshot, label, camera, zones, score, time."""
    det = event["detection"]
    url = det.get("snapshot_url")
    img: Any = (
        html.Img(src=f"{snapshot_prefix}{url}", className="snapshot", alt=det.get("label", ""))
        if url
        else html.Div(className="snapshot none")
    )
    when = time.strftime("%H:%M:%S", time.localtime(int(det["ts"]) / 1000))
    zones = " · ".join(det.get("zones") or [])
    return html.Div(
        [
            img,
            html.Div(
                [html.Strong(det.get("label", "")), html.Span(f"{det.get('type', '')}", className="muted")],
                className="event-head",
            ),
            html.Div(names.name(event["camera_id"]), className="event-camera"),
            html.Div(
                [
                    html.Span(zones),
                    html.Span(f"{float(det.get('top_score') or det.get('score') or 0):.2f}"),
                    html.Span(when),
                ],
                className="event-meta",
            ),
        ],
        className=f"event-card {det.get('type', '')}",
        **data_attrs(event=str(det.get("event_id", ""))),
    )


def event_grid(events: list[Json] | None, names: Names, snapshot_prefix: str, lang: str) -> list[Any]:
    """The newest events first; a note when analytics are off or quiet."""
    if events is None:
        return [html.P(t("cameras.off", lang), className="muted empty")]
    if not events:
        return [html.P(t("cameras.none", lang), className="muted empty")]
    # One card per event: the newest message of each (start, update, end) wins.
    seen: dict[str, Json] = {}
    for e in events:
        seen.setdefault(str(e["detection"].get("event_id")), e)
    return [html.Div([event_card(e, names, snapshot_prefix) for e in seen.values()], className="event-grid")]
