"""The dashboard app factory: a live overview of sites, buildings and devices, read from the API."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard.client import ApiClient
from dashboard.overview import live_payload, overview, structure_key
from dashboard.status import alarm_list, status_strip

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
REFRESH_MS = 2000


def _layout() -> html.Div:
    return html.Div(
        [
            html.Header(
                [
                    html.H1("SafeTwin"),
                    html.Span("Live devices", className="subtitle"),
                    html.Span(id="updated", className="updated"),
                ],
                className="topbar",
            ),
            html.Div(id="api-error", className="api-error"),
            html.Div(id="status-strip", className="status-strip"),
            html.Div(id="system-alarms", className="alarms"),
            html.Main(id="sites", className="sites"),
            dcc.Interval(id="refresh", interval=REFRESH_MS, n_intervals=0),
            dcc.Store(id="structure-key"),
            dcc.Store(id="live"),
            dcc.Store(id="live-applied"),
        ],
        className="page",
    )


def _register_callbacks(app: dash.Dash, client: ApiClient) -> None:
    def refresh(_n: int, known_key: str | None) -> tuple[Any, ...]:
        snap = client.snapshot()
        if snap.error is not None or snap.status is None:
            # Keep what is on screen and say why it is not fresh.
            return (dash.no_update,) * 6 + (snap.error,)
        now_ms = int(time.time() * 1000)
        key = structure_key(snap)
        # The rows are re-rendered only when the twin changed; live.js refreshes their contents.
        sites = overview(snap) if key != known_key else dash.no_update
        stamp = time.strftime("updated %H:%M:%S", time.localtime(now_ms / 1000))
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
        Output("updated", "children"),
        Output("api-error", "children"),
        Input("refresh", "n_intervals"),
        State("structure-key", "data"),
    )(refresh)
    app.clientside_callback(  # type: ignore[no-untyped-call]  # untyped in Dash
        ClientsideFunction(namespace="safetwin", function_name="applyLive"),
        Output("live-applied", "data"),
        Input("live", "data"),
    )


def create_dashboard(api_base_url: str, *, requests_pathname_prefix: str = "/") -> dash.Dash:
    """A Dash app that shows the SafeTwin API at `api_base_url`; all assets are served locally."""
    app = dash.Dash(
        __name__,
        title="SafeTwin",
        update_title="",
        assets_folder=str(ASSETS),
        requests_pathname_prefix=requests_pathname_prefix,
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        use_pages=False,
    )
    app.layout = _layout()
    _register_callbacks(app, ApiClient(api_base_url))
    log.info("dashboard reads the API at %s", api_base_url)
    return app
