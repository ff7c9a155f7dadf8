"""The dashboard app factory: the one-map situational view and its drill-down pages, read from the API.

Pages (paths under the dashboard's prefix):
  /                  one map: sites and buildings by worst alarm, KPI strip, live alarm list
  /building/<id>     a building's floors, spaces and devices with live values and actuator controls
  /building/<id>/floor/<level>, /building/<id>/3d   its floor plans and its 3D digital twin
  /site/<id>         a site's buildings and the spaces outside them (septic tanks, work zones)
  /device/<id>       a device's history with zoom
  /orders            the work-order board
  /cameras           camera events with snapshots
  /devices           every device with live values (the first dashboard view)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard.alarmlist import register_alarm_actions
from dashboard.client import ApiClient
from dashboard.controls import register_controls
from dashboard.devices import devices_page, register_devices_page
from dashboard.floorview import register_twin_pages
from dashboard.i18n import DEFAULT_LANG, lang_of, t
from dashboard.login import LOGIN_PATH, CookieToken, login_page, register_login, signed_in
from dashboard.login import text as login_text
from dashboard.mappage import first_figure, map_page, register_map_page
from dashboard.orders import register_order_steps
from dashboard.pages import page_for, register_pages
from dashboard.twincache import TwinCache

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
_NAV = (("/", "nav.map"), ("/orders", "nav.orders"), ("/cameras", "nav.cameras"), ("/devices", "nav.devices"))


def _layout() -> html.Div:
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="lang", storage_type="local", data=DEFAULT_LANG),
            dcc.Store(id="muted", storage_type="local", data=False),
            dcc.Store(id="emergencies", data=[]),
            dcc.Store(id="alert-played"),
            html.Header(
                [
                    dcc.Link(html.H1(id="title"), href="/", className="brand"),
                    html.Nav(id="nav", className="nav"),
                    html.Span(className="spacer"),
                    html.Label(id="operator-label", htmlFor="operator", className="operator-label"),
                    dcc.Input(
                        id="operator",
                        className="operator-input",
                        persistence=True,
                        persistence_type="local",
                        debounce=False,
                    ),
                    html.Button(id="sound", className="btn toggle", n_clicks=0),
                    html.Button(id="lang-btn", className="btn toggle", n_clicks=0),
                    html.Button(id="logout", className="btn toggle", n_clicks=0),
                    html.Span(id="updated", className="updated"),
                ],
                className="topbar",
            ),
            html.Div(id="api-error", className="api-error"),
            html.Div(id="page", className="page-body"),
        ],
        className="page",
    )


def _register_shell(app: dash.Dash, client: ApiClient, twins: TwinCache, tile_url: str | None) -> None:
    def route(path: str | None, lang: str, me: dict[str, Any] | None) -> Any:
        # Every view needs a logged-in browser; the API then shows it only what its user may see.
        if path == LOGIN_PATH or me is None:
            return login_page(lang)
        if path in (None, "", "/"):
            return map_page(lang, *first_figure(client, twins, lang, tile_url))
        if path == "/devices":
            return devices_page()
        return page_for(path, lang, client)

    def render(path: str | None, lang_value: str | None) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        nav = [
            dcc.Link(
                t(key, lang), href=href, className="nav-link active" if href == (path or "/") else "nav-link"
            )
            for href, key in _NAV
        ]
        me = signed_in(client) if path != LOGIN_PATH else None
        return (
            route(path, lang, me),
            nav,
            t("title", lang),
            t("operator", lang),
            t("operator.hint", lang),
            t("lang.other", lang),
            login_text("logout", lang),
            # The API records actions under the logged-in name; the field shows it and takes no other.
            str(me.get("username") or "") if me else "",
            me is not None and bool(me.get("username")),
        )

    app.callback(
        Output("page", "children"),
        Output("nav", "children"),
        Output("title", "children"),
        Output("operator-label", "children"),
        Output("operator", "placeholder"),
        Output("lang-btn", "children"),
        Output("logout", "children"),
        Output("operator", "value"),
        Output("operator", "readOnly"),
        Input("url", "pathname"),
        Input("lang", "data"),
    )(render)

    def switch(_n: int, lang: str | None) -> str:
        return "zh" if lang == "en" else "en"

    app.callback(
        Output("lang", "data"),
        Input("lang-btn", "n_clicks"),
        State("lang", "data"),
        prevent_initial_call=True,
    )(switch)

    def toggle_sound(_n: int, muted: bool | None) -> bool:
        return not muted

    app.callback(
        Output("muted", "data"), Input("sound", "n_clicks"), State("muted", "data"), prevent_initial_call=True
    )(toggle_sound)

    def sound_label(muted: bool | None, lang: str | None) -> str:
        return t("sound.off" if muted else "sound.on", lang_of(lang))

    app.callback(Output("sound", "children"), Input("muted", "data"), Input("lang", "data"))(sound_label)
    app.clientside_callback(  # type: ignore[no-untyped-call]  # untyped in Dash
        ClientsideFunction(namespace="safetwin", function_name="alert"),
        Output("alert-played", "data"),
        Input("emergencies", "data"),
        Input("muted", "data"),
    )


def create_dashboard(
    api_base_url: str, *, requests_pathname_prefix: str = "/", tile_url: str | None = None
) -> dash.Dash:
    """A Dash app that shows the SafeTwin API at `api_base_url`; all assets are served locally.

    `tile_url` (dashboard.tile_url) adds raster tiles from that server under the map.
    """
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
        suppress_callback_exceptions=True,  # each page's components exist only while it is shown
    )
    app.layout = _layout()
    client = ApiClient(api_base_url, auth=CookieToken())
    twins = TwinCache(client)
    _register_shell(app, client, twins, tile_url)
    register_login(app, client)
    register_map_page(app, client, twins, tile_url)
    register_alarm_actions(app, client)
    register_devices_page(app, client)
    register_pages(app, client, twins)
    register_controls(app, client)
    register_twin_pages(app, client)
    register_order_steps(app, client)
    log.info("dashboard reads the API at %s", api_base_url)
    return app
