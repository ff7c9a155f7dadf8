"""The one-map figure: sites, buildings, outside spaces and cameras drawn from the twin's own geometry.

No base map is needed: building footprints ([lon, lat] polygons), site outlines (a rounded hull of
what the site holds) and point markers are plain Plotly scatter traces in longitude / latitude, so
the map works on an isolated network.  Colours come from the API's roll-up (GET /places/worst); this
module only draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go

from dashboard.client import Json
from dashboard.i18n import t, word
from dashboard.tiles import tile_images

Point = tuple[float, float]  # (lon, lat)

SEVERITIES = ("emergency", "alarm", "warning")
LEVELS = ("normal", "warning", "alarm", "emergency")
FILL = {
    "normal": "#1d3b5c",
    "warning": "#b8860b",
    "alarm": "#e8590c",
    "emergency": "#e5191d",
}
LINE = {"normal": "#6aa5e8", "warning": "#ffd43b", "alarm": "#ff922b", "emergency": "#ff6b6b"}
SITE_FILL = {
    "normal": "rgba(88,166,255,0.06)",
    "warning": "rgba(255,212,59,0.10)",
    "alarm": "rgba(255,146,43,0.13)",
    "emergency": "rgba(255,60,60,0.18)",
}
CAMERA = "#3bc9db"
MARKER_KINDS = ("camera", "panic_button")  # devices outside buildings drawn as their own markers
_SPACE_SYMBOL = {"septic_tank": "circle", "sewer_well": "circle", "cellar": "circle"}
_M_PER_DEG = 111_320.0


def level(status: Json | None) -> str:
    """'normal' or the worst severity of a place's roll-up."""
    return str(status["worst"]) if status else "normal"


def _offset(p: Point, east_m: float, north_m: float) -> Point:
    lon, lat = p
    return lon + east_m / (_M_PER_DEG * math.cos(math.radians(lat))), lat + north_m / _M_PER_DEG


def _hull(points: Sequence[Point]) -> list[Point]:
    """Convex hull (monotone chain), counter-clockwise."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    upper: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def site_points(site: Json) -> list[Point]:
    """Everything a site holds on the map: building outlines, outside spaces, its centre."""
    pts: list[Point] = [(site["location"]["lon"], site["location"]["lat"])]
    for b in site.get("buildings", []):
        pts.extend(building_outline(b))
    pts.extend(
        (s["location"]["lon"], s["location"]["lat"]) for s in site.get("spaces", []) if s.get("location")
    )
    return pts


def site_outline(site: Json, pad_m: float = 28.0) -> list[Point]:
    """A rounded hull around what the site holds, `pad_m` metres out."""
    ring = [(pad_m * math.cos(a), pad_m * math.sin(a)) for a in (i * math.pi / 6 for i in range(12))]
    return _hull([_offset(p, dx, dy) for p in site_points(site) for dx, dy in ring])


def building_outline(b: Json) -> list[Point]:
    """The footprint, or a 16 m square at the building's location when the twin has none."""
    if b.get("footprint"):
        return [(float(x), float(y)) for x, y in b["footprint"]]
    c = (b["location"]["lon"], b["location"]["lat"])
    return [_offset(c, dx, dy) for dx, dy in ((-8, -8), (8, -8), (8, 8), (-8, 8))]


def _rings(polys: Iterable[list[Point]]) -> tuple[list[float | None], list[float | None]]:
    """x and y of closed rings separated by None: one trace fills each ring on its own."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for poly in polys:
        for lon, lat in [*poly, poly[0]]:
            xs.append(lon)
            ys.append(lat)
        xs.append(None)
        ys.append(None)
    return xs, ys


def _fills(name: str, groups: dict[str, list[list[Point]]], fill: dict[str, str], width: float) -> list[Any]:
    traces: list[Any] = []
    for lvl in LEVELS:
        if not groups.get(lvl):
            continue
        xs, ys = _rings(groups[lvl])
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                fill="toself",
                fillcolor=fill[lvl],
                line={"color": LINE[lvl], "width": width},
                hoverinfo="skip",
                uid=f"{name}-{lvl}",
                showlegend=False,
            )
        )
    return traces


def _centre(poly: Sequence[Point]) -> Point:
    return sum(p[0] for p in poly) / len(poly), sum(p[1] for p in poly) / len(poly)


def _status_text(status: Json | None, lang: str) -> str:
    if not status:
        return t("legend.normal", lang)
    return f"{word('severity', status['worst'], lang)} × {status['active']}"


def _points(
    pts: list[tuple[Point, str, list[str], str, str]],
    *,
    uid: str,
    symbol: str,
    size: int,
    opacity: float = 1.0,
    font: int = 12,
) -> Any:
    """A marker trace; each point is (where, colour, customdata, hover text, badge text)."""
    return go.Scatter(
        x=[p[0][0] for p in pts],
        y=[p[0][1] for p in pts],
        mode="markers+text",
        marker={
            # Badges of alarms and emergencies are drawn bigger than warnings: legible from 3 m.
            "size": [size + 8 if p[1] in (FILL["alarm"], FILL["emergency"]) else size for p in pts],
            "color": [p[1] for p in pts],
            "symbol": symbol,
            "opacity": opacity,
            "line": {"width": 1.5, "color": "#0d1117"},
        },
        text=[p[4] for p in pts],
        textfont={"color": "#ffffff", "size": font, "family": "DejaVu Sans, sans-serif"},
        customdata=[p[2] for p in pts],
        hovertext=[p[3] for p in pts],
        hovertemplate="%{hovertext}<extra></extra>",
        uid=uid,
        showlegend=False,
    )


class _Layers:
    """The map's pieces gathered over the twin, then turned into traces."""

    def __init__(self) -> None:
        self.sites: dict[str, list[list[Point]]] = {}
        self.buildings: dict[str, list[list[Point]]] = {}
        self.targets: list[tuple[Point, str, list[str], str, str]] = []
        self.badges: list[tuple[Point, str, list[str], str, str]] = []
        self.spaces: list[tuple[Point, str, list[str], str, str]] = []
        self.cameras: list[tuple[Point, str, list[str], str, str]] = []
        self.labels: list[tuple[Point, str, str]] = []

    def add_site(self, site: Json, worst: Json, lang: str) -> None:
        st = worst.get("sites", {}).get(site["id"])
        outline = site_outline(site)
        self.sites.setdefault(level(st), []).append(outline)
        top = max(outline, key=lambda p: p[1])
        badge = f"  ▲{st['active']}" if st else ""
        self.labels.append(((_centre(outline)[0], top[1]), f"{site['name']}{badge}", LINE[level(st)]))
        for b in site.get("buildings", []):
            self.add_building(site, b, worst.get("buildings", {}).get(b["id"]), lang)
        for sp in site.get("spaces", []):
            if sp.get("location"):
                self.add_space(site, sp, worst.get("spaces", {}).get(sp["id"]), lang)

    def add_building(self, site: Json, b: Json, st: Json | None, lang: str) -> None:
        poly = building_outline(b)
        self.buildings.setdefault(level(st), []).append(poly)
        c = _centre(poly)
        hover = f"<b>{b['name']}</b><br>{site['name']}<br>{_status_text(st, lang)}"
        self.targets.append((c, "rgba(0,0,0,0)", ["building", b["id"]], hover, ""))
        if st:
            self.badges.append((c, FILL[level(st)], ["building", b["id"]], hover, str(st["active"])))

    def add_space(self, site: Json, sp: Json, st: Json | None, lang: str) -> None:
        where = (sp["location"]["lon"], sp["location"]["lat"])
        hover = f"<b>{sp['name']}</b><br>{site['name']}<br>{_status_text(st, lang)}"
        colour = FILL[level(st)] if st else "#8b98a9"
        self.spaces.append(
            (where, colour, ["site", site["id"], sp["id"]], hover, str(st["active"]) if st else "")
        )
        marked = [d for d in sp.get("devices", []) if d["kind"] in MARKER_KINDS]
        for i, d in enumerate(marked):
            loc = d.get("location")
            at = (
                (loc["lon"], loc["lat"])
                if loc
                else _offset(where, 9 * math.cos(i * 2.1), 9 * math.sin(i * 2.1))
            )
            name = d.get("name") or d["id"]
            self.cameras.append((at, CAMERA, ["site", site["id"], sp["id"]], f"{name}<br>{sp['name']}", ""))

    def traces(self) -> list[Any]:
        out = _fills("site", self.sites, SITE_FILL, 1.2) + _fills("building", self.buildings, FILL, 1.5)
        out.append(_points(self.cameras, uid="cameras", symbol="diamond", size=9))
        out.append(_points(self.spaces, uid="spaces", symbol="circle", size=13, font=10))
        out.append(_points(self.badges, uid="badges", symbol="circle", size=17, font=10))
        out.append(_points(self.targets, uid="targets", symbol="square", size=30, opacity=0.0))
        out.append(
            go.Scatter(
                x=[p[0][0] for p in self.labels],
                y=[p[0][1] for p in self.labels],
                mode="text",
                text=[p[1] for p in self.labels],
                textposition="top center",
                textfont={"color": [p[2] for p in self.labels], "size": 18},
                hoverinfo="skip",
                uid="labels",
                showlegend=False,
            )
        )
        return out


def map_figure(twin: Json, worst: Json, lang: str, tile_url: str | None = None) -> go.Figure:
    """Every site and building of the twin, coloured by its worst active alarm, with count badges."""
    layers = _Layers()
    for site in twin.get("sites", []):
        layers.add_site(site, worst, lang)
    points = [p for s in twin.get("sites", []) for p in site_points(s)]
    lats = [p[1] for p in points] or [0.0]
    fig = go.Figure(data=layers.traces())
    if tile_url:
        fig.update_layout(images=tile_images(tile_url, [p[0] for p in points], [p[1] for p in points]))
    axis = {"visible": False, "showgrid": False, "zeroline": False, "fixedrange": False}
    fig.update_layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        dragmode="pan",
        hovermode="closest",
        hoverlabel={"bgcolor": "#161b22", "bordercolor": "#58a6ff", "font": {"color": "#e6edf3", "size": 15}},
        uirevision="map",  # keep the operator's zoom across the 2 s refreshes
        xaxis=axis,
        # One degree of latitude is longer on the ground than one of longitude: keep shapes true.
        yaxis={**axis, "scaleanchor": "x", "scaleratio": 1 / math.cos(math.radians(sum(lats) / len(lats)))},
        font={"family": "DejaVu Sans, WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif", "color": "#e6edf3"},
    )
    return fig
