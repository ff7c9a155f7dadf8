"""The composition root: builds every part from settings and runs them as one asyncio TaskGroup.

Each concern is one task (embedded broker, ingest, housekeeping, API + dashboard, simulators);
blocking work (history writes) has its own thread.  Nothing below `safetwin/` imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from accounts.bootstrap import start_accounts
from accounts.service import AccountService
from accounts.store import AccountStore
from api.changes import ChangeHub
from api.context import ApiContext, IngestStats, SystemStatus
from api.server import create_server_app
from core import heap
from core.contract import Topics, now_ms
from core.errors import StoreError
from core.records import SystemAlarm
from core.steps import Encoded, finish_on_loop
from ingest.partition import Partition
from ingest.pipeline import InboundMessage, IngestPipeline, PipelineResult, stats
from ingest.registry import DeadLetterLog, UnregisteredDevices
from ingest.subscriber import Subscriber
from safetwin.embedded_broker import EmbeddedBroker
from safetwin.operations import Operations
from safetwin.roles import LoopLag, Role
from safetwin.settings import SafeTwinSettings
from store.base import HistoryBackend
from store.factory import make_history
from store.spool import DiskSpool
from store.state_sqlite import SqliteStateStore
from store.writer import HistoryWriter
from twin.loader import load_twin_file
from twin.state import LiveState
from twin.twin import Twin
from vision.service import VisionService

log = logging.getLogger(__name__)

_ALARMS = {
    "history_spool_full": ("critical", None),
    "history_store_down": ("warning", None),
    "history_spool_ok": (None, "history_spool_full"),
    "history_store_up": (None, "history_store_down"),
}
_REFREEZE_S = 10.0
_SWEEP_SLICES = 10  # the offline sweep's slices a second


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SafeTwin:
    """One SafeTwin process: ingest, twin, history, API and dashboard."""

    def __init__(
        self, settings: SafeTwinSettings, twin: Twin, history: HistoryBackend, state: SqliteStateStore
    ) -> None:
        self.settings = settings
        self.twin = twin
        self.history = history
        self.state = state
        self.topics = Topics(settings.mqtt.topic_prefix)
        self.live = LiveState(
            twin,
            offline_after_ms=int(settings.twin.offline_after_s * 1000),
            clock_skew_warn_ms=int(settings.ingest.clock_skew_warn_s * 1000),
        )
        self.dead_letters = DeadLetterLog(keep=settings.ingest.dead_letter_keep)
        self.unregistered = UnregisteredDevices()
        self.pipeline = IngestPipeline(
            twin,
            self.live,
            self.topics,
            max_payload_bytes=settings.ingest.max_payload_bytes,
            dead_letters=self.dead_letters,
            unregistered=self.unregistered,
        )
        st = settings.store
        self.writer = HistoryWriter(
            history,
            DiskSpool(st.spool_dir, st.spool_max_bytes),
            flush_interval_s=st.flush_interval_s,
            batch_max_points=st.batch_max_points,
            retry_interval_s=st.retry_interval_s,
            on_alarm=self._on_history_alarm,
        )
        self.ops = Operations(settings, twin, history, self.topics, live=self.live)
        self.vision = VisionService(settings.vision, twin, self.topics, settings.mqtt)
        self.accounts = AccountService(AccountStore(settings.database.url), twin, settings.auth)
        self.changes = ChangeHub(twin, self.live)
        self.ops.writer.listeners.append(self.changes.on_change_set)
        self.subscriber = Subscriber(
            settings.mqtt,
            self.topics,
            self.pipeline,
            batch_max=settings.ingest.batch_max_messages,
            listeners=[
                self._to_history,
                self.ops.on_result,
                self.vision.on_pipeline_result,
                self.changes.on_pipeline_result,
            ],
            when_stored=self.writer.when_stored if settings.ingest.ack == "stored" else None,
            partition=(
                Partition(twin, self.topics, settings.ingest.partitions, settings.ingest.partition)
                if settings.ingest.partitions > 1
                else None
            ),
            shared_group=settings.ingest.shared_group,
        )
        self._alarms: dict[str, SystemAlarm] = {}
        self._alarm_lock = threading.Lock()
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.api_port: int | None = None
        self.api_url: str | None = None
        self._server: uvicorn.Server | None = None
        self.loop_lag = LoopLag()

    @classmethod
    def from_settings(cls, settings: SafeTwinSettings) -> SafeTwin:
        """Load the twin and open the stores the settings name."""
        twin = Twin(load_twin_file(Path(settings.twin.path)))
        return cls(settings, twin, make_history(settings.store), SqliteStateStore(settings.state.sqlite_path))

    # --- wiring ---------------------------------------------------------------------------------

    def ingest_http(self, kind: str, ident: str, payload: bytes) -> PipelineResult:
        """A message pushed over HTTP, through the same pipeline and listeners as MQTT (on the loop)."""
        topic = self.topics.telemetry(ident) if kind == "telemetry" else self.topics.gateway_batch(ident)
        result = self.pipeline.process([InboundMessage(topic, payload, now_ms())])
        for listener in self.subscriber.listeners:
            try:
                listener(result)
            except Exception:  # one bad listener must not stop ingest
                log.exception("a pipeline listener failed on HTTP ingest; ingest goes on")
        return result

    def _to_history(self, result: PipelineResult) -> None:
        if result.readings:
            self.writer.submit(result.readings)

    def _on_history_alarm(self, key: str, message: str) -> None:
        severity, clears = _ALARMS.get(key, ("warning", None))
        with self._alarm_lock:
            if clears is not None:
                self._alarms.pop(clears, None)
                log.info("%s", message)
            else:
                self._alarms.setdefault(
                    key,
                    SystemAlarm(key=key, severity=severity or "warning", message=message, since_ts=now_ms()),
                )

    def system_alarms(self) -> list[SystemAlarm]:
        with self._alarm_lock:
            alarms = list(self._alarms.values())
        alarms += self.ops.notifier.system_alarms()  # notification channels that keep failing
        st = self.subscriber.status
        if not st.connected and st.last_error is not None:
            hint = (
                "check mqtt.username and mqtt.password"
                if "authori" in st.last_error.lower()
                else ("check mqtt.url and that the broker runs")
            )
            alarms.append(
                SystemAlarm(
                    key="mqtt_unreachable",
                    severity="critical",
                    message=f"ingest cannot reach the MQTT broker: {st.last_error}; {hint}",
                    since_ts=st.down_since_ms or now_ms(),
                )
            )
        return alarms

    def system_status(self) -> SystemStatus:
        online = sum(1 for st in self.live.devices.values() if st.online)
        return SystemStatus(
            mqtt_connected=self.subscriber.status.connected,
            ingest=IngestStats(**stats(self.pipeline)),
            history=self.writer.status().model_dump(),
            alarms=self.system_alarms(),
            devices_total=len(self.twin.devices),
            devices_online=online,
        )

    def api_context(self) -> ApiContext:
        return ApiContext(
            twin=self.twin,
            live=self.live,
            history=self.history,
            unregistered=self.unregistered,
            dead_letters=self.dead_letters,
            status=self.system_status,
            alarms=self.ops.alarms,
            notifications=self.ops.response.recent,
            vision=self.vision,
            rules=self.ops.catalog,
            actuators=self.ops.actuators,
            loop_lag_s=lambda: self.loop_lag.seconds,
            permits=self.ops.permits,
            accounts=self.accounts,
            ingest=self.ingest_http,
            changes=self.changes,
        )

    # --- running --------------------------------------------------------------------------------

    def _restore(self) -> None:
        snap = self.state.load("live_state")
        if snap:
            self.live.restore(snap)
            log.info("restored the live state of %d devices", len(snap))
        unreg = self.state.load("unregistered")
        if unreg:
            self.unregistered.load(unreg)

    def save_state(self) -> None:
        self.state.save("live_state", self.live.snapshot())
        self.state.save("unregistered", self.unregistered.dump())

    async def save_state_in_steps(self) -> None:
        """As `save_state`, with the live state taken and encoded a chunk at a time on the event loop
        (ingest goes on between chunks) and only the write in a thread."""
        body = await finish_on_loop(self.live.snapshot_json_in_steps())
        unregistered = self.unregistered.dump()
        await asyncio.to_thread(self._write_state, body, unregistered)

    def _write_state(self, live: Encoded, unregistered: object) -> None:
        self.state.save_encoded("live_state", live)
        self.state.save("unregistered", unregistered)

    async def _housekeeping(self) -> None:
        every = self.settings.state.snapshot_interval_s
        last_save = last_freeze = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(1.0)
            if asyncio.get_running_loop().time() - last_freeze >= _REFREEZE_S:
                last_freeze = asyncio.get_running_loop().time()
                heap.refreeze()  # rule tracks of devices heard since join the long-lived objects
            # each device every 10 s, a tenth a second; in slices, since a tenth of a 74,200-device
            # twin held the loop for 2-5 ms at a time at 15,000 readings/s
            for _ in range(_SWEEP_SLICES):
                for dev in self.live.sweep(now_ms(), share=0.1 / _SWEEP_SLICES):
                    log.warning(
                        "device %s went offline: nothing heard for %.0f s",
                        dev,
                        self.settings.twin.offline_after_s,
                    )
                await asyncio.sleep(0)
            if asyncio.get_running_loop().time() - last_save >= every:
                last_save = asyncio.get_running_loop().time()
                await self.save_state_in_steps()

    @property
    def server(self) -> uvicorn.Server | None:
        """The API server while it runs."""
        return self._server

    async def serve_api(
        self, dashboard: bool, ctx: ApiContext | None = None, wrap: Callable[[ASGIApp], ASGIApp] | None = None
    ) -> None:
        """Serve the API (and dashboard) over `ctx`, by default this process's own context."""
        await self._serve_api(dashboard, ctx, wrap)

    async def mark_ready(self, api: bool) -> None:
        """Set `ready` once ingest is connected (and the API listens)."""
        await self._mark_ready(api)

    async def _serve_api(
        self, dashboard: bool, ctx: ApiContext | None = None, wrap: Callable[[ASGIApp], ASGIApp] | None = None
    ) -> None:
        host, port = self.settings.api.host, self.settings.api.port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            raise OSError(
                f"the API cannot listen on {host}:{port} ({err.strerror}); free the port or set "
                "SAFETWIN_API__PORT"
            ) from err
        sock.listen(128)
        self.api_port = sock.getsockname()[1]
        base = f"http://{host}:{self.api_port}"
        app = create_server_app(
            ctx or self.api_context(),
            dashboard=dashboard,
            api_base_url=base,
            tile_url=self.settings.dashboard.tile_url,
        )
        asgi: ASGIApp = app if wrap is None else wrap(app)
        server = _Server(
            uvicorn.Config(
                asgi, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=5
            )
        )
        self._server = server
        self.api_url = base
        log.info("API at %s/api/v1/docs%s", base, f", dashboard at {base}/" if dashboard else "")
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()

    async def _mark_ready(self, api: bool) -> None:
        await self.subscriber.ready.wait()
        while api and self.api_url is None:
            await asyncio.sleep(0.05)
        self.ready.set()

    async def run(
        self, *, simulate: bool = False, api: bool = True, dashboard: bool = True, role: Role = "all"
    ) -> None:
        """Run until `stopping` is set; then stop every part in order and flush history."""
        if role in ("api", "vision"):
            from safetwin.roles import run_api, run_vision

            await (run_api(self, dashboard) if role == "api" else run_vision(self))
            return
        dashboard = dashboard and role == "all"
        broker: EmbeddedBroker | None = None
        if self.settings.mqtt.is_embedded:
            broker = EmbeddedBroker(self.settings.mqtt.embedded_host, self.settings.mqtt.embedded_port)
            await broker.start()
        try:
            await asyncio.to_thread(self.history.open)
        except StoreError as err:  # the writer opens it when it comes; points wait in the spool
            log.warning("history store not reachable at start (%s); readings are spooled until it is", err)
        self._restore()
        self.writer.start()
        ops_open = False
        try:
            await asyncio.to_thread(self.ops.open)
            ops_open = True
            await asyncio.to_thread(start_accounts, self.accounts, self.settings)
            heap.settle()
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self.subscriber.run(), name="ingest"),
                    tg.create_task(self._housekeeping(), name="housekeeping"),
                    tg.create_task(self.ops.run(), name="operations"),
                    tg.create_task(self.loop_lag.run(), name="loop-lag"),
                ]
                graceful: list[asyncio.Task[None]] = []  # parts that finish their own work when stopping
                if api:
                    graceful.append(tg.create_task(self._serve_api(dashboard), name="api"))
                # vision stops by itself on `stopping`, ending open events
                if self.settings.vision.enabled and role == "all":
                    graceful.append(tg.create_task(self.vision.run(self.stopping), name="vision"))
                if simulate:
                    from simulators.publisher import run_simulator

                    tasks.append(
                        tg.create_task(
                            run_simulator(self.settings, self.twin, self.stopping), name="simulator"
                        )
                    )
                tasks.append(tg.create_task(self._mark_ready(api), name="ready"))
                await self.stopping.wait()
                if self._server is not None:
                    self._server.should_exit = True  # finishes open requests, then returns
                for t in tasks:
                    t.cancel()
                await self._let_finish(graceful, timeout=15)
        finally:
            await asyncio.to_thread(self._shutdown, ops_open)
            if broker is not None:
                await broker.stop()

    @staticmethod
    async def _let_finish(parts: list[asyncio.Task[None]], timeout: float) -> None:
        """Give the graceful parts `timeout` seconds, then cancel what still runs, naming it."""
        if not parts:
            return
        _, pending = await asyncio.wait(parts, timeout=timeout)
        for task in pending:
            log.error(
                "%s did not stop within %.0f s of the stop request; cancelling it", task.get_name(), timeout
            )
            task.cancel()

    def _shutdown(self, ops_open: bool) -> None:
        if ops_open:
            self.ops.close()
        self.accounts.store.close()
        if not self.writer.stop(timeout=30):
            log.error("history writer did not finish in 30 s; unwritten points stay in the spool")
        self.save_state()
        self.history.close()
        self.state.close()
        log.info("SafeTwin stopped")
