"""`safetwin run --role`: one process with everything, or a worker, an API front or video analytics.

- ``all``: everything in one process (the default).
- ``worker``: ingest, rules, alarms, actuators and history; its API (no dashboard) serves health,
  metrics and the actions on the alarms it owns.
- ``api``: API and dashboard over the shared operational store (alarms and work orders reloaded every
  few seconds), shared history, and live device state from its own non-shared MQTT subscription.  It
  evaluates no rules, writes no history and sends no command; requests that change what a worker owns
  answer 503 with a problem+json naming the worker.
- ``vision``: video analytics only, with health and metrics on its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from typing import TYPE_CHECKING, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from accounts.bootstrap import start_accounts
from alarms.manager import AlarmManager
from api.context import ApiContext, IngestStats, SystemStatus
from api.problems import problem_response
from core.errors import StoreError
from ingest.pipeline import stats
from ingest.subscriber import Subscriber
from store.sql import SqlOpsStore

if TYPE_CHECKING:
    from safetwin.runtime import SafeTwin

log = logging.getLogger(__name__)

Role = Literal["all", "worker", "api", "vision"]
ROLES: tuple[Role, ...] = ("all", "worker", "api", "vision")
ALARM_REFRESH_S = 5.0  # how stale the api role's alarm and work-order lists may be
LAG_EVERY_S = 0.5
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# API paths (below /api/v1) whose changes belong to the worker that holds the state in memory.
WORKER_OWNED = (
    "/alarms",
    "/shelves",
    "/work-orders",
    "/rules",
    "/actuators",
    "/commands",
    "/permits",
    "/vision",
    "/ingest",
)


class LoopLag:
    """How late the event loop wakes a sleeping task: the worst over the last few seconds."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._recent: list[float] = []

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(LAG_EVERY_S)
            self._recent = [*self._recent[-9:], max(0.0, loop.time() - start - LAG_EVERY_S)]
            self.seconds = max(self._recent)


class WorkerOwnedWrites:
    """ASGI middleware of the api role: a change to worker-owned state answers 503 problem+json."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        below = path.removeprefix("/api/v1")
        if (
            scope["type"] == "http"
            and scope["method"] not in _SAFE
            and below != path
            and any(below == p or below.startswith(p + "/") for p in WORKER_OWNED)
        ):
            detail = (
                "this SafeTwin process runs the api role: alarms, work orders, rules, commands and "
                "ingest are changed by the worker that owns them; send this request to a worker's API "
                "or run the platform with --role all"
            )
            await problem_response(503, detail, path)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ProbesOnly:
    """ASGI middleware of the vision role: health and metrics answer; anything else is 503 problem+json."""

    OPEN = ("/api/v1/health", "/api/v1/health/ready", "/metrics")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path in self.OPEN:
            await self.app(scope, receive, send)
            return
        detail = "this SafeTwin process runs the vision role: it serves only health and /metrics"
        await problem_response(503, detail, path)(scope, receive, send)


def _load_alarms(app: SafeTwin, store: SqlOpsStore) -> AlarmManager:
    manager = AlarmManager(app.twin, app.settings.alarms)  # no sink, no writer: a read-only view
    manager.load(store)
    return manager


async def _refresh_alarms(app: SafeTwin, store: SqlOpsStore, ctx: ApiContext) -> None:
    while True:
        await asyncio.sleep(ALARM_REFRESH_S)
        try:
            ctx.alarms = await asyncio.to_thread(_load_alarms, app, store)
        except Exception:  # a store that is away must not stop the API
            log.exception("reloading alarms from the operational store failed; the last view is kept")


def _api_subscriber(app: SafeTwin) -> Subscriber:
    """A non-shared subscription of its own, feeding live state only."""
    mqtt = app.settings.mqtt
    own = mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-api-{socket.gethostname()}"[:100]})
    return Subscriber(
        own,
        app.topics,
        app.pipeline,
        batch_max=app.settings.ingest.batch_max_messages,
        listeners=[app.changes.on_pipeline_result],  # live device changes for the stream
    )


async def run_api(app: SafeTwin, dashboard: bool) -> None:
    """The api role until `app.stopping` is set."""
    store = app.ops.store
    await asyncio.to_thread(store.open)
    await asyncio.to_thread(start_accounts, app.accounts, app.settings)
    try:
        await asyncio.to_thread(app.history.open)
    except StoreError as err:
        log.warning("history store not reachable at start (%s); history queries fail until it is", err)
    app.subscriber = _api_subscriber(app)
    ctx = dataclasses.replace(
        app.api_context(),
        alarms=await asyncio.to_thread(_load_alarms, app, store),
        vision=None,  # in-process parts of a worker or a vision process: their routes answer 503
        actuators=None,
        permits=None,
        notifications=None,
        role="api",
        ingest=None,  # readings are the workers': HTTP ingest answers 503 here, devices post to a worker
    )
    await asyncio.to_thread(app.ops.catalog.load)
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(app.subscriber.run(), name="live-state"),
                tg.create_task(_refresh_alarms(app, store, ctx), name="alarm-refresh"),
                tg.create_task(app.loop_lag.run(), name="loop-lag"),
                tg.create_task(app.mark_ready(True), name="ready"),
            ]
            server = tg.create_task(app.serve_api(dashboard, ctx, WorkerOwnedWrites), name="api")
            await app.stopping.wait()
            await _stop(app, tasks, server)
    finally:
        await asyncio.to_thread(_close_api, app, store)


def _close_api(app: SafeTwin, store: SqlOpsStore) -> None:
    store.close()
    app.accounts.store.close()
    app.history.close()
    app.state.close()
    log.info("SafeTwin (api role) stopped")


def vision_status(app: SafeTwin) -> SystemStatus:
    """The vision role's status: its publisher's broker connection; it ingests nothing."""
    return SystemStatus(
        mqtt_connected=app.vision.publisher.status.connected,
        ingest=IngestStats(**stats(app.pipeline)),
        history={},
        alarms=[],
        devices_total=len(app.twin.devices),
        devices_online=0,
    )


async def run_vision(app: SafeTwin) -> None:
    """The vision role until `app.stopping` is set: the cameras, with health and metrics on the API port."""
    ctx = dataclasses.replace(
        app.api_context(), alarms=None, rules=None, notifications=None, accounts=None, role="vision"
    )
    ctx.status = lambda: vision_status(app)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(app.loop_lag.run(), name="loop-lag")]
        tasks.append(tg.create_task(_vision_ready(app), name="ready"))
        vision = tg.create_task(app.vision.run(app.stopping), name="vision")
        server = tg.create_task(app.serve_api(False, ctx, ProbesOnly), name="api")
        await app.stopping.wait()
        await _stop(app, tasks, server, vision)
    app.state.close()
    log.info("SafeTwin (vision role) stopped")


async def _vision_ready(app: SafeTwin) -> None:
    while app.api_url is None or not app.vision.publisher.status.connected:
        await asyncio.sleep(0.05)
    app.ready.set()


async def _stop(app: SafeTwin, tasks: list[asyncio.Task[None]], *graceful: asyncio.Task[None]) -> None:
    if app.server is not None:
        app.server.should_exit = True
    for t in tasks:
        t.cancel()
    _, pending = await asyncio.wait(graceful, timeout=15)
    for t in pending:
        log.error("%s did not stop within 15 s of the stop request; cancelling it", t.get_name())
        t.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)
