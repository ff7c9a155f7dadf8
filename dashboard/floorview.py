"""A building's digital-twin pages: floor plans (`/building/<id>/floor/<n>`) and a 3D view (`.../3d`).

Both refresh every 2 s from GET /buildings/{id}, /devices?building=, /places/worst and /alarms; a
click on an actuator opens its control panel (when the user may command devices), on any other
device its trend.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import httpx
from dash import Input, Output, State, dcc, html

from dashboard.access import ACTUATORS, allowed, permissions
from dashboard.client import ApiClient, ApiError, Json
from dashboard.controls import ACTUATOR_KINDS, control_panel
from dashboard.floorplan import ACTIVE_RING, HEALTH_COLOUR, floor_figure, worst_by_device
from dashboard.fmt import data_attrs, fmt_floor
from dashboard.i18n import lang_of, t
from dashboard.mapfig import FILL
from dashboard.twin3d import twin_figure

REFRESH_MS = 2000
_ERRORS = (httpx.HTTPError, ApiError, KeyError, ValueError)


def twin_path(building_id: str, view: str, level: int | None = None) -> str:
    """The path of a building's floor plan (view 'floor') or 3D view ('3d')."""
    return f"/building/{building_id}/3d" if view == "3d" else f"/building/{building_id}/floor/{level}"


def twin_frame(building_id: str, view: str, level: int | None, lang: str) -> html.Div:
    """The page's frame; the head (floors, links) and the figure are filled by the refresh."""
    graph = dcc.Graph(
        id="twin-graph",
        figure={},
        className="twin-graph",
        config={"displayModeBar": False, "scrollZoom": True, "doubleClick": "reset"},
        style={"height": "100%", "width": "100%"},
    )
    return html.Div(
        [
            dcc.Link(t("back.building", lang), href=f"/building/{building_id}", className="back"),
            html.Div(id="twin-head", className="twin-head"),
            html.Section([graph, _legend(view, lang)], className="twin-panel"),
            control_panel(),
            dcc.Store(id="twin-target", data={"id": building_id, "view": view, "level": level}),
            dcc.Interval(id="twin-refresh", interval=REFRESH_MS, n_intervals=0),
        ],
        className=f"twin-page view-{view}",
        **data_attrs(twin=f"{building_id}:{view}:{level}"),
    )


def _legend(view: str, lang: str) -> html.Div:
    colours = [(FILL[s], t(f"kpi.{s}", lang)) for s in ("emergency", "alarm", "warning")]
    colours += [
        (HEALTH_COLOUR["ok"], t("health.ok", lang)),
        (HEALTH_COLOUR["offline"], t("health.offline", lang)),
        (HEALTH_COLOUR["fault"], t("health.fault", lang)),
    ]
    items = [
        html.Span([html.I(style={"background": c}), text], className="legend-item") for c, text in colours
    ]
    items.append(
        html.Span(
            [html.I(className="ring", style={"borderColor": ACTIVE_RING}), t("legend.active", lang)],
            className="legend-item",
        )
    )
    hint = t("twin.hint", lang) if view == "3d" else t("floor.hint", lang)
    return html.Div([*items, html.Span(hint, className="legend-hint")], className="legend twin-legend")


def read_building(client: ApiClient, building_id: str) -> tuple[Json, dict[str, Json], Json]:
    """The building, its devices' live states by id, and the alarm context (roll-up, worst per device)."""
    b = client.get(f"/buildings/{building_id}")
    devices = client.get("/devices", building=building_id, limit=1000)["items"]
    worst = client.optional("/places/worst", {})
    alarms = client.optional("/alarms", {"items": []}, state=["active"], site=b["site"], limit=1000)["items"]
    ctx = {"worst": worst, "device_worst": worst_by_device(alarms), "now": int(time.time() * 1000)}
    return b, {d["id"]: d for d in devices}, ctx


def _floor_links(b: Json, view: str, level: int | None, worst: Json, lang: str) -> list[Any]:
    links: list[Any] = []
    for f in sorted(b.get("floors") or [], key=lambda f: -int(f["level"])):
        if not f.get("spaces"):
            continue
        st = worst.get("floors", {}).get(f"{b['id']}/{f['level']}")
        lvl = str(st["worst"]) if st else "normal"
        here = view == "floor" and int(f["level"]) == level
        links.append(
            dcc.Link(
                f.get("name") or fmt_floor(int(f["level"])),
                href=twin_path(b["id"], "floor", int(f["level"])),
                className=f"floor-link {lvl}{' here' if here else ''}",
            )
        )
    cls = "floor-link view3d here" if view == "3d" else "floor-link view3d"
    links.append(dcc.Link(t("twin.3d", lang), href=twin_path(b["id"], "3d"), className=cls))
    return links


def twin_head(b: Json, view: str, level: int | None, worst: Json, lang: str) -> list[Any]:
    """Building name, the floor or '3D', and links to every instrumented floor and the 3D view."""
    floor = next((f for f in b.get("floors") or [] if int(f["level"]) == level), None)
    where = t("twin.3d", lang) if view == "3d" else (floor or {}).get("name") or fmt_floor(level)
    return [
        html.H2([b["name"], html.Span(f" · {where}", className="muted")]),
        html.Nav(_floor_links(b, view, level, worst, lang), className="floor-links"),
    ]


def twin_content(client: ApiClient, target: Json, lang: str) -> tuple[Any, list[Any]]:
    """The figure and the head of the page at `target` ({id, view, level})."""
    b, live, ctx = read_building(client, target["id"])
    view, level = target["view"], target.get("level")
    head = twin_head(b, view, level, ctx["worst"], lang)
    if view == "3d":
        return twin_figure(b, live, ctx, lang), head
    floor = next((f for f in b.get("floors") or [] if int(f["level"]) == level), None)
    if floor is None:
        return dash.no_update, [*head, html.P(t("floor.none", lang), className="muted")]
    return floor_figure(b, floor, live, ctx, lang), head


def register_twin_pages(app: dash.Dash, client: ApiClient) -> None:
    """Refresh of the floor plan and 3D view; clicks on their devices."""

    def refresh(_n: int, target: Json, lang: str | None) -> tuple[Any, Any]:
        try:
            return twin_content(client, target, lang_of(lang))
        except _ERRORS as err:
            return dash.no_update, [html.H2(str(err))]

    app.callback(
        Output("twin-graph", "figure"),
        Output("twin-head", "children"),
        Input("twin-refresh", "n_intervals"),
        State("twin-target", "data"),
        State("lang", "data"),
    )(refresh)

    def click(data: Json | None) -> tuple[Any, Any]:
        points = (data or {}).get("points") or []
        ident = points[0].get("customdata") if points else None
        if not ident:
            return dash.no_update, dash.no_update
        device_id, kind = str(ident[0]), str(ident[1])
        if kind in ACTUATOR_KINDS and allowed(permissions(client), ACTUATORS):
            return device_id, dash.no_update
        return dash.no_update, f"/device/{device_id}"

    app.callback(
        Output("ctl-device", "data", allow_duplicate=True),
        Output("url", "pathname", allow_duplicate=True),
        Input("twin-graph", "clickData"),
        prevent_initial_call=True,
    )(click)
