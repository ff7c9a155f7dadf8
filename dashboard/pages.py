"""Routing and refresh of the pages below the map: drill-down, device trends, work orders, camera events."""

from __future__ import annotations

import logging
import time
from typing import Any

import dash
import httpx
from dash import Input, Output, State, dcc, html

from dashboard.access import ORDERS, allowed, permissions
from dashboard.cameras import event_grid
from dashboard.client import ApiClient, ApiError, Json
from dashboard.drill import building_body, drill_frame, site_body
from dashboard.floorview import twin_frame
from dashboard.i18n import lang_of, t
from dashboard.orders import order_board, orders_frame
from dashboard.trends import trend_figure, trend_frame
from dashboard.twincache import TwinCache

log = logging.getLogger(__name__)

REFRESH_MS = 2000
ORDER_STATES = ["created", "signed", "assigned", "handled", "verified"]
_ERRORS = (httpx.HTTPError, ApiError, KeyError, ValueError)


def _note(text: str) -> html.Div:
    return html.Div([html.H2(text)], className="notfound")


def _live_frame(ident: str, title: str) -> html.Div:
    return html.Div(
        [
            html.H2(title),
            html.Div(id=f"{ident}-body"),
            dcc.Interval(id=f"{ident}-refresh", interval=REFRESH_MS),
        ],
        className=f"{ident}-page",
    )


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def page_for(path: str, lang: str, client: ApiClient | None = None) -> Any:
    """The page at `path`, or a note that there is none."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["building"] and parts[2:] == ["3d"]:
        return twin_frame(parts[1], "3d", None, lang)
    if parts[:1] == ["building"] and len(parts) == 4 and parts[2] == "floor" and _is_int(parts[3]):
        return twin_frame(parts[1], "floor", int(parts[3]), lang)
    if len(parts) == 2 and parts[0] in ("building", "site"):
        return drill_frame(parts[0], parts[1], lang)
    if len(parts) == 2 and parts[0] == "device" and client is not None:
        try:
            return trend_frame(client.get(f"/devices/{parts[1]}"), lang)
        except _ERRORS as err:
            return _note(str(err))
    if parts == ["orders"]:
        return orders_frame(lang, REFRESH_MS)
    if parts == ["cameras"]:
        return _live_frame("cameras", t("cameras.title", lang))
    return html.Div([html.H2(t("notfound", lang)), html.P(path, className="muted")], className="notfound")


def register_pages(app: dash.Dash, client: ApiClient, twins: TwinCache) -> None:
    """The callbacks of every page routed here."""

    def drill(_n: int, target: Json, lang: str) -> Any:
        try:
            if target["kind"] == "building":
                return building_body(client, target["id"], lang_of(lang))
            return site_body(client, target["id"], lang_of(lang))
        except _ERRORS as err:
            return _note(str(err))

    app.callback(
        Output("drill-body", "children"),
        Input("drill-refresh", "n_intervals"),
        State("drill-target", "data"),
        State("lang", "data"),
    )(drill)

    def trend(metric: str, hours: int, device: str, lang: str) -> Any:
        end = int(time.time() * 1000)
        try:
            history = client.get(
                f"/devices/{device}/history", metric=metric, start=end - hours * 3_600_000, end=end
            )
        except _ERRORS as err:
            history = {"points": [], "metric": metric, "unit": str(err)}
        return trend_figure(history, lang_of(lang))

    app.callback(
        Output("trend-graph", "figure"),
        Input("trend-metric", "value"),
        Input("trend-hours", "value"),
        State("trend-device", "data"),
        State("lang", "data"),
    )(trend)

    def orders(_n: int | None, lang: str) -> Any:
        try:
            _twin, names = twins.get()
            page = client.optional("/work-orders", None, state=ORDER_STATES, limit=1000)
        except _ERRORS as err:
            return _note(str(err))
        if page is None:
            return _note(t("alarms.off", lang_of(lang)))
        act = allowed(permissions(client), ORDERS)
        return order_board(page["items"], names, int(time.time() * 1000), lang_of(lang), act)

    app.callback(
        Output("orders-body", "children"), Input("orders-refresh", "n_intervals"), State("lang", "data")
    )(orders)

    def cameras(_n: int | None, lang: str) -> Any:
        try:
            _twin, names = twins.get()
            page = client.optional("/vision/events", None, limit=120)
        except _ERRORS as err:
            return _note(str(err))
        return event_grid(None if page is None else page["items"], names, "", lang_of(lang))

    app.callback(
        Output("cameras-body", "children"), Input("cameras-refresh", "n_intervals"), State("lang", "data")
    )(cameras)
