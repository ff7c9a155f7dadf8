"""The FastAPI application factory: everything it serves comes in through `ApiContext`."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api.audit import AuditMiddleware
from api.auth import install_account_handlers, make_authenticate
from api.context import ApiContext
from api.problems import install_problem_handlers
from api.routes.actuators import actuators_router, install_actuator_problems
from api.routes.alarms import alarms_router
from api.routes.audit import audit_router
from api.routes.auth import auth_router
from api.routes.devices import devices_router
from api.routes.ingest_http import ingest_router
from api.routes.metrics import metrics_router
from api.routes.permits import permits_router
from api.routes.rules import rules_router
from api.routes.stream import stream_router
from api.routes.system import system_router
from api.routes.twin import twin_router
from api.routes.users import users_router
from api.routes.vision import vision_router
from api.routes.workorders import parties_router, workorders_router
from api.schemas import problem_responses

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
_DOCS_ASSETS = f"{API_PREFIX}/docs-assets"


def create_api(ctx: ApiContext) -> FastAPI:
    """Build the API app over the given twin, live state, history and ingest registries."""
    app = FastAPI(
        title="SafeTwin API",
        version="1",
        summary="Digital-twin IoT safety monitoring: twin, live device state, history, ingest health",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served below from local files: the docs must work on an isolated network
        redoc_url=None,
        # Every route needs a principal with the permission its path names, except the public ones.
        dependencies=[Depends(make_authenticate(ctx.accounts))],
    )
    install_problem_handlers(app)
    install_actuator_problems(app)
    install_account_handlers(app)
    app.add_middleware(AuditMiddleware, store=ctx.accounts.store if ctx.accounts else None)
    routers = (
        system_router(ctx),
        twin_router(ctx),
        devices_router(ctx),
        alarms_router(ctx),
        workorders_router(ctx),
        parties_router(ctx),
        rules_router(ctx),
        vision_router(ctx),
        actuators_router(ctx),
        permits_router(ctx),
        auth_router(ctx),
        users_router(ctx),
        audit_router(ctx),
        ingest_router(ctx),
        stream_router(ctx),
    )
    for router in routers:
        # Every API route may answer 401 (no or bad credentials) and 403 (the role may not).
        app.include_router(router, prefix=API_PREFIX, responses=problem_responses(401, 403))
    app.include_router(metrics_router(ctx))  # /metrics, where Prometheus looks by default
    app.mount(_DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="SafeTwin API",
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon-32x32.png",
        )

    log.debug("API built over a twin of %d devices", len(ctx.twin.devices))
    return app
