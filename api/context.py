"""What the API is given to serve: injected by the app factory, never imported from elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from accounts.service import AccountService
from actuators.permits import PermitManager
from actuators.response import Notification
from actuators.service import ActuatorService
from alarms.manager import AlarmManager
from api.changes import ChangeHub
from core.records import SystemAlarm
from ingest.pipeline import PipelineResult
from ingest.registry import DeadLetterLog, UnregisteredDevices
from rules.catalog import RuleCatalog
from store.base import HistoryBackend
from twin.state import LiveState
from twin.twin import Twin
from vision.service import VisionService


class IngestStats(BaseModel):
    messages: int = Field(description="MQTT messages handled since start")
    accepted_readings: int = Field(description="Readings accepted since start")
    dead_letters: int = Field(description="Messages or values refused since start")
    dead_letters_by_category: dict[str, int] = Field(description="Refusals by reason category")
    unregistered_devices: int = Field(description="Unknown devices currently listed")


class SystemStatus(BaseModel):
    """Health of the platform itself."""

    mqtt_connected: bool = Field(description="Ingest holds a broker connection")
    ingest: IngestStats
    history: dict[str, object] = Field(description="History writer status (backend, spool, counters)")
    alarms: list[SystemAlarm] = Field(description="Active alarms about SafeTwin itself")
    devices_total: int = Field(description="Devices in the twin")
    devices_online: int = Field(description="Devices online now")


@dataclass
class ApiContext:
    twin: Twin
    live: LiveState
    history: HistoryBackend
    unregistered: UnregisteredDevices
    dead_letters: DeadLetterLog
    status: Callable[[], SystemStatus]
    vision: VisionService | None = None  # video analytics, when they run
    alarms: AlarmManager | None = None  # alarms, work orders, credit, KPIs
    notifications: Callable[[int], list[Notification]] | None = None  # recent notifications, newest first
    rules: RuleCatalog | None = None  # rules in force, their versions, API edits
    actuators: ActuatorService | None = None  # commands, their lifecycle, actuator states
    accounts: AccountService | None = None  # users, sessions, API keys; without it only public paths answer
    ingest: Callable[[str, str, bytes], PipelineResult] | None = None  # HTTP ingest: (kind, id, payload)
    changes: ChangeHub | None = None  # live changes for the stream
    loop_lag_s: Callable[[], float] | None = None  # event-loop lag of the process, for /metrics
    permits: PermitManager | None = None  # confined-space entry permits
    role: str = "all"  # `safetwin run --role` of the process serving
