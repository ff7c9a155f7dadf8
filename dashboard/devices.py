"""The device list page: every site, building and device with live values (the first dashboard view)."""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard.client import ApiClient
from dashboard.overview import live_payload, overview, structure_key
from dashboard.status import alarm_list, status_strip

REFRESH_MS = 2000


def devices_page() -> html.Div:
    """The page's frame; the refresh callback fills it, live.js writes the values into the rows."""
    return html.Div(
        [
            html.Div(id="status-strip", className="status-strip"),
            html.Div(id="system-alarms", className="alarms"),
            html.Main(id="sites", className="sites"),
            dcc.Interval(id="refresh", interval=REFRESH_MS, n_intervals=0),
            dcc.Store(id="structure-key"),
            dcc.Store(id="live"),
            dcc.Store(id="live-applied"),
        ],
        className="devices-page",
    )


def register_devices_page(app: dash.Dash, client: ApiClient) -> None:
    def refresh(_n: int, known_key: str | None) -> tuple[Any, ...]:
        snap = client.snapshot()
        if snap.error is not None or snap.status is None:
            # Keep what is on screen and say why it is not fresh.
            return (dash.no_update,) * 6 + (snap.error,)
        now_ms = int(time.time() * 1000)
        key = structure_key(snap)
        # The rows are re-rendered only when the twin changed; live.js refreshes their contents.
        sites = overview(snap) if key != known_key else dash.no_update
        stamp = time.strftime("%H:%M:%S", time.localtime(now_ms / 1000))
        return (
            live_payload(snap, now_ms),
            key if key != known_key else dash.no_update,
            sites,
            status_strip(snap.status),
            alarm_list(snap.status),
            stamp,
            None,
        )

    # Registered without decorator syntax so the function keeps its type for mypy.
    app.callback(
        Output("live", "data"),
        Output("structure-key", "data"),
        Output("sites", "children"),
        Output("status-strip", "children"),
        Output("system-alarms", "children"),
        Output("updated", "children", allow_duplicate=True),
        Output("api-error", "children", allow_duplicate=True),
        Input("refresh", "n_intervals"),
        State("structure-key", "data"),
        prevent_initial_call="initial_duplicate",
    )(refresh)
    app.clientside_callback(  # type: ignore[no-untyped-call]  # untyped in Dash
        ClientsideFunction(namespace="safetwin", function_name="applyLive"),
        Output("live-applied", "data"),
        Input("live", "data"),
    )
