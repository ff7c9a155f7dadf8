"""The building as its digital twin in 3D: stacked floor slabs, spaces on them, devices at their places.

Floors that hold spaces are drawn as slabs with room above them for their devices; the storeys in
between are thin outlines, so a 30-storey tower keeps its silhouette without hiding its instrumented
floors.  Colours are those of the floor plan (dashboard.floorplan).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboard.client import Json
from dashboard.floorplan import (
    FONT,
    SYMBOL_3D,
    Rect,
    device_colour,
    device_point,
    floor_size,
    hover_text,
    is_active,
    layout_spaces,
    short_value,
)
from dashboard.fmt import fmt_floor
from dashboard.mapfig import FILL, LINE

FLOOR_H = 10.0  # height given to a floor that holds spaces (room for its devices' markers)
STOREY_H = 0.35  # height of a storey drawn as an outline only
SLAB_T = 0.5
SLAB_COLOUR = "#1d3b5c"


def storeys(building: Json) -> list[tuple[int, float, bool]]:
    """(level, z of its floor, holds spaces) for every storey, bottom up; no level 0."""
    held = {int(f["level"]) for f in building.get("floors") or [] if f.get("spaces")}
    below, above = int(building.get("floors_below") or 0), int(building.get("floors_above") or 1)
    levels = sorted({*range(-below, 0), *range(1, above + 1), *held})
    out: list[tuple[int, float, bool]] = []
    z = 0.0
    for lv in levels:
        out.append((lv, z, lv in held))
        z += FLOOR_H if lv in held else STOREY_H
    return out


class _Mesh:
    """Triangles of one colour, gathered into one Mesh3d trace."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list[float] = []
        self.z: list[float] = []
        self.tri: list[tuple[int, int, int]] = []

    def quad(self, rect: Rect, z: float) -> None:
        x0, y0, x1, y1 = rect
        n = len(self.x)
        self.x += [x0, x1, x1, x0]
        self.y += [y0, y0, y1, y1]
        self.z += [z] * 4
        self.tri += [(n, n + 1, n + 2), (n, n + 2, n + 3)]

    def box(self, rect: Rect, z0: float, z1: float) -> None:
        x0, y0, x1, y1 = rect
        n = len(self.x)
        for z in (z0, z1):
            self.x += [x0, x1, x1, x0]
            self.y += [y0, y0, y1, y1]
            self.z += [z] * 4
        faces = [(0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
        for a, b, c, d in faces:
            self.tri += [(n + a, n + b, n + c), (n + a, n + c, n + d)]

    def trace(self, colour: str, opacity: float, uid: str) -> Any:
        return go.Mesh3d(
            x=self.x,
            y=self.y,
            z=self.z,
            i=[t[0] for t in self.tri],
            j=[t[1] for t in self.tri],
            k=[t[2] for t in self.tri],
            color=colour,
            opacity=opacity,
            flatshading=True,
            hoverinfo="skip",
            uid=uid,
            showscale=False,
        )


def _outlines(building: Json, levels: list[tuple[int, float, bool]]) -> Any:
    width, depth = floor_size(building)
    xs: list[float | None] = []
    ys: list[float | None] = []
    zs: list[float | None] = []
    for _lv, z, held in levels:
        if held:
            continue
        for x, y in ((0, 0), (width, 0), (width, depth), (0, depth), (0, 0)):
            xs.append(x)
            ys.append(y)
            zs.append(z)
        xs.append(None)
        ys.append(None)
        zs.append(None)
    top = levels[-1][1] + STOREY_H if levels else 0.0
    for x, y in ((0, 0), (width, 0), (width, depth), (0, depth)):
        xs += [x, x, None]
        ys += [y, y, None]
        zs += [0.0, top, None]
    line = {"color": "#3a5f8a", "width": 2}
    return go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=line, hoverinfo="skip", uid="storeys")


def _floor_layers(
    building: Json, levels: list[tuple[int, float, bool]], worst: Json
) -> tuple[list[Any], list[tuple[float, float, float, str, str]]]:
    """Slabs (one mesh) and space tops (one mesh per alarm level); labels of the floors."""
    width, depth = floor_size(building)
    z_of = {lv: z for lv, z, held in levels if held}
    slabs = _Mesh()
    tops: dict[str, _Mesh] = {}
    labels: list[tuple[float, float, float, str, str]] = []
    for f in building.get("floors") or []:
        if not f.get("spaces"):
            continue
        z = z_of[int(f["level"])]
        slabs.box((0, 0, width, depth), z, z + SLAB_T)
        for sp_id, rect in layout_spaces(f["spaces"], width, depth).items():
            st = worst.get("spaces", {}).get(sp_id)
            tops.setdefault(str(st["worst"]) if st else "normal", _Mesh()).quad(rect, z + SLAB_T + 0.05)
        fst = worst.get("floors", {}).get(f"{building['id']}/{f['level']}")
        colour = LINE[str(fst["worst"])] if fst else "#c9d4e0"
        labels.append((-1.5, 0.0, z + 0.4, f.get("name") or fmt_floor(int(f["level"])), colour))
    traces = [slabs.trace(SLAB_COLOUR, 0.35, "slabs")]
    traces += [mesh.trace(FILL[lvl], 0.85, f"spaces-{lvl}") for lvl, mesh in tops.items()]
    return traces, labels


def _devices(
    building: Json, levels: list[tuple[int, float, bool]], live: dict[str, Json], ctx: Json, lang: str
) -> tuple[Any, list[Json]]:
    width, depth = floor_size(building)
    z_of = {lv: z for lv, z, held in levels if held}
    x: list[float] = []
    y: list[float] = []
    z: list[float] = []
    colour: list[str] = []
    symbol: list[str] = []
    text: list[str] = []
    hover: list[str] = []
    ids: list[list[str]] = []
    size: list[int] = []
    for f in building.get("floors") or []:
        rects = layout_spaces(f.get("spaces") or [], width, depth)
        for sp in f.get("spaces") or []:
            devices = sp.get("devices") or []
            for i, d in enumerate(devices):
                state = (live.get(d["id"]) or {}).get("live") or {}
                sev = ctx["device_worst"].get(d["id"])
                px, py = device_point(d, rects[sp["id"]], i, len(devices))
                x.append(px)
                y.append(py)
                z.append(z_of[int(f["level"])] + SLAB_T + (2.2 if sev else 1.4))
                colour.append(device_colour(state, sev))
                symbol.append(SYMBOL_3D.get(d["kind"], "circle"))
                text.append(short_value(d, state, lang) if sev or is_active(state) else "")
                hover.append(hover_text(d, state, sev, lang))
                ids.append([d["id"], d["kind"]])
                size.append(22 if sev in ("alarm", "emergency") else 14)
    trace = go.Scatter3d(
        x=x,
        y=y,
        z=z,
        mode="markers",
        marker={"size": size, "color": colour, "symbol": symbol, "line": {"width": 1, "color": "#0d1117"}},
        hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>",
        customdata=ids,
        uid="devices",
    )
    notes = [
        _note(px, py, pz, label, "#ffffff", 15, "center")
        for px, py, pz, label in zip(x, y, z, text, strict=True)
        if label
    ]
    return trace, notes


def _note(x: float, y: float, z: float, text: str, colour: str, size: int, anchor: str) -> Json:
    """A scene annotation: drawn as SVG over the WebGL scene (WebGL text is slow to build)."""
    return {
        "x": x,
        "y": y,
        "z": z,
        "text": text,
        "showarrow": False,
        "xanchor": anchor,
        "yshift": 16 if anchor == "center" else 0,
        "font": {"size": size, "color": colour, "family": FONT},
    }


def twin_figure(building: Json, live: dict[str, Json], ctx: Json, lang: str) -> go.Figure:
    """The building's stacked floors with spaces coloured by alarm and devices as markers."""
    levels = storeys(building)
    width, depth = floor_size(building)
    layers, labels = _floor_layers(building, levels, ctx["worst"])
    devices, notes = _devices(building, levels, live, ctx, lang)
    notes += [_note(x, y, z, text, colour, 22, "right") for x, y, z, text, colour in labels]
    fig = go.Figure(data=[_outlines(building, levels), *layers, devices])
    height = levels[-1][1] + STOREY_H if levels else 1.0
    axis = {"visible": False, "showbackground": False, "showspikes": False}
    fig.update_layout(
        showlegend=False,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="rgba(0,0,0,0)",
        scene={
            "xaxis": {**axis, "range": [-8, width + 2]},
            "yaxis": {**axis, "range": [-2, depth + 2]},
            "zaxis": {**axis, "range": [-1, height + 1]},
            # Tall towers are drawn at most 0.9 times as high as wide: the floors stay readable.
            "aspectmode": "manual",
            "aspectratio": {"x": 1, "y": depth / width, "z": min(0.9, (height + 2) / (width + 10))},
            "camera": {"eye": {"x": 1.0, "y": -1.3, "z": 0.7}, "center": {"x": 0, "y": 0, "z": -0.1}},
            "bgcolor": "rgba(0,0,0,0)",
            "annotations": notes,
        },
        hoverlabel={"bgcolor": "#161b22", "bordercolor": "#58a6ff", "font": {"color": "#e6edf3", "size": 16}},
        font={"family": FONT, "color": "#e6edf3"},
        uirevision=f"twin-{building['id']}",
    )
    return fig
