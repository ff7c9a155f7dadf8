"""A world for access tests: the small twin with an emergency (alarm + work order) in each of its sites.

Site `lj` (with buildings lj-b01, lj-b02 and a septic tank) and site `gs` (a construction yard).
Accounts live in a SQLite file or a real PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from accounts.roles import Role
from actuators.permit_models import PermitRefused, PermitRequest
from actuators.permit_settings import PermitSettings
from actuators.permits import PermitManager
from actuators.publisher import CommandPublisher
from actuators.service import ActuatorService
from actuators.settings import ActuatorSettings
from actuators.ventilation import FanStates
from alarms.manager import AlarmManager
from api.app import create_api
from api.changes import ChangeHub
from core.alarms import Alarm, AlarmSignal, Severity, SignalKind, SourceKind
from core.contract import Topics
from core.settings import DatabaseSettings, MqttSettings
from ingest.pipeline import InboundMessage, IngestPipeline, PipelineResult
from store.sql.commands import SqlCommandStore
from tests.api.support import Parts, make_parts, serve
from tests.fixtures.postgres import PostgresServer
from twin.twin import Twin

# What a user of site gs must never see: ids and names of site lj that no request of theirs names.
LJ_SECRETS = ("lj-co-02", "lj-fan-01", "lj-lel-01", "lj-gas-01", "lj-b02", "lj-septic-01", "澜景")


def emergency(twin: Twin, device_id: str) -> AlarmSignal:
    """An emergency on a device: it raises an alarm and a work order at once."""
    place = twin.devices[device_id]
    return AlarmSignal(
        rule_id="co-garage",
        rule_version=1,
        rule_name="一氧化碳超标",
        category="gas",
        kind=SignalKind.FIRING,
        severity=Severity.EMERGENCY,
        source_kind=SourceKind.DEVICE,
        source_id=device_id,
        site=place.site,
        building=place.building,
        space=place.space,
        ts=int(time.time() * 1000),
        message=f"emergency at {device_id}",
        evidence={"metric": "co", "value": 300.0},
    )


@dataclass
class World:
    base: str
    parts: Parts
    alarms: AlarmManager
    hub: ChangeHub
    lj_alarm: Alarm
    gs_alarm: Alarm
    lj_command: str  # correlation id of a command to site lj's fan
    lj_permit: str  # id of a (refused) permit to enter site lj's septic tank

    def client(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=f"{self.base}/api/v1", headers=headers, timeout=10, trust_env=False)


@contextlib.contextmanager
def open_world(tmp: Path, accounts_url: str | None = None) -> Iterator[World]:
    """Serve the API over the world; closes everything afterwards."""
    parts = make_parts(tmp, accounts_url)
    manager = AlarmManager(parts.twin)
    lj = manager.on_signal(emergency(parts.twin, "lj-co-01"))
    gs = manager.on_signal(emergency(parts.twin, "gs-cam-01"))
    assert lj is not None and gs is not None and lj.work_order_id and gs.work_order_id
    hub = ChangeHub(parts.twin, parts.live)
    store = SqlCommandStore(DatabaseSettings(url=f"sqlite:///{tmp / 'commands.db'}"))
    publisher = CommandPublisher(MqttSettings(), Topics())  # not run: commands wait in its outbox
    actuators = ActuatorService(parts.twin, ActuatorSettings(), publisher, store, rule_of=lambda _id: None)
    actuators.open()
    fan = actuators.command("lj-fan-01", "set", {"on": True}, operator="ops", reason="test")
    permits = PermitManager(PermitSettings(), parts.twin, parts.live, FanStates(parts.twin))
    ask = PermitRequest(space_id="lj-septic-01", entrants=["王师傅"], supervisor="陈工", reason="清掏")
    try:
        permits.request(ask, "ops")
        raise AssertionError("an unventilated septic tank must be refused")
    except PermitRefused as refused:
        permit = refused.permit.id
    ctx = dataclasses.replace(
        parts.ctx,
        alarms=manager,
        changes=hub,
        ingest=_ingest(parts, hub),
        actuators=actuators,
        permits=permits,
    )
    try:
        with serve(create_api(ctx)) as base:
            yield World(base, parts, manager, hub, lj, gs, fan.correlation_id, permit)
    finally:
        actuators.close()
        parts.close()


def _ingest(parts: Parts, hub: ChangeHub) -> Callable[[str, str, bytes], PipelineResult]:
    """HTTP ingest as the runtime wires it: the pipeline, then history and the change hub."""
    topics = Topics()
    pipeline = IngestPipeline(
        parts.twin,
        parts.live,
        topics,
        max_payload_bytes=64 * 1024,
        dead_letters=parts.dead_letters,
        unregistered=parts.unregistered,
    )

    def ingest(kind: str, ident: str, payload: bytes) -> PipelineResult:
        topic = topics.telemetry(ident) if kind == "telemetry" else topics.gateway_batch(ident)
        result = pipeline.process([InboundMessage(topic, payload, int(time.time() * 1000))])
        if result.readings:
            parts.history.write(result.readings)
        hub.on_pipeline_result(result)
        return result

    return ingest


def accounts_url(request: pytest.FixtureRequest, name: str) -> Iterator[str | None]:
    """None (a SQLite file) or a fresh PostgreSQL database's URL, dropped afterwards."""
    if name == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database = server.create_database()
    try:
        yield server.url(database)
    finally:
        with contextlib.suppress(psycopg.Error):
            server.drop_database(database)


def headers_for(world: World, role: Role, **scope: object) -> dict[str, str]:
    return world.parts.key_for(role, **scope)
