"""The notifier against real servers: routing, retries with backoff, recorded outcomes, failing channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from actuators.channels.settings import NotificationSettings
from actuators.notifier import Notifier
from actuators.response import ActuatorResponse, Notification
from core.alarms import Alarm, AlarmState, Grade, Severity, SourceKind
from core.contract import now_ms
from tests.actuators.channel_servers import http_recorder, note, smtp_server
from tests.helpers import eventually
from twin.loader import parse_twin
from twin.twin import Twin


class Records:
    """What the API's notification list would show: the latest version of each notification."""

    def __init__(self) -> None:
        self.by_id: dict[str, Notification] = {}

    def __call__(self, n: Notification) -> None:
        self.by_id[n.id] = n

    def settled(self, note_id: str) -> Callable[[], bool]:
        def check() -> bool:
            n = self.by_id.get(note_id)
            return n is not None and bool(n.outcomes) and all(o.status != "queued" for o in n.outcomes)

        return check


@asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[Notifier]:
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def settings(*channels: dict[str, object], **extra: object) -> NotificationSettings:
    return NotificationSettings.model_validate(
        {"channels": list(channels), "backoff_s": 0.01, "backoff_max_s": 0.05, **extra}
    )


async def test_each_requested_channel_gets_its_outcome_and_push_is_recorded_unconfigured() -> None:
    records = Records()
    with http_recorder() as sms, smtp_server() as (port, mails):
        cfg = settings(
            {"type": "sms_http", "name": "gw", "url": f"{sms.url}/send"},
            {
                "type": "smtp",
                "name": "mail",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from_address": "st@example.org",
            },
        )
        notifier = Notifier(cfg, on_update=records)
        n = note(["sms", "push", "email"])
        async with running(notifier):
            notifier.submit(n)
            await eventually(records.settled(n.id), what="every channel settled")
    got = records.by_id[n.id]
    by_channel = {o.channel: o for o in got.outcomes}
    assert by_channel["sms"].status == "delivered" and by_channel["sms"].driver == "gw"
    assert by_channel["email"].status == "delivered" and by_channel["email"].driver == "mail"
    assert by_channel["push"].status == "not_configured" and by_channel["push"].driver is None
    assert got.delivered and "not configured: push" in got.detail
    assert len(sms.requests) == 2 and len(mails) == 1
    assert notifier.not_configured == {"push": 1}


async def test_a_failing_gateway_is_retried_then_recorded_failed_with_its_reason() -> None:
    records = Records()
    with http_recorder(statuses=[500], answer="gateway broken") as hook:
        cfg = settings({"type": "webhook", "name": "hook", "url": hook.url}, max_attempts=3, failing_after=2)
        notifier = Notifier(cfg, on_update=records)
        first, second = note(["webhook"]), note(["webhook"])
        async with running(notifier):
            notifier.submit(first)
            await eventually(records.settled(first.id), what="first notification settled")
            assert notifier.system_alarms() == []  # one failure is not yet "keeps failing"
            notifier.submit(second)
            await eventually(records.settled(second.id), what="second notification settled")
    [outcome] = records.by_id[first.id].outcomes
    assert outcome.status == "failed" and outcome.attempts == 3
    assert "HTTP 500: gateway broken" in outcome.detail and "after 3 attempt(s)" in outcome.detail
    assert not records.by_id[first.id].delivered
    assert len(hook.requests) == 6
    status = notifier.status["hook"]
    assert (status.failed, status.delivered, status.attempts, status.failing_in_a_row) == (2, 0, 6, 2)
    [alarm] = notifier.system_alarms()
    assert alarm.key == "notification_channel_failing:hook" and "gateway broken" in alarm.message


async def test_a_gateway_that_recovers_delivers_on_a_retry_and_a_client_error_is_not_retried() -> None:
    records = Records()
    with http_recorder(statuses=[503, 200, 404]) as hook:
        notifier = Notifier(settings({"type": "webhook", "name": "hook", "url": hook.url}), on_update=records)
        ok, gone = note(["webhook"]), note(["webhook"])
        async with running(notifier):
            notifier.submit(ok)
            await eventually(records.settled(ok.id), what="retried notification settled")
            notifier.submit(gone)
            await eventually(records.settled(gone.id), what="refused notification settled")
    [delivered] = records.by_id[ok.id].outcomes
    assert delivered.status == "delivered" and delivered.attempts == 2
    [refused] = records.by_id[gone.id].outcomes
    assert refused.status == "failed" and refused.attempts == 1 and "HTTP 404" in refused.detail
    assert len(hook.requests) == 3


async def test_nothing_listening_is_a_recorded_failure() -> None:
    records = Records()
    cfg = settings({"type": "webhook", "name": "hook", "url": "http://127.0.0.1:1/x"}, max_attempts=2)
    notifier = Notifier(cfg, on_update=records)
    n = note(["webhook"])
    async with running(notifier):
        notifier.submit(n)
        await eventually(records.settled(n.id), what="settled")
    [outcome] = records.by_id[n.id].outcomes
    assert outcome.status == "failed" and "ConnectError" in outcome.detail


TWIN = """
version: 1
name: t
parties:
  - {id: pm, name: 物业, kind: property_company, contacts: [{name: 值班, phone: '13900000000'}]}
sites:
  - id: s1
    name: 小区
    kind: community
    location: {lat: 22.7, lon: 114.0}
    parties: {owner: pm}
    spaces:
      - {id: tank, name: 化粪池, kind: septic_tank, confined: true, devices: [{id: gas-1, kind: multi_gas}]}
"""


async def test_alarm_notifications_show_their_delivery_in_the_actuator_records() -> None:
    twin = Twin(parse_twin(TWIN, "t.yaml"))
    response = ActuatorResponse(twin, commands=None)  # type: ignore[arg-type]  # notify sends no command
    with http_recorder() as sms:
        notifier = Notifier(
            settings({"type": "sms_http", "name": "gw", "url": sms.url}), on_update=response.update
        )
        response.delivery = notifier.submit
        now = now_ms()
        alarm = Alarm(
            id="a-1", rule_id="confined-h2s", rule_version=1, rule_name="H2S", category="gas",
            source_kind=SourceKind.DEVICE, source_id="gas-1", site="s1", space="tank", party_id="pm",
            severity=Severity.EMERGENCY, peak_severity=Severity.EMERGENCY, state=AlarmState.ACTIVE,
            grade=Grade.EMERGENCY, message="H2S 20 ppm",
            created_ts=now, updated_ts=now,
        )  # fmt: skip
        async with running(notifier):
            response.notify(alarm, ["sms"], "化粪池硫化氢紧急")
            await eventually(lambda: response.recent(1)[0].delivered, what="delivered in the records")
    [shown] = response.recent(10)
    assert shown.outcomes[0].driver == "gw" and shown.outcomes[0].status == "delivered"
    assert b"13900000000" in sms.requests[0].body


async def test_one_driver_serving_several_requested_channels_sends_once() -> None:
    records = Records()
    with http_recorder() as hook:
        cfg = settings(
            {"type": "webhook", "name": "ioc", "url": hook.url, "serves": ["sms", "push", "webhook"]}
        )
        notifier = Notifier(cfg, on_update=records)
        n = note(["sms", "push"])
        async with running(notifier):
            notifier.submit(n)
            await eventually(records.settled(n.id), what="settled")
    assert len(hook.requests) == 1
    assert [(o.channel, o.driver, o.status) for o in records.by_id[n.id].outcomes] == [
        ("sms", "ioc", "delivered"),
        ("push", "ioc", "delivered"),
    ]


def test_a_full_queue_fails_the_oldest_notification_visibly() -> None:
    records = Records()
    notifier = Notifier(settings({"type": "webhook", "name": "h", "url": "http://127.0.0.1:1/"}, queue_max=2))
    notifier.on_update = records
    first, second, third = note(["webhook"]), note(["webhook"]), note(["webhook"])
    for n in (first, second, third):
        notifier.submit(n)  # the notifier is not running: nothing is sent yet
    [dropped] = records.by_id.values()
    assert dropped.id == first.id and not dropped.delivered
    assert dropped.outcomes[0].status == "failed" and "queue full" in dropped.outcomes[0].detail
