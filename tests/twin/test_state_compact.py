"""Live state and twin internals kept small for a 400,000-device community."""

from __future__ import annotations

import copy
import pickle

import orjson
import pytest

from core.records import ReadingBatch
from core.steps import finish
from tests.helpers import run_steps
from tests.ingest.conftest import SMALL_TWIN
from twin.loader import parse_twin
from twin.model import Contact
from twin.state import LiveState
from twin.twin import Twin


def test_sweeping_a_share_at_a_time_reaches_every_device() -> None:
    twin = Twin(parse_twin(SMALL_TWIN))
    live = LiveState(twin, offline_after_ms=1_000, clock_skew_warn_ms=60_000)
    batch = ReadingBatch()
    for dev in ("co-1", "co-2", "gas-1"):
        batch.append(0, 0, dev, "battery", 90.0, "%", "site-a", "", "x", "co_sensor")
    live.apply(batch)
    went: list[str] = []
    for _ in range(len(twin.devices)):  # a fifth of five devices per call: one pass in five calls
        went += live.sweep(10_000, share=0.2)
    assert sorted(went) == ["co-1", "co-2", "gas-1"]
    assert live.sweep(10_000, share=0.2) == []


def test_devices_share_equal_spec_parts_without_changing_them() -> None:
    twin = Twin(parse_twin(SMALL_TWIN))
    co1, co2, gas = (twin.devices[d] for d in ("co-1", "co-2", "gas-1"))
    assert co1.spec.contacts is gas.spec.contacts and co1.spec.meta is gas.spec.meta
    assert co1.metrics is not co2.metrics, "co-2 has its own range, so its own metric specs"
    assert co2.metrics["co"].max == 500 and co1.metrics["co"].max == 1000
    assert co1.metrics is twin.devices["co-1"].metrics
    assert co1.spec.model_dump() == {**co1.spec.model_dump(), "id": "co-1", "meta": {}, "ranges": {}}


def test_shared_spec_parts_dump_as_before_and_refuse_changes() -> None:
    fresh = parse_twin(SMALL_TWIN)
    twin = Twin(parse_twin(SMALL_TWIN))
    assert twin.spec == fresh and twin.spec.model_dump_json() == fresh.model_dump_json()
    spec = twin.devices["co-1"].spec
    assert spec.model_fields_set == {"id", "kind"}
    assert pickle.loads(pickle.dumps(spec)) == spec and copy.deepcopy(spec) == spec
    assert spec.model_copy(update={"meta": {"model": "X1"}}).meta == {"model": "X1"}
    with pytest.raises(TypeError, match="read-only"):
        spec.meta["model"] = "X1"
    with pytest.raises(TypeError, match="read-only"):
        spec.contacts.append(Contact(name="Duty officer"))
    assert twin.devices["gas-1"].spec.meta == {}


def _reading(live: LiveState, dev: str, metric: str, value: float, ts: int) -> None:
    batch = ReadingBatch()
    batch.append(ts, ts, dev, metric, value, "", "site-a", "", "x", "")
    live.apply(batch)


def test_live_values_keep_the_latest_measurement_of_each_metric() -> None:
    live = LiveState(Twin(parse_twin(SMALL_TWIN)), offline_after_ms=1_000, clock_skew_warn_ms=60_000)
    assert live.devices["gas-1"].values == {} and live.view("gas-1").values == {}
    _reading(live, "gas-1", "h2s", 3.5, 2_000)
    _reading(live, "gas-1", "co", 12.0, 1_000)
    _reading(live, "gas-1", "h2s", 9.0, 1_500)  # measured before the one held
    _reading(live, "gas-1", "noise", 60.0, 3_000)  # not a metric of a multi-gas detector
    assert live.devices["gas-1"].values == {"co": (12.0, 1_000), "h2s": (3.5, 2_000)}
    h2s = live.view("gas-1").values["h2s"]
    assert (h2s.value, h2s.unit, h2s.ts) == (3.5, "ppm", 2_000)
    assert live.devices["co-1"].values == {}


def test_live_values_survive_a_snapshot_stored_as_json() -> None:
    twin = Twin(parse_twin(SMALL_TWIN))
    first = LiveState(twin, offline_after_ms=1_000, clock_skew_warn_ms=60_000)
    _reading(first, "co-2", "co", 41.5, 5_000)
    _reading(first, "co-2", "battery", 80.0, 5_000)
    second = LiveState(twin, offline_after_ms=1_000, clock_skew_warn_ms=60_000)
    _reading(second, "co-2", "rssi", -70.0, 1_000)  # replaced by the snapshot, not merged with it
    second.restore(orjson.loads(orjson.dumps(first.snapshot())))
    assert second.devices["co-2"].values == {"co": (41.5, 5_000), "battery": (80.0, 5_000)}
    assert second.view("co-2") == first.view("co-2")


def test_the_snapshot_encoded_in_steps_is_the_snapshot_as_json() -> None:
    twin = Twin(parse_twin(SMALL_TWIN))
    live = LiveState(twin, offline_after_ms=1_000, clock_skew_warn_ms=60_000)
    _reading(live, "co-2", "co", 41.5, 5_000)
    _reading(live, "gas-1", "h2s", 3.5, 2_000)
    yields, body = run_steps(live.snapshot_json_in_steps(chunk=1))
    assert yields == len(live.devices), "one step per device: ingest may run in between"
    assert orjson.loads(body.assemble()) == orjson.loads(orjson.dumps(live.snapshot()))
    assert set(orjson.loads(body.assemble())) == {"co-2", "gas-1"}, "devices never heard from are left out"
    nobody = LiveState(twin, offline_after_ms=1_000, clock_skew_warn_ms=60_000)
    assert finish(nobody.snapshot_json_in_steps()).assemble() == b"{}"
