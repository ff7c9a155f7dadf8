"""Rules, alarms and responses wired together: readings in, alarms, work orders and commands out.

Rules are evaluated inline with ingest (a batch at a time, no I/O); the alarm manager keeps alarms in
memory and persists through its writer thread; commands go out through the actuator publisher's own
MQTT connection; a tick task drives everything that depends on time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from actuators.notifier import Notifier
from actuators.permit_response import ResponseStopWork, play_by_lifecycle, play_by_publisher
from actuators.permits import PERMITS_DOC, PermitManager
from actuators.publisher import CommandPublisher
from actuators.response import ActuatorResponse
from actuators.service import ActuatorService
from actuators.signals import NAMES_ZH
from actuators.ventilation import TrackedFans
from alarms.engine import STATE_DOC as ALARM_STATE_DOC
from alarms.manager import AlarmManager
from alarms.writer import ChangeSet, OpsWriter
from core.alarms import AlarmSignal
from core.contract import Topics, now_ms
from core.steps import encode_in_steps, finish_on_loop
from ingest.partition import stable_partition
from ingest.pipeline import PipelineResult
from rules.catalog import RuleCatalog
from rules.engine import RuleEngine
from rules.model import Rule
from rules.packs import load_packs
from safetwin.settings import SafeTwinSettings
from store.base import HistoryBackend
from store.sql import SqlOpsStore
from store.sql.commands import SqlCommandStore
from twin.state import LiveState
from twin.twin import Twin

log = logging.getLogger(__name__)

RULE_STATE_DOC = "rule_engine_state"


class WorkerShare:
    """What this worker owns where several ingest + rules workers share one operational store.

    Workers split the sites (`ingest.partitions`); each restores and drives only the alarms, work
    orders and commands of its own sites, and keeps its state documents under its own names.
    """

    def __init__(self, twin: Twin, partitions: int, partition: int) -> None:
        self.twin, self.partitions, self.partition = twin, partitions, partition

    def owns_site(self, site: str) -> bool:
        return self.partitions <= 1 or stable_partition(site, self.partitions) == self.partition

    def owns_device(self, device_id: str) -> bool:
        place = self.twin.devices.get(device_id)
        return place is None or self.owns_site(place.site)

    def doc(self, name: str) -> str:
        """A state document's name for this worker."""
        return name if self.partitions <= 1 else f"{name}@{self.partition}/{self.partitions}"


def configured_rules(settings: SafeTwinSettings) -> list[Rule]:
    """The packs the settings name (the shipped ones by default), less the disabled rules."""
    paths = settings.rules.packs
    rules = load_packs(paths) if paths is not None else load_packs(None)
    if settings.rules.extra_packs:
        rules += load_packs(settings.rules.extra_packs)
    off = set(settings.rules.disabled_rules)
    return [r for r in rules if r.id not in off]


class Operations:
    """Rule engine, alarm manager, operational store and the actuator side of responses."""

    def __init__(
        self,
        settings: SafeTwinSettings,
        twin: Twin,
        history: HistoryBackend,
        topics: Topics,
        *,
        on_signals: Callable[[list[AlarmSignal]], None] | None = None,
        live: LiveState | None = None,
    ) -> None:
        self.settings = settings
        self.owner = WorkerShare(twin, settings.ingest.partitions, settings.ingest.partition)
        self.store = SqlOpsStore(settings.database)
        self.commands = CommandPublisher(settings.mqtt, topics)
        self.response = ActuatorResponse(twin, self.commands)
        self.topics = topics
        self.writer = OpsWriter(self.store, listeners=[self._announce])
        self.alarms = AlarmManager(
            twin,
            settings.alarms,
            sink=self.response,
            writer=self.writer,
            rule_name_zh=self.rule_name_zh,
            state_doc=self.owner.doc(ALARM_STATE_DOC),
        )
        packs = configured_rules(settings)
        self.rules = RuleEngine(twin, packs, history=history, settings=settings.rules)
        self.catalog = RuleCatalog(self.rules, self.store, packs)
        self.actuators = ActuatorService(
            twin,
            settings.actuators,
            self.commands,
            SqlCommandStore(settings.database),
            rule_of=self._rule_of,
            open_alarms=self.alarms.open_alarms,
            owns_device=self.owner.owns_device,
        )
        self.response.commands = self.actuators.tracked  # broadcasts are followed and stored too
        self._on_signals = on_signals
        self.rule_errors = 0
        self.notifier = Notifier(settings.notifications, on_update=self.response.update)
        self.response.delivery = self.notifier.submit
        self.permits = (  # confined-space permits watch live gas values: only with live state
            PermitManager(
                settings.permits,
                twin,
                live,
                TrackedFans(twin, self.actuators.manager),
                stop_work=ResponseStopWork(
                    settings.permits,
                    twin,
                    self.response,
                    play_by_lifecycle(self.actuators.manager.submit, play_by_publisher(self.commands.send)),
                ),
                store=self.store,
                doc_name=self.owner.doc(PERMITS_DOC),
            )
            if live is not None
            else None
        )

    def _rule_of(self, rule_id: str) -> Rule | None:
        """The rule in force with this id (rule actions are looked up only when a signal comes)."""
        return self.rules.rule(rule_id)

    def rule_name_zh(self, rule_id: str) -> str | None:
        """A rule's Chinese name (an override's from its base rule), for Chinese broadcasts and notices."""
        if rule_id in NAMES_ZH:
            return NAMES_ZH[rule_id]
        by_id = {r.id: r for r in self.rules.rules()}
        rule = by_id.get(rule_id) or by_id.get(rule_id.split("@", 1)[0])
        return rule.name_zh if rule is not None else None

    def _announce(self, changes: ChangeSet) -> None:
        """Every alarm and work-order change goes out on MQTT for integrations and dashboards."""
        for alarm in changes.alarms.values():
            self.commands.announce(self.topics.alarm(alarm.id), alarm.model_dump_json().encode())
        for order in changes.work_orders.values():
            self.commands.announce(self.topics.work_order(order.id), order.model_dump_json().encode())

    def open(self) -> None:
        """Migrate and open the store, then continue where the last run stopped (blocking)."""
        self.store.open()
        self.catalog.load()  # rules edited through the API, over the packs
        self.writer.start()
        self.actuators.open()
        summary = self.alarms.load(self.store, owns_site=self.owner.owns_site)
        if self.permits is not None:
            log.info("%d confined-space permit(s) open", self.permits.load())
        snap = self.store.load_document(self.owner.doc(RULE_STATE_DOC))
        if snap:
            self.rules.restore(snap)
        log.info("operations ready: %d rules; continued %s", len(self.rules.rules()), summary)

    def on_result(self, result: PipelineResult) -> None:
        """Ingest listener: evaluate the batch and apply what the rules say (inline, no I/O)."""
        self.actuators.on_result(result)  # levels first: interlocks and checks see this batch
        if self.permits is not None:
            self.permits.on_result(result)  # a breach under an open permit stops work at once
        self._apply(self.rules.on_result(result))

    def _apply(self, signals: list[AlarmSignal]) -> None:
        # Rule actions first: the fan command goes out before the alarm's record, notices and work
        # order are made (1-3 ms on a busy worker, sometimes over 10).  Actions that need evidence of
        # other alarms (evacuation broadcasts) run after, once this batch's alarms are recorded.
        first: list[AlarmSignal] = []
        later: list[AlarmSignal] = []
        for signal in signals:
            (later if self.actuators.runner.needs_evidence(signal) else first).append(signal)
        raised = self.actuators.on_signals(first)
        for signal in signals:
            try:
                self.alarms.on_signal(signal)
            except Exception:  # one bad signal must not stop the others
                self.rule_errors += 1
                log.exception("alarm manager failed on %s for %s", signal.rule_id, signal.source_id)
        if signals and self._on_signals is not None:
            self._on_signals(signals)
        if later:
            raised += self.actuators.on_signals(later)
        self._from_actuators(raised)

    def _from_actuators(self, signals: list[AlarmSignal]) -> None:
        """'Actuator failed' and 'ventilation ineffective' go to the alarm manager like any rule's."""
        for signal in signals:
            try:
                self.alarms.on_signal(signal)
            except Exception:
                self.rule_errors += 1
                log.exception("alarm manager failed on %s for %s", signal.rule_id, signal.source_id)

    async def run(self) -> None:
        """The command publisher and the tick loop, until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.commands.run(), name="commands")
            tg.create_task(self._tick_forever(), name="rules-tick")
            tg.create_task(self._actuator_ticks(), name="actuators-tick")
            tg.create_task(self.notifier.run(), name="notifier")
            if self.permits is not None:
                tg.create_task(self._permit_ticks(), name="permits-tick")

    async def _permit_ticks(self) -> None:
        assert self.permits is not None
        while True:
            await asyncio.sleep(1.0)
            self.permits.tick()  # lost gas monitoring or stopped fans under an open permit
            await asyncio.to_thread(self.permits.save_if_dirty)

    async def _actuator_ticks(self) -> None:
        every = self.settings.actuators.tick_interval_s
        while True:
            await asyncio.sleep(every)
            self._from_actuators(self.actuators.tick())

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        every = self.settings.rules.tick_interval_s
        save_every = self.settings.rules.snapshot_interval_s
        last_save = loop.time()
        while True:
            await asyncio.sleep(every)
            now = now_ms()
            self._apply(self.rules.tick(now))
            self.alarms.tick(now)
            if loop.time() - last_save >= save_every:
                last_save = loop.time()
                # taken and encoded a chunk at a time so ingest is not held up meanwhile
                snap = await finish_on_loop(self.rules.snapshot_in_steps())
                body = await finish_on_loop(encode_in_steps(snap))
                doc = self.owner.doc(RULE_STATE_DOC)
                await asyncio.to_thread(self.store.save_encoded_document, doc, body)

    def close(self) -> None:
        """Save rule state, flush alarm records, close the store (blocking)."""
        try:
            self.store.save_document(self.owner.doc(RULE_STATE_DOC), self.rules.snapshot())
        except Exception:
            log.exception("rule state could not be saved; pending timers restart on the next run")
        if not self.writer.stop(timeout=30):
            log.error("alarm records not all written in 30 s: %s", self.writer.status())
        if self.permits is not None:
            try:
                self.permits.save()
            except Exception:
                log.exception("confined-space permits could not be saved")
        self.rules.close()
        self.actuators.close()
        self.store.close()
