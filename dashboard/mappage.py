"""The big-screen home: one map, a KPI strip and the live alarm list, refreshed every 1.5 s.

Everything comes from the API: the twin's geometry (GET /twin, cached), the roll-up of active alarms
per place (GET /places/worst), open alarms (GET /alarms), KPIs (GET /kpis), the key-supervision list
(GET /parties/key-supervision) and platform status (GET /status).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import dash
import httpx
from dash import Input, Output, State, dcc, html

from dashboard.access import ALARMS, allowed, permissions
from dashboard.alarmlist import OPEN_STATES, alarm_table, unacked_emergencies
from dashboard.client import ApiClient, ApiError, Json
from dashboard.fmt import fmt_duration, fmt_percent
from dashboard.i18n import t
from dashboard.mapfig import CAMERA, FILL, LEVELS, map_figure
from dashboard.twincache import TwinCache

log = logging.getLogger(__name__)

REFRESH_MS = 1500
ALARM_FETCH = 1000  # the API's largest page


@dataclass
class Situation:
    """What one refresh of the map page read from the API."""

    status: Json = field(default_factory=dict)
    worst: Json | None = None  # None: alarms are not running
    alarms: list[Json] = field(default_factory=list)
    alarms_total: int = 0
    kpis: Json | None = None
    key_parties: list[Json] = field(default_factory=list)


def read_situation(client: ApiClient) -> Situation:
    """One consistent-enough read of everything the page shows."""
    worst = client.optional("/places/worst", None)
    sit = Situation(status=client.status(), worst=worst)
    if worst is None:
        return sit
    page = client.get("/alarms", state=list(OPEN_STATES), limit=ALARM_FETCH)
    sit.alarms, sit.alarms_total = page["items"], int(page["total"])
    sit.kpis = client.optional("/kpis", None)
    sit.key_parties = client.optional("/parties/key-supervision", [])
    return sit


def _kpi(ident: str, label: str, value: str, tone: str = "", title: str | None = None) -> html.Div:
    return html.Div(
        [html.Span(value, className="kpi-value"), html.Span(label, className="kpi-label")],
        id=ident,
        className=f"kpi {tone}".strip(),
        title=title or label,
    )


def kpi_strip(sit: Situation, lang: str) -> list[html.Div]:
    """Active alarms by severity, devices online, closure rate, time to close, overdue, key parties."""
    active = [a for a in sit.alarms if a["state"] == "active"]
    by_sev = {s: sum(1 for a in active if a["severity"] == s) for s in ("emergency", "alarm", "warning")}
    more = "+" if sit.alarms_total > len(sit.alarms) else ""
    total, online = sit.status.get("devices_total", 0), sit.status.get("devices_online", 0)
    k = sit.kpis or {}
    overdue = int(k.get("open_overdue_work_orders") or 0)
    boxes = [
        _kpi(f"kpi-{s}", t(f"kpi.{s}", lang), f"{n:,}{more}", s if n else "quiet") for s, n in by_sev.items()
    ]
    boxes += [
        _kpi(
            "kpi-online",
            t("kpi.online", lang),
            fmt_percent(online / total if total else None),
            title=f"{online:,} / {total:,}",
        ),
        _kpi("kpi-closure", t("kpi.closure", lang), fmt_percent(k.get("closure_rate"))),
        _kpi("kpi-mttc", t("kpi.mttc", lang), fmt_duration(k.get("mean_time_to_close_s"))),
        _kpi("kpi-overdue", t("kpi.overdue", lang), str(overdue), "alarm" if overdue else ""),
        _kpi(
            "kpi-key",
            t("kpi.key", lang),
            str(len(sit.key_parties)),
            "warning" if sit.key_parties else "",
            title=", ".join(p["name"] for p in sit.key_parties),
        ),
    ]
    return boxes


def _legend(lang: str) -> html.Div:
    items = [
        html.Span(
            [
                html.I(style={"background": FILL[lvl]}),
                t(f"legend.{lvl}", lang) if lvl == "normal" else t(f"kpi.{lvl}", lang),
            ],
            className="legend-item",
        )
        for lvl in LEVELS
    ]
    items.append(html.Span([html.I(className="dot"), t("legend.space", lang)], className="legend-item"))
    items.append(
        html.Span(
            [html.I(className="diamond", style={"background": CAMERA}), t("legend.camera", lang)],
            className="legend-item",
        )
    )
    return html.Div([*items, html.Span(t("map.hint", lang), className="legend-hint")], className="legend")


def figure_key(twin: Json, worst: Json, lang: str) -> str:
    """Changes when the figure would: the roll-up, the language or the twin's sites."""
    text = json.dumps([worst, lang, [s["id"] for s in twin.get("sites", [])]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def first_figure(
    client: ApiClient, twins: TwinCache, lang: str, tile_url: str | None = None
) -> tuple[Any, str | None]:
    """The map drawn with the page itself (no wait for the first refresh), or nothing if the API fails."""
    try:
        twin, _names = twins.get()
        worst = client.optional("/places/worst", None) or {}
    except (httpx.HTTPError, ApiError, KeyError, ValueError):
        return {}, None
    return map_figure(twin, worst, lang, tile_url), figure_key(twin, worst, lang)


def map_page(lang: str, figure: Any = None, key: str | None = None) -> html.Div:
    """The page's frame, with the map when given; the refresh callback fills the rest."""
    graph = dcc.Graph(
        id="map",
        figure=figure or {},
        className="map-graph",
        config={"displayModeBar": False, "scrollZoom": True, "doubleClick": "reset"},
        style={"height": "100%", "width": "100%"},
    )
    alarms = html.Aside(
        [
            html.Header(
                [
                    html.H2([t("alarms.title", lang), html.Span(id="alarm-count", className="count")]),
                    dcc.Input(
                        id="assignee",
                        placeholder=t("assignee.hint", lang),
                        className="assignee-input",
                        persistence=True,
                        persistence_type="local",
                        debounce=False,
                    ),
                ]
            ),
            html.Div(id="action-msg", className="action-msg"),
            html.Div(id="alarm-rows", className="alarm-rows"),
        ],
        className="alarm-panel",
    )
    return html.Div(
        [
            html.Div(id="emergency-banner", className="emergency-banner"),
            html.Div(id="kpi-strip", className="kpi-strip"),
            html.Section([graph, _legend(lang)], className="map-panel"),
            alarms,
            dcc.Interval(id="map-refresh", interval=REFRESH_MS, n_intervals=0),
            dcc.Store(id="map-key", data=key),
        ],
        className="map-page",
    )


def _banner(sit: Situation, emergencies: list[str], lang: str) -> list[Any]:
    if not emergencies:
        return []
    first = next(a for a in sit.alarms if a["id"] == emergencies[0])
    return [html.Strong(f"⚠ {t('emergency.banner', lang)} × {len(emergencies)}"), html.Span(first["message"])]


def register_map_page(
    app: dash.Dash, client: ApiClient, twins: TwinCache, tile_url: str | None = None
) -> None:
    """The page's refresh: figure (only when the roll-up or language changed), KPIs, alarm list."""

    def refresh(_n: int, lang: str, known: str | None) -> tuple[Any, ...]:
        try:
            twin, names = twins.get()
            sit = read_situation(client)
        except (httpx.HTTPError, ApiError, KeyError, ValueError) as err:
            log.warning("map page cannot read the API: %s", err)
            return (dash.no_update,) * 8 + (f"{t('api.error', lang)}{err}",)
        worst = sit.worst or {}
        fig_key = figure_key(twin, worst, lang)
        fig = map_figure(twin, worst, lang, tile_url) if fig_key != known else dash.no_update
        now_ms = int(time.time() * 1000)
        rows = (
            alarm_table(
                sit.alarms, sit.alarms_total, names, now_ms, lang, allowed(permissions(client), ALARMS)
            )
            if sit.worst is not None
            else [html.P(t("alarms.off", lang), className="muted empty")]
        )
        emergencies = unacked_emergencies(sit.alarms)
        return (
            fig,
            fig_key,
            kpi_strip(sit, lang),
            rows,
            f" {sit.alarms_total:,}",
            _banner(sit, emergencies, lang),
            emergencies,
            time.strftime("%H:%M:%S", time.localtime(now_ms / 1000)),
            None,
        )

    app.callback(
        Output("map", "figure"),
        Output("map-key", "data"),
        Output("kpi-strip", "children"),
        Output("alarm-rows", "children"),
        Output("alarm-count", "children"),
        Output("emergency-banner", "children"),
        Output("emergencies", "data"),
        Output("updated", "children", allow_duplicate=True),
        Output("api-error", "children", allow_duplicate=True),
        Input("map-refresh", "n_intervals"),
        State("lang", "data"),
        State("map-key", "data"),
        prevent_initial_call="initial_duplicate",
    )(refresh)

    def drill(click: Json | None) -> Any:
        points = (click or {}).get("points") or []
        data = points[0].get("customdata") if points else None
        if not data:
            return dash.no_update
        return f"/{data[0]}/{data[1]}"

    app.callback(
        Output("url", "pathname", allow_duplicate=True), Input("map", "clickData"), prevent_initial_call=True
    )(drill)
