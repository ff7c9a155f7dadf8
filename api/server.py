"""One ASGI app for one port: the API under /api, and the dashboard (a WSGI Dash app) at /."""

from __future__ import annotations

import logging
from typing import cast

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_api
from api.context import ApiContext

log = logging.getLogger(__name__)

API_ROOT = "/api"


class _ApiPathsFirst:
    """The app mounted at '/': /api paths no API route took stay API errors; the rest go to Dash.

    Without it an unknown /api path or a wrong method on an API path would fall through to the
    catch-all mount and get Dash's HTML 404 instead of problem+json.
    """

    def __init__(self, api: FastAPI, dashboard: ASGIApp) -> None:
        self.api = api
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        if route_path == API_ROOT or route_path.startswith(API_ROOT + "/"):
            if scope["type"] != "http":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self._api_error(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.dashboard(scope, receive, send)

    async def _api_error(self, scope: Scope, receive: Receive, send: Send) -> None:
        """405 from the API route whose path matches with another method (as Starlette does), else 404."""
        for route in self.api.router.routes:
            if isinstance(route, Mount):
                continue
            match, child = route.matches(scope)
            if match is Match.PARTIAL:
                await route.handle({**scope, **child}, receive, send)
                return
        raise HTTPException(404)


def create_server_app(
    ctx: ApiContext, *, dashboard: bool, api_base_url: str, tile_url: str | None = None
) -> FastAPI:
    """The API, plus the dashboard at '/' when `dashboard` is true; the dashboard reads `api_base_url`.

    `tile_url` (dashboard.tile_url) puts raster tiles from that server under the dashboard's map.
    """
    app = create_api(ctx)
    if dashboard:
        # Imported here so an API-only process does not load Dash and Flask.
        from dashboard.app import create_dashboard

        dash_app = create_dashboard(api_base_url, tile_url=tile_url)
        # Mounted last: Starlette tries routes in order, so every /api route wins over it.
        flask = cast(ASGIApp, WSGIMiddleware(dash_app.server))  # a2wsgi types its scopes more narrowly
        app.mount("/", _ApiPathsFirst(app, flask), name="dashboard")
        log.info("dashboard mounted at / (reading the API at %s)", api_base_url)
    return app
