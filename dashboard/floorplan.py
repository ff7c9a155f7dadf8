"""The floor plan of one floor: its spaces as rectangles, its devices at their `position`, live values.

The twin gives a building's footprint (the floor's size) and each device's `position` as fractions of
its space; spaces have no drawn outline, so they are laid out as rectangles across the floor (one
row for up to three spaces, two rows beyond), wider for more devices.  Colours: a space by its worst
active alarm, a device by its own worst alarm, else by its health; an actuator that runs, is open or
plays has a cyan ring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import plotly.graph_objects as go

from dashboard.client import Json
from dashboard.fmt import fmt_value
from dashboard.i18n import t, word
from dashboard.mapfig import FILL, LINE, SITE_FILL

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in metres; y runs down the plan

HEALTH_COLOUR = {"ok": "#3fb950", "offline": "#6e7681", "unknown": "#6e7681", "fault": "#a371f7"}
ACTIVE_RING = "#3bc9db"
SYMBOL = {
    "fan": "hexagram",
    "valve": "diamond",
    "relay": "square",
    "speaker": "triangle-up",
    "camera": "square",
}
SYMBOL_3D = {
    "fan": "diamond",
    "valve": "diamond",
    "relay": "diamond",
    "speaker": "diamond",
    "camera": "square",
}
DEFAULT_SIZE_M = (36.0, 22.0)
GAP_M = 0.8
_RANK = {"warning": 1, "alarm": 2, "emergency": 3}
_M_PER_DEG = 111_320.0
FONT = "DejaVu Sans, WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif"


def floor_size(building: Json) -> tuple[float, float]:
    """(width, depth) of a floor in metres from the footprint's first two edges; wider first."""
    pts = building.get("footprint") or []
    if len(pts) < 3:
        return DEFAULT_SIZE_M
    lat = math.radians(float(pts[0][1]))

    def metres(a: list[float], b: list[float]) -> float:
        dx = (b[0] - a[0]) * _M_PER_DEG * math.cos(lat)
        return math.hypot(dx, (b[1] - a[1]) * _M_PER_DEG)

    e1, e2 = metres(pts[0], pts[1]), metres(pts[1], pts[2])
    return (max(e1, e2, 4.0), max(min(e1, e2), 4.0))


def layout_spaces(spaces: list[Json], width: float, depth: float) -> dict[str, Rect]:
    """A rectangle per space: one row for up to three spaces, else two; width grows with devices."""
    if not spaces:
        return {}
    rows = 1 if len(spaces) <= 3 else 2
    per_row = math.ceil(len(spaces) / rows)
    out: dict[str, Rect] = {}
    row_h = depth / rows
    for r in range(rows):
        mine = spaces[r * per_row : (r + 1) * per_row]
        weights = [max(2, len(sp.get("devices") or [])) for sp in mine]
        x = 0.0
        for sp, w in zip(mine, weights, strict=True):
            span = width * w / sum(weights)
            out[sp["id"]] = (
                x + GAP_M / 2,
                r * row_h + GAP_M / 2,
                x + span - GAP_M / 2,
                (r + 1) * row_h - GAP_M / 2,
            )
            x += span
    return out


def device_point(device: Json, rect: Rect, index: int, count: int) -> tuple[float, float]:
    """Where a device sits: its `position` inside its space, else spread along the space's middle."""
    x0, y0, x1, y1 = rect
    pos = device.get("position")
    fx, fy = (float(pos["x"]), float(pos["y"])) if pos else ((index + 1) / (count + 1), 0.5)
    return x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)


def worst_by_device(alarms: list[Json]) -> dict[str, str]:
    """The worst active alarm severity per source device."""
    out: dict[str, str] = {}
    for a in alarms:
        sev, src = str(a["severity"]), str(a["source_id"])
        if _RANK.get(sev, 0) > _RANK.get(out.get(src, ""), 0):
            out[src] = sev
    return out


def is_active(live: Json) -> bool:
    """An actuator that runs, is open or plays."""
    st = live.get("actuator_state") or {}
    return bool(st.get("on") or st.get("open") or st.get("playing"))


def device_colour(live: Json, severity: str | None) -> str:
    """Its alarm's colour, else its health's."""
    if severity:
        return FILL[severity]
    return HEALTH_COLOUR.get(str(live.get("health")), HEALTH_COLOUR["unknown"])


def short_value(device: Json, live: Json, lang: str) -> str:
    """The one value worth reading from across a room: the main metric, or the actuator's state."""
    st = live.get("actuator_state")
    if st:
        if "open" in st:
            return t("ctl.open" if st["open"] else "ctl.shut", lang)
        if "playing" in st:
            return t("ctl.playing" if st["playing"] else "ctl.silent", lang)
        if "on" in st:
            return t("ctl.running" if st["on"] else "ctl.stopped", lang)
    values: Json = live.get("values") or {}
    main = [m for m in values if m not in ("battery", "rssi")]
    if not main:
        return ""
    v = values[main[0]]
    return f"{fmt_value(float(v['value']))} {v['unit']}".strip()


def hover_text(device: Json, live: Json, severity: str | None, lang: str) -> str:
    """Name, kind, every live value, health, alarm."""
    lines = [f"<b>{device.get('name') or device['id']}</b>", word("kind", device["kind"], lang)]
    for m, v in (live.get("values") or {}).items():
        lines.append(f"{m}: {fmt_value(float(v['value']))} {v['unit']}")
    if live.get("actuator_state"):
        lines.append(", ".join(f"{k}={v}" for k, v in live["actuator_state"].items()))
    lines.append(t(f"health.{live.get('health', 'unknown')}", lang))
    if severity:
        lines.append(word("severity", severity, lang))
    return "<br>".join(lines)


@dataclass
class Marks:
    """Device markers gathered for one trace."""

    x: list[float]
    y: list[float]
    colour: list[str]
    ring: list[str]
    symbol: list[str]
    text: list[str]
    hover: list[str]
    ids: list[list[str]]
    size: list[int]

    @classmethod
    def empty(cls) -> Marks:
        return cls([], [], [], [], [], [], [], [], [])


def floor_marks(floor: Json, rects: dict[str, Rect], live: dict[str, Json], ctx: Json, lang: str) -> Marks:
    """The floor's devices as markers at their places, with colours, labels and hover text."""
    marks = Marks.empty()
    for sp in floor.get("spaces") or []:
        devices = sp.get("devices") or []
        for i, d in enumerate(devices):
            state = (live.get(d["id"]) or {}).get("live") or {}
            sev = ctx["device_worst"].get(d["id"])
            x, y = device_point(d, rects[sp["id"]], i, len(devices))
            marks.x.append(x)
            marks.y.append(y)
            marks.colour.append(device_colour(state, sev))
            marks.ring.append(ACTIVE_RING if is_active(state) else "#0d1117")
            marks.symbol.append(SYMBOL.get(d["kind"], "circle"))
            marks.text.append(short_value(d, state, lang))
            marks.hover.append(hover_text(d, state, sev, lang))
            marks.ids.append([d["id"], d["kind"]])
            marks.size.append(40 if sev in ("alarm", "emergency") else 30)
    return marks


def _space_shapes(floor: Json, rects: dict[str, Rect], worst: Json) -> tuple[list[Json], list[Json]]:
    shapes: list[Json] = []
    notes: list[Json] = []
    for sp in floor.get("spaces") or []:
        st = worst.get("spaces", {}).get(sp["id"])
        lvl = str(st["worst"]) if st else "normal"
        x0, y0, x1, y1 = rects[sp["id"]]
        shapes.append(
            {
                "type": "rect",
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "fillcolor": SITE_FILL[lvl] if lvl != "normal" else "rgba(88,166,255,0.07)",
                "line": {"color": LINE[lvl], "width": 3 if st else 1.5},
                "layer": "below",
            }
        )
        badge = f"  ▲{st['active']}" if st else ""
        notes.append(
            {
                "x": x0 + 0.4,
                "y": y0 + 0.3,
                "xanchor": "left",
                "yanchor": "top",
                "text": f"{sp['name']}{badge}",
                "showarrow": False,
                "font": {"size": 20, "color": LINE[lvl] if st else "#c9d4e0"},
            }
        )
    return shapes, notes


def floor_figure(building: Json, floor: Json, live: dict[str, Json], ctx: Json, lang: str) -> go.Figure:
    """One floor: outline, spaces coloured by alarm, devices at their places with live values."""
    width, depth = floor_size(building)
    rects = layout_spaces(floor.get("spaces") or [], width, depth)
    shapes, notes = _space_shapes(floor, rects, ctx["worst"])
    outline = {"type": "rect", "x0": 0, "y0": 0, "x1": width, "y1": depth, "layer": "below"}
    outline |= {"fillcolor": "#0f1722", "line": {"color": "#3a5f8a", "width": 2}}
    m = floor_marks(floor, rects, live, ctx, lang)
    trace = go.Scatter(
        x=m.x,
        y=m.y,
        mode="markers+text",
        marker={"size": m.size, "color": m.colour, "symbol": m.symbol, "line": {"width": 4, "color": m.ring}},
        text=m.text,
        textposition="bottom center",
        textfont={"size": 18, "color": "#e6edf3", "family": FONT},
        hovertext=m.hover,
        hovertemplate="%{hovertext}<extra></extra>",
        customdata=m.ids,
        uid="devices",
        showlegend=False,
    )
    fig = go.Figure(data=[trace])
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(
        shapes=[outline, *shapes],
        annotations=notes,
        margin={"l": 4, "r": 4, "t": 4, "b": 4},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={**axis, "range": [-0.5, width + 0.5]},
        yaxis={**axis, "range": [depth + 1.5, -0.5], "scaleanchor": "x", "scaleratio": 1},
        hovermode="closest",
        hoverlabel={"bgcolor": "#161b22", "bordercolor": "#58a6ff", "font": {"color": "#e6edf3", "size": 16}},
        font={"family": FONT, "color": "#e6edf3"},
        uirevision=f"floor-{building['id']}-{floor['level']}",
        dragmode="pan",
    )
    return fig
