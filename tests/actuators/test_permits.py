"""Confined-space permits as pure logic: ventilate first, then test, then work; stop-work on a breach."""

from __future__ import annotations

from pathlib import Path

import pytest

from actuators.manager import Live
from actuators.permit_models import (
    Permit,
    PermitConflict,
    PermitInvalid,
    PermitRefused,
    PermitRequest,
    PermitStatus,
)
from actuators.permit_response import ResponseStopWork, play_by_lifecycle, play_by_publisher
from actuators.permit_settings import GasLimits, PermitSettings
from actuators.permits import PermitManager
from actuators.response import ActuatorResponse
from actuators.ventilation import FanStates, TrackedFans
from core.contract import Command
from core.records import ReadingBatch
from core.settings import DatabaseSettings
from ingest.pipeline import PipelineResult
from store.sql import SqlOpsStore
from twin.loader import parse_twin
from twin.state import LiveState
from twin.twin import Twin

TWIN = """
version: 1
name: t
parties:
  - {id: pm, name: 物业, kind: property_company, contacts: [{name: 物业值班, phone: '13900000001'}]}
  - {id: sq, name: 社区, kind: community, contacts: [{name: 社区值班, phone: '13900000002'}]}
sites:
  - id: s1
    name: 澜景社区
    kind: community
    location: {lat: 22.7, lon: 114.0}
    parties: {owner: pm, community: sq}
    spaces:
      - id: tank
        name: 1号化粪池
        kind: septic_tank
        devices:
          - {id: gas-1, kind: multi_gas}
          - {id: fan-1, kind: fan}
          - {id: spk-1, kind: speaker}
      - id: cellar
        name: 地窖
        kind: cellar
        confined: true
        devices:
          - {id: co-9, kind: co_sensor}
      - id: yard
        name: 院子
        kind: outdoor
        devices:
          - {id: co-1, kind: co_sensor}
"""

MIN = 60_000
T0 = 1_800_000_000_000
CLEAN = {"o2": 20.8, "lel": 0.0, "ch4": 0.0, "h2s": 0.5, "co": 2.0}


class Orders:
    """Stop-work orders received (a stand-in for the speaker and notification side)."""

    def __init__(self) -> None:
        self.got: list[tuple[Permit, str]] = []

    def stop_work(self, permit: Permit, text: str) -> None:
        self.got.append((permit, text))


class Site:
    """A twin, its live state, the fans and a permit manager, driven by readings at given times."""

    def __init__(self, store: SqlOpsStore | None = None) -> None:
        self.twin = Twin(parse_twin(TWIN, "t.yaml"))
        self.live = LiveState(self.twin, offline_after_ms=10 * MIN, clock_skew_warn_ms=5 * MIN)
        self.fans = FanStates(self.twin)
        self.orders = Orders()
        settings = PermitSettings(ventilation_min_s=600, gas_stable_s=300, max_reading_age_s=120)
        self.permits = PermitManager(
            settings, self.twin, self.live, self.fans, stop_work=self.orders, store=store, clock=lambda: T0
        )

    def air(self, ts: int, **over: float) -> None:
        """The four-gas monitor of the tank reports at `ts`, as ingest hands it over."""
        batch = ReadingBatch()
        p = self.twin.devices["gas-1"]
        for metric, value in {**CLEAN, **over}.items():
            batch.append(
                ts, ts, "gas-1", metric, value, p.metrics[metric].unit, "s1", "", "tank", p.kind.value
            )
        self.live.apply(batch)
        self.permits.on_result(PipelineResult(readings=batch))

    def clean_air(self, start: int, end: int, **over: float) -> None:
        for ts in range(start, end + 1, MIN):
            self.air(ts, **over)

    def ask(self, now: int, space: str = "tank") -> Permit:
        req = PermitRequest(space_id=space, entrants=["王师傅", "刘师傅"], supervisor="陈工", reason="清掏")
        return self.permits.request(req, "operator-1", now=now)


def refused(site: Site, now: int) -> list[str]:
    with pytest.raises(PermitRefused) as err:
        site.ask(now)
    assert err.value.permit.status is PermitStatus.REFUSED
    return err.value.permit.refusals


def test_refused_before_ventilation_even_in_clean_air() -> None:
    site = Site()
    site.clean_air(T0, T0 + 20 * MIN)
    [reason] = refused(site, T0 + 20 * MIN)
    assert "ventilate first" in reason and "1号化粪池" in reason
    site.fans.on_state("fan-1", {"on": True, "rpm": 0}, T0 + 20 * MIN)  # switched on but not turning
    assert "ventilate first" in refused(site, T0 + 31 * MIN)[0]
    site.fans.on_state("fan-1", {"on": True, "rpm": 1400}, T0 + 20 * MIN)
    site.clean_air(T0 + 21 * MIN, T0 + 25 * MIN)
    [reason] = refused(site, T0 + 25 * MIN)
    assert "ventilation has run 5.0 of the 10 min required" in reason


def test_refused_while_h2s_is_high_then_granted_after_the_air_stayed_clean() -> None:
    site = Site()
    site.fans.on_state("fan-1", {"on": True, "speed": 3, "rpm": 1400}, T0)
    site.clean_air(T0, T0 + 12 * MIN, h2s=12.0)
    reasons = refused(site, T0 + 12 * MIN)
    assert reasons == ["H2S 12 ppm is not below 7 ppm at gas-1"]
    site.clean_air(T0 + 13 * MIN, T0 + 15 * MIN)
    [reason] = refused(site, T0 + 15 * MIN)  # clean, but not for the 5 minutes yet
    assert reason == "H2S at gas-1 within limits for 120 s of the 300 s required"
    site.clean_air(T0 + 16 * MIN, T0 + 18 * MIN)
    permit = site.ask(T0 + 18 * MIN)
    assert permit.status is PermitStatus.GRANTED and permit.ventilation_since_ts == T0
    assert {(r.metric, r.value) for r in permit.readings} >= {("h2s", 0.5), ("o2", 20.8), ("co", 2.0)}
    assert [p.id for p in site.permits.list(status=PermitStatus.REFUSED)] != []
    with pytest.raises(PermitConflict, match="already open"):
        site.ask(T0 + 18 * MIN)


def test_each_gas_and_fresh_readings_are_required() -> None:
    site = Site()
    site.fans.on_state("fan-1", {"on": True}, T0)
    site.clean_air(T0, T0 + 12 * MIN, o2=18.9, lel=12.0, co=30.0)
    reasons = refused(site, T0 + 12 * MIN)
    assert "O2 18.9 %vol is below 19.5 %vol at gas-1" in reasons
    assert "LEL 12 %LEL is not below 10 %LEL at gas-1" in reasons
    assert "CO 30 ppm is not below 17 ppm at gas-1" in reasons
    stale = refused(site, T0 + 20 * MIN)  # nothing heard for 8 minutes
    assert any(r.startswith("test first: no O2 reading from gas-1") for r in stale)
    with pytest.raises(PermitRefused) as err:
        site.permits.request(
            PermitRequest(space_id="cellar", entrants=["a"], supervisor="b", reason="c"), "op", now=T0
        )
    assert any("no O2 sensor in 地窖" in r for r in err.value.permit.refusals)
    with pytest.raises(PermitInvalid, match="not a confined space"):
        site.ask(T0, space="yard")
    with pytest.raises(PermitInvalid, match="no space"):
        site.ask(T0, space="nowhere")


def granted(site: Site) -> Permit:
    site.fans.on_state("fan-1", {"on": True, "rpm": 1400}, T0)
    site.clean_air(T0, T0 + 12 * MIN)
    return site.ask(T0 + 12 * MIN)


def test_an_h2s_spike_revokes_the_permit_and_orders_stop_work_at_once() -> None:
    site = Site()
    permit = granted(site)
    site.permits.record_entry(permit.id, "王师傅", "in", "op", now=T0 + 13 * MIN)
    site.air(T0 + 14 * MIN, h2s=15.2)
    got = site.permits.get(permit.id)
    assert got.status is PermitStatus.REVOKED and got.revoked_ts == T0 + 14 * MIN
    assert got.breach is not None and got.breach.reading is not None
    assert (got.breach.reading.metric, got.breach.reading.value, got.breach.reading.device_id) == (
        "h2s",
        15.2,
        "gas-1",
    )
    [(ordered, text)] = site.orders.got
    assert ordered.id == permit.id and text.startswith("1号化粪池硫化氢超限，15.2 ppm！") and "撤离" in text
    assert got.stop_work == text
    with pytest.raises(PermitConflict, match="revoked: nobody may enter"):
        site.permits.record_entry(permit.id, "刘师傅", "in", "op")
    with pytest.raises(PermitConflict, match="still inside"):
        site.permits.close(permit.id, "op")
    site.permits.record_entry(permit.id, "王师傅", "out", "op")
    closed = site.permits.close(permit.id, "op")
    assert closed.status is PermitStatus.CLOSED and closed.breach is not None
    site.air(T0 + 15 * MIN, h2s=20.0)
    assert len(site.orders.got) == 1  # no permit open any more: nothing more to stop


def test_entries_and_exits_are_logged_and_closing_needs_everyone_out() -> None:
    site = Site()
    permit = granted(site)
    pid = permit.id
    site.permits.record_entry(pid, "王师傅", "in", "op-a", now=T0 + 13 * MIN)
    site.permits.record_entry(pid, "刘师傅", "in", "op-a", now=T0 + 14 * MIN)
    with pytest.raises(PermitConflict, match="already inside"):
        site.permits.record_entry(pid, "王师傅", "in", "op-a")
    with pytest.raises(PermitConflict, match="not an entrant"):
        site.permits.record_entry(pid, "路人", "in", "op-a")
    site.permits.record_entry(pid, "王师傅", "out", "op-b", now=T0 + 20 * MIN)
    with pytest.raises(PermitConflict, match="刘师傅 still inside"):
        site.permits.close(pid, "op-b")
    with pytest.raises(PermitConflict, match="not inside"):
        site.permits.record_entry(pid, "王师傅", "out", "op-b")
    site.permits.record_entry(pid, "刘师傅", "out", "op-b", now=T0 + 21 * MIN)
    closed = site.permits.close(pid, "op-b", now=T0 + 22 * MIN)
    assert closed.status is PermitStatus.CLOSED and closed.closed_by == "op-b" and closed.inside == []
    assert [(e.person, e.direction, e.operator) for e in closed.entries] == [
        ("王师傅", "in", "op-a"),
        ("刘师傅", "in", "op-a"),
        ("王师傅", "out", "op-b"),
        ("刘师傅", "out", "op-b"),
    ]
    with pytest.raises(PermitConflict):
        site.permits.close(pid, "op-b")
    assert site.ask(T0 + 12 * MIN + 30_000).status is PermitStatus.GRANTED  # the space is free again


def test_lost_gas_monitoring_or_stopped_fans_stop_work() -> None:
    site = Site()
    first = granted(site)
    site.permits.tick(T0 + 13 * MIN)
    assert site.permits.get(first.id).status is PermitStatus.GRANTED
    site.permits.tick(T0 + 15 * MIN)  # the monitor went quiet 3 minutes ago
    lost = site.permits.get(first.id)
    assert lost.status is PermitStatus.REVOKED and lost.breach is not None
    assert "gas monitoring lost" in lost.breach.reason and "gas-1" in lost.breach.reason
    assert lost.stop_work is not None and "气体监测中断" in lost.stop_work
    site.permits.close(first.id, "op")
    site.clean_air(T0 + 16 * MIN, T0 + 22 * MIN)
    second = site.ask(T0 + 22 * MIN)
    site.fans.on_state("fan-1", {"on": False, "rpm": 0}, T0 + 22 * MIN)
    site.permits.tick(T0 + 22 * MIN)
    stopped = site.permits.get(second.id)
    assert stopped.status is PermitStatus.REVOKED and stopped.breach is not None
    assert "ventilation stopped" in stopped.breach.reason and "通风已停止" in (stopped.stop_work or "")
    assert len(site.orders.got) == 2


def test_fans_seen_running_in_live_state_count_from_when_they_were_seen() -> None:
    site = Site()
    site.live.set_actuator_state("fan-1", {"on": True, "rpm": 1400}, T0)
    site.fans.sync(site.live, T0 + MIN)
    assert site.fans.running_since_ms("tank") == T0 + MIN
    site.fans.sync(site.live, T0 + 5 * MIN)
    assert site.fans.running_since_ms("tank") == T0 + MIN
    site.live.set_availability("fan-1", False, T0 + 6 * MIN)
    site.fans.sync(site.live, T0 + 6 * MIN)
    assert site.fans.running_since_ms("tank") is None


def test_permits_survive_a_restart_and_stay_watched(tmp_path: Path) -> None:
    store = SqlOpsStore(DatabaseSettings(url=f"sqlite:///{tmp_path / 'ops.db'}"))
    store.open()
    try:
        site = Site(store)
        permit = granted(site)
        site.permits.record_entry(permit.id, "王师傅", "in", "op", now=T0 + 13 * MIN)
        again = Site(store)
        assert again.permits.load() == 1
        back = again.permits.get(permit.id)
        assert back.inside == ["王师傅"] and back.status is PermitStatus.GRANTED
        again.air(T0 + 14 * MIN, co=40.0)
        assert again.permits.get(permit.id).status is PermitStatus.REVOKED
        again.permits.save_if_dirty()
        assert Site(store).permits.load() == 0
    finally:
        store.close()


def test_stop_work_plays_on_the_space_speaker_and_notifies_the_responsible_people() -> None:
    site = Site()
    sent: list[tuple[str, Command]] = []
    response = ActuatorResponse(site.twin, commands=None)  # type: ignore[arg-type]  # sends nothing itself
    direct = play_by_publisher(lambda d, c: sent.append((d, c)))

    def refuse(*args: object, **kw: object) -> None:
        raise RuntimeError("interlock")

    sink = ResponseStopWork(site.permits.settings, site.twin, response, play_by_lifecycle(refuse, direct))
    site.permits.stop_work_sink = sink
    permit = granted(site)
    site.air(T0 + 13 * MIN, h2s=30.0)
    [(speaker, command)] = sent
    assert speaker == "spk-1" and command.action == "play" and command.issued_by == f"permit:{permit.id}"
    assert "硫化氢超限，30 ppm" in command.params["text"] and command.params["volume"] == 100
    [note] = response.recent(5)
    assert note.alarm_id == f"permit:{permit.id}" and note.channels == ["sms", "push"]
    assert [c.name for c in note.recipients] == ["物业值班", "社区值班"]


def test_limits_match_the_cited_values() -> None:
    limits = GasLimits()
    assert limits.breach("o2", 19.5) is None and limits.breach("o2", 23.5) is None
    assert limits.breach("o2", 19.4) and limits.breach("o2", 23.6)
    assert limits.breach("h2s", 6.9) is None and limits.breach("h2s", 7.0)
    assert limits.breach("co", 16.9) is None and limits.breach("co", 17)
    assert limits.breach("lel", 9.9) is None and limits.breach("ch4", 10)
    assert limits.breach("battery", 3) is None


def test_ventilation_as_the_command_lifecycle_tracks_it() -> None:
    twin = Site().twin
    lives = {"fan-1": Live(state={"on": True, "rpm": 1400}, online=True, active_since=T0)}

    class Tracker:
        def live(self, device_id: str) -> Live:
            return lives[device_id]

    fans = TrackedFans(twin, Tracker())
    assert fans.running_since_ms("tank") == T0 and fans.running_since_ms("yard") is None
    lives["fan-1"].online = False
    assert fans.running_since_ms("tank") is None
    lives["fan-1"] = Live(state={"on": True, "rpm": 0}, online=True, active_since=T0)
    assert fans.running_since_ms("tank") is None
