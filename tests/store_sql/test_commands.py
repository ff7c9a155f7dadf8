"""The command store on SQLite and PostgreSQL, and a restart that continues from it."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest

from actuators.publisher import CommandPublisher
from actuators.recorder import CommandRecorder
from actuators.records import CommandRecord, CommandState, CommandTransition, VerifySpec
from actuators.service import ActuatorService
from actuators.settings import ActuatorSettings
from core.contract import Topics, now_ms
from core.settings import DatabaseSettings, MqttSettings
from store.sql.commands import SqlCommandStore
from tests.actuators.support import twin


@pytest.fixture
def commands(db_url: str) -> Iterator[SqlCommandStore]:
    store = SqlCommandStore(DatabaseSettings(url=db_url))
    store.open()
    yield store
    store.close()


def record(corr: str, device: str, state: CommandState, ts: int, **extra: object) -> CommandRecord:
    values: dict[str, object] = {
        "correlation_id": corr,
        "device_id": device,
        "kind": "fan",
        "action": "set",
        "params": {"on": True, "speed": 2},
        "state": state,
        "issued_by": "user:王工",
        "operator": "王工",
        "reason": "排查异味",
        "space": "garage",
        "created_ts": ts,
        "updated_ts": ts,
        "expires_ts": ts + 120_000,
        **extra,
    }
    return CommandRecord.model_validate(values)


def test_commands_and_transitions_round_trip_and_list_with_filters(commands: SqlCommandStore) -> None:
    verify = VerifySpec(metric="co", fall_by=0.3, within_s=600)
    first = record("c0000001", "fan-1", CommandState.SENT, 1000, verify=verify)
    commands.save_command(first)
    commands.add_command_transitions(
        [
            CommandTransition(
                correlation_id="c0000001", ts=1000, state=CommandState.QUEUED, actor="user:王工"
            ),
            CommandTransition(correlation_id="c0000001", ts=1001, state=CommandState.SENT, actor="system"),
        ]
    )
    done = first.model_copy(update={"state": CommandState.EFFECT_VERIFIED, "updated_ts": 5000, "attempts": 1})
    commands.save_command(done)
    commands.save_command(
        record("c0000002", "fan-2", CommandState.REFUSED, 2000, detail="interlock: 30 %LEL")
    )
    commands.save_command(record("c0000003", "fan-1", CommandState.TIMED_OUT, 3000))
    assert commands.get_command("c0000001") == done
    assert [t.state for t in commands.command_transitions("c0000001")] == [
        CommandState.QUEUED,
        CommandState.SENT,
    ]
    items, total = commands.list_commands(device_id="fan-1")
    assert total == 2 and [c.correlation_id for c in items] == ["c0000003", "c0000001"]
    refused, n = commands.list_commands(states=[CommandState.REFUSED])
    assert n == 1 and refused[0].detail == "interlock: 30 %LEL"
    assert commands.list_commands(since_ts=2500)[1] == 1
    page, total = commands.list_commands(limit=1, offset=1)
    assert total == 3 and page[0].correlation_id == "c0000002"
    assert commands.get_command("nope") is None


def test_a_restart_ends_commands_in_flight_and_keeps_overrides(db_url: str) -> None:
    now = now_ms()
    store = SqlCommandStore(DatabaseSettings(url=db_url))
    store.open()
    store.save_command(record("c1000001", "fan-1", CommandState.SENT, now - 5000))
    store.save_command(
        record("c1000002", "fan-2", CommandState.SUCCEEDED, now - 4000, override_until_ts=now + 600_000)
    )
    store.close()
    publisher = CommandPublisher(MqttSettings(), Topics())
    service = ActuatorService(
        twin(),
        ActuatorSettings(),
        publisher,
        SqlCommandStore(DatabaseSettings(url=db_url)),
        rule_of=lambda _: None,
    )
    service.open()
    try:
        ended = service.get_command("c1000001")
        assert ended.state is CommandState.EXPIRED and "restarted" in (ended.transitions[-1].note or "")
        view = next(v for v in service.actuators() if v.device_id == "fan-2")
        assert view.override_until_ts == now + 600_000 and view.override_by == "王工"
        deadline = time.monotonic() + 5
        while service.list_commands(states=[CommandState.EXPIRED])[1] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.list_commands(states=[CommandState.EXPIRED])[1] == 1, "the end is stored too"
    finally:
        service.close()


def test_many_commands_are_saved_in_one_go_and_the_last_state_of_each_wins(commands: SqlCommandStore) -> None:
    sent = record("c2000001", "fan-1", CommandState.SENT, 1000)
    delivered = sent.model_copy(update={"state": CommandState.DELIVERED, "updated_ts": 1500})
    other = record("c2000002", "fan-2", CommandState.SENT, 1200)
    moves = [
        CommandTransition(correlation_id="c2000001", ts=1000, state=CommandState.SENT, actor="system"),
        CommandTransition(correlation_id="c2000002", ts=1200, state=CommandState.SENT, actor="system"),
        CommandTransition(correlation_id="c2000001", ts=1500, state=CommandState.DELIVERED, actor="device"),
    ]
    commands.save_commands([sent, other, delivered], moves)
    assert commands.get_command("c2000001") == delivered and commands.get_command("c2000002") == other
    states = [t.state for t in commands.command_transitions("c2000001")]
    assert states == [CommandState.SENT, CommandState.DELIVERED]
    commands.save_commands([], [])  # nothing gathered: nothing to do


def test_the_recorder_writes_what_gathered_together_and_drops_only_a_refused_record(
    commands: SqlCommandStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = commands.save_commands

    def save_commands(records: Sequence[CommandRecord], transitions: Sequence[CommandTransition]) -> None:
        calls.append(len(records))
        real(records, transitions)

    monkeypatch.setattr(commands, "save_commands", save_commands)
    recorder = CommandRecorder(commands)
    recorder.start()
    good = [record(f"c300000{i}", "fan-1", CommandState.SENT, 1000 + i) for i in range(3)]
    odd = record("c3000009", "fan-1", CommandState.SENT, 1009)
    for r in [*good[:2], odd, good[2]]:
        # the odd one's transition names a command that does not exist: the database refuses it
        corr = "c-nobody" if r is odd else r.correlation_id
        move = CommandTransition(correlation_id=corr, ts=r.created_ts, state=r.state, actor="system")
        recorder.submit(r, [move])
    recorder.wait_idle(10)
    assert recorder.stop()
    assert calls == [4], "four records gathered: one transaction tried"
    assert [commands.get_command(r.correlation_id) for r in good] == good, "the others written one by one"
    assert all(commands.command_transitions(r.correlation_id) for r in good)
    assert recorder.dropped == 1 and recorder.written == 3
    assert "command c3000009 not stored" in caplog.text
