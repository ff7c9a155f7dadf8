"""InfluxDB history specifics against a real influxd: errors a person can act on, chunked writes."""

from __future__ import annotations

import httpx
import pytest

from core.errors import StoreError
from core.settings import InfluxSettings
from store.influx import InfluxHistory
from tests.fixtures.influx import InfluxServer
from tests.fixtures.mosquitto import free_port
from tests.store.support import T0, batch_of, influx_settings


def test_an_unreachable_server_is_a_retryable_error() -> None:
    history = InfluxHistory(
        InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=1.0), lines_per_request=7
    )
    try:
        for call in (
            history.open,
            lambda: history.write(batch_of("d", "m", [(T0, 1.0)])),
            lambda: history.write(batch_of("d", "m", [(T0 + i, 1.0) for i in range(50)])),
            lambda: history.query("d", "m", T0, T0 + 1),
            history.latest,
        ):
            with pytest.raises(StoreError) as caught:
                call()
            assert caught.value.retryable
    finally:
        history.close()


@pytest.mark.influxdb
def test_points_the_server_refuses_are_a_final_error_with_its_reason(influxdb: InfluxServer) -> None:
    history = InfluxHistory(influx_settings(influxdb))
    history.open()
    # Someone else wrote `value` as a string: our float points now conflict with it.
    line = f'reading,device_id=d,metric=m value="text",received_ts=1i {T0}'
    httpx.post(f"{influxdb.url}/write", params={"db": "safetwin_test", "precision": "ms"}, content=line)
    try:
        with pytest.raises(StoreError) as caught:
            history.write(batch_of("d", "m", [(T0 + 1, 1.0)]))
        assert not caught.value.retryable
        assert "field type conflict" in str(caught.value)
    finally:
        history.close()


@pytest.mark.influxdb
def test_a_missing_database_keeps_points_for_later(influxdb: InfluxServer) -> None:
    history = InfluxHistory(influx_settings(influxdb, database="never_created", create_database=False))
    history.open()
    try:
        with pytest.raises(StoreError) as caught:
            history.write(batch_of("d", "m", [(T0, 1.0)]))
        assert caught.value.retryable
        assert "database not found" in str(caught.value)
    finally:
        history.close()


@pytest.mark.influxdb
def test_large_batches_are_sent_in_several_requests_and_all_arrive(influxdb: InfluxServer) -> None:
    history = InfluxHistory(influx_settings(influxdb), lines_per_request=7)
    history.open()
    try:
        history.write(batch_of("d", "m", [(T0 + i, float(i)) for i in range(50)]))
        [bucket] = history.query("d", "m", T0, T0 + 1000, bucket_ms=1000)
        assert (bucket.count, bucket.min, bucket.max, bucket.mean) == (50, 0.0, 49.0, 24.5)
    finally:
        history.close()


def test_a_newline_in_a_tag_is_refused_naming_the_device() -> None:
    history = InfluxHistory(InfluxSettings(url=f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(StoreError, match="dev-nl") as caught:
            history.write(batch_of("dev-nl", "m", [(T0, 1.0)], space="two\nlines"))
        assert not caught.value.retryable
    finally:
        history.close()
