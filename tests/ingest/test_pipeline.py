"""The ingest pipeline on its own: validation, dead letters, unregistered devices, live state."""

from __future__ import annotations

import orjson
import pytest

from core.contract import Topics
from ingest.pipeline import InboundMessage, IngestPipeline
from ingest.registry import DeadLetterLog, UnregisteredDevices
from twin.state import Health, LiveState
from twin.twin import Twin

T = Topics("t")
NOW = 1_800_000_000_000


@pytest.fixture
def pipe(small_twin: Twin) -> IngestPipeline:
    live = LiveState(small_twin, offline_after_ms=60_000, clock_skew_warn_ms=300_000)
    return IngestPipeline(
        small_twin,
        live,
        T,
        max_payload_bytes=4096,
        dead_letters=DeadLetterLog(),
        unregistered=UnregisteredDevices(),
    )


def msg(topic: str, payload: object, received: int = NOW) -> InboundMessage:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return InboundMessage(topic, body, received)


def test_single_reading_reaches_live_state_and_batch(pipe: IngestPipeline) -> None:
    out = pipe.process([msg(T.telemetry("co-1"), {"ts": NOW - 1000, "metrics": {"co": 12.5, "battery": 90}})])
    assert not out.dead_letters
    rows = list(out.readings.records())
    assert {(r.metric, r.value, r.unit) for r in rows} == {("co", 12.5, "ppm"), ("battery", 90.0, "%")}
    r = rows[0]
    assert (r.ts, r.received_ts, r.site, r.building, r.space, r.kind) == (
        NOW - 1000,
        NOW,
        "site-a",
        "bld-1",
        "garage-1",
        "co_sensor",
    )
    view = pipe.live.view("co-1")
    assert view.values["co"].value == 12.5 and view.online and view.health == Health.OK


def test_iso_timestamp_and_missing_timestamp(pipe: IngestPipeline) -> None:
    out = pipe.process(
        [
            msg(T.telemetry("co-1"), {"ts": "2027-01-15T07:00:00Z", "metrics": {"co": 1}}),
            msg(T.telemetry("co-2"), {"metrics": {"co": 2}}),
        ]
    )
    assert out.readings.ts == [NOW - 3_600_000, NOW]


def test_gateway_batch_keeps_good_readings_and_deadletters_bad_ones(pipe: IngestPipeline) -> None:
    payload = {
        "v": 1,
        "readings": [
            {"device_id": "co-1", "ts": NOW, "metrics": {"co": 5}},
            {"device_id": "co-2", "ts": NOW, "metrics": {"co": "lots"}},
            {"device_id": "ghost-9", "ts": NOW, "metrics": {"co": 1}},
            {"device_id": "gas-1", "ts": NOW, "metrics": {"h2s": 3.5, "o2": 20.9}},
        ],
    }
    out = pipe.process([msg(T.gateway_batch("gw-1"), payload)])
    assert sorted(zip(out.readings.device_id, out.readings.metric, strict=True)) == [
        ("co-1", "co"),
        ("gas-1", "h2s"),
        ("gas-1", "o2"),
    ]
    cats = {(c, d.device_id, d.field) for c, d in out.dead_letters}
    assert ("invalid", "co-2", "readings.1.metrics.co") in cats
    assert ("unknown_device", "ghost-9", "device_id") in cats
    assert [u.device_id for u in pipe.unregistered.list()] == ["ghost-9"]


@pytest.mark.parametrize(
    ("payload", "category", "field", "words"),
    [
        (b"{not json", "invalid", "(payload)", "Invalid JSON"),
        ({"metrics": {"co": "high"}}, "invalid", "metrics.co", "valid number"),
        ({"ts": 1}, "invalid", "metrics", "required"),
        ({"metrics": {"co": 5}, "colour": "red"}, "invalid", "colour", "Extra inputs"),
        ({"metrics": {"co": 5000}}, "out_of_range", "metrics.co", "outside the valid range [0.0, 1000.0]"),
        ({"metrics": {"h2s": 1}}, "unknown_metric", "metrics.h2s", "reports"),
        ({"metrics": {"co": 5}, "ts": "yesterday"}, "invalid", "ts", "ISO 8601"),
    ],
)
def test_bad_telemetry_is_deadlettered_with_reason(
    pipe: IngestPipeline, payload: object, category: str, field: str, words: str
) -> None:
    good = msg(T.telemetry("co-2"), {"metrics": {"co": 7}})
    out = pipe.process([good, msg(T.telemetry("co-1"), payload), good])
    assert out.readings.value == [7.0, 7.0], "good traffic around the bad message is processed"
    assert len(out.dead_letters) == 1
    cat, letter = out.dead_letters[0]
    assert (cat, letter.device_id, letter.field) == (category, "co-1", field)
    assert words in letter.reason
    assert letter.topic == T.telemetry("co-1")


def test_device_range_override_and_fault_health(pipe: IngestPipeline) -> None:
    out = pipe.process([msg(T.telemetry("co-2"), {"metrics": {"co": 600}})])
    assert out.dead_letters[0][0] == "out_of_range" and "[0.0, 500.0]" in out.dead_letters[0][1].reason
    pipe.process([msg(T.telemetry("co-2"), {"metrics": {"co": 6}})])
    assert pipe.live.view("co-2").health == Health.FAULT


def test_nan_is_refused(pipe: IngestPipeline) -> None:
    out = pipe.process([msg(T.telemetry("co-1"), b'{"metrics": {"co": NaN}}')])
    assert not out.readings and out.dead_letters


def test_oversize_and_unknown_topic(pipe: IngestPipeline) -> None:
    out = pipe.process(
        [
            msg(T.telemetry("co-1"), {"metrics": {"co": 1}, "seq": 1} | {"pad": "x" * 5000}),
            msg("t/v1/whatever/co-1", {"metrics": {"co": 1}}),
            msg("t/v1/telemetry/co-1/extra", {"metrics": {"co": 1}}),
        ]
    )
    assert [c for c, _ in out.dead_letters] == ["oversize", "bad_topic", "bad_topic"]
    assert "exceeds the limit of 4096" in out.dead_letters[0][1].reason


def test_unknown_device_is_listed_not_dropped(pipe: IngestPipeline) -> None:
    pipe.process([msg(T.telemetry("new-sensor"), {"metrics": {"co": 1}}, NOW)])
    pipe.process([msg(T.telemetry("new-sensor"), {"metrics": {"co": 2}}, NOW + 5)])
    (u,) = pipe.unregistered.list()
    assert (u.device_id, u.messages, u.first_seen_ts, u.last_seen_ts) == ("new-sensor", 2, NOW, NOW + 5)
    assert '"co":2' in u.last_payload


def test_clock_skew_is_flagged_but_reading_kept(pipe: IngestPipeline) -> None:
    out = pipe.process([msg(T.telemetry("co-1"), {"ts": NOW - 3_600_000, "metrics": {"co": 3}})])
    assert len(out.readings) == 1
    view = pipe.live.view("co-1")
    assert view.health == Health.CLOCK_OFF and view.clock_skew_ms == -3_600_000


def test_older_reading_does_not_replace_newer_live_value(pipe: IngestPipeline) -> None:
    pipe.process([msg(T.telemetry("co-1"), {"ts": NOW, "metrics": {"co": 9}})])
    out = pipe.process([msg(T.telemetry("co-1"), {"ts": NOW - 10_000, "metrics": {"co": 1}})])
    assert len(out.readings) == 1, "a late reading still goes to history"
    assert pipe.live.view("co-1").values["co"].value == 9


def test_availability_plain_and_json(pipe: IngestPipeline) -> None:
    pipe.process([msg(T.availability("co-1"), b"online")])
    assert pipe.live.view("co-1").online
    pipe.process([msg(T.availability("co-1"), {"state": "offline", "reason": "last-will"})])
    v = pipe.live.view("co-1")
    assert not v.online and v.health == Health.OFFLINE
    out = pipe.process([msg(T.availability("co-1"), b"maybe")])
    assert out.dead_letters and "expected 'online', 'offline'" in out.dead_letters[0][1].reason


def test_detection_ack_and_state(pipe: IngestPipeline) -> None:
    det = {
        "type": "new",
        "event_id": "e1",
        "label": "smoke",
        "ts": NOW,
        "start_ts": NOW,
        "score": 0.8,
        "top_score": 0.8,
        "box": [0.1, 0.1, 0.3, 0.4],
    }
    ack = {"correlation_id": "c0ffee-0001", "status": "succeeded", "ts": NOW}
    state = {"ts": NOW, "state": {"on": True, "speed": 2}}
    out = pipe.process(
        [
            msg(T.detection("cam-1"), det),
            msg(T.detection("co-1"), det),
            msg(T.ack("fan-1"), ack),
            msg(T.state("fan-1"), state),
        ]
    )
    assert [(c, d.label.value) for c, d in out.detections] == [("cam-1", "smoke")]
    assert "not a camera" in out.dead_letters[0][1].reason
    assert out.acks[0][1].correlation_id == "c0ffee-0001"
    assert pipe.live.view("fan-1").actuator_state == {"on": True, "speed": 2}


def test_live_state_snapshot_round_trip(pipe: IngestPipeline, small_twin: Twin) -> None:
    pipe.process([msg(T.telemetry("gas-1"), {"ts": NOW, "metrics": {"h2s": 4, "o2": 20.8}})])
    other = LiveState(small_twin, offline_after_ms=60_000, clock_skew_warn_ms=300_000)
    other.restore(orjson.loads(orjson.dumps(pipe.live.snapshot())))
    assert other.view("gas-1") == pipe.live.view("gas-1")


def test_offline_sweep(pipe: IngestPipeline) -> None:
    pipe.process([msg(T.telemetry("co-1"), {"metrics": {"co": 1}}, NOW)])
    assert pipe.live.sweep(NOW + 30_000) == []
    assert pipe.live.sweep(NOW + 61_000) == ["co-1"]
    assert pipe.live.view("co-1").health == Health.OFFLINE


GATEWAY_TWIN = """
version: 1
name: gw
sites:
  - id: s
    name: S
    location: {lat: 22.7, lon: 114.0}
    gateways:
      - {id: gw-1, name: 网关1}
    spaces:
      - id: well-1
        name: 污水井
        kind: sewer_well
        devices:
          - {id: h2s-1, kind: h2s_sensor, gateway: gw-1}
          - {id: h2s-2, kind: h2s_sensor, gateway: gw-1}
          - {id: o2-1, kind: o2_sensor}
"""


def test_gateway_last_will_takes_its_devices_offline() -> None:
    from twin.loader import parse_twin

    twin = Twin(parse_twin(GATEWAY_TWIN, "gw.yaml"))
    live = LiveState(twin, offline_after_ms=60_000, clock_skew_warn_ms=300_000)
    pipe = IngestPipeline(
        twin,
        live,
        T,
        max_payload_bytes=4096,
        dead_letters=DeadLetterLog(),
        unregistered=UnregisteredDevices(),
    )
    pipe.process(
        [
            msg(
                T.gateway_batch("gw-1"),
                {
                    "readings": [
                        {"device_id": d, "metrics": {m: 1.0}}
                        for d, m in (("h2s-1", "h2s"), ("h2s-2", "h2s"), ("o2-1", "o2"))
                    ]
                },
            )
        ]
    )
    out = pipe.process([msg(T.availability("gw-1"), {"state": "offline", "reason": "last-will"})])
    assert not out.dead_letters, "a declared gateway is not an unknown device"
    assert [pipe.live.view(d).health for d in ("h2s-1", "h2s-2", "o2-1")] == [
        Health.OFFLINE,
        Health.OFFLINE,
        Health.OK,
    ]
    pipe.process([msg(T.availability("gw-1"), b"online")])
    assert pipe.live.gateways_online == {"gw-1": True}
    assert not pipe.live.view("h2s-1").online, "a device is online again only when heard from"
    pipe.process([msg(T.telemetry("h2s-1"), {"metrics": {"h2s": 2}})])
    assert pipe.live.view("h2s-1").online


def test_quiet_device_with_a_birth_stays_online_until_its_will(pipe: IngestPipeline) -> None:
    """A camera sends no telemetry: its birth and last-will, not silence, decide whether it is online."""
    pipe.process(
        [msg(T.availability("cam-1"), b"online", NOW), msg(T.telemetry("co-1"), {"metrics": {"co": 1}})]
    )
    assert pipe.live.sweep(NOW + 3_600_000) == ["co-1"], "a sensor that falls silent still goes offline"
    assert pipe.live.view("cam-1").online
    pipe.process([msg(T.availability("cam-1"), b"offline", NOW + 3_600_001)])
    assert not pipe.live.view("cam-1").online


def test_access_events_from_a_reader() -> None:
    from twin.loader import parse_twin

    twin = Twin(
        parse_twin(
            GATEWAY_TWIN.replace(
                "- {id: o2-1, kind: o2_sensor}",
                "- {id: o2-1, kind: o2_sensor}\n          - {id: gate-1, kind: access_reader}",
            ),
            "acc.yaml",
        )
    )
    live = LiveState(twin, offline_after_ms=60_000, clock_skew_warn_ms=300_000)
    pipe = IngestPipeline(
        twin,
        live,
        T,
        max_payload_bytes=4096,
        dead_letters=DeadLetterLog(),
        unregistered=UnregisteredDevices(),
    )
    ev = {"ts": NOW, "person_id": "W-0042", "direction": "in", "method": "qr"}
    out = pipe.process(
        [
            msg(T.access("gate-1"), ev),
            msg(T.access("o2-1"), ev),
            msg(T.access("gate-1"), {"ts": NOW, "person_id": "W-1", "direction": "sideways"}),
        ]
    )
    assert [(r, e.person_id, e.direction.value) for r, e in out.access] == [("gate-1", "W-0042", "in")]
    assert [(c, d.device_id, d.field) for c, d in out.dead_letters] == [
        ("invalid", "o2-1", "(topic)"),
        ("invalid", "gate-1", "direction"),
    ]
