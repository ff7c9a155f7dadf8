"""The dashboard's API client and view helpers, against the real API (no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_api
from dashboard.client import ApiClient
from dashboard.fmt import fmt_age, fmt_bytes, fmt_value
from dashboard.overview import overview
from dashboard.status import history_text
from tests.api.support import HeaderAuth, Parts, make_parts, serve
from tests.fixtures.mosquitto import free_port


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    p = make_parts(tmp_path)
    yield p
    p.close()


@pytest.fixture
def api_url(parts: Parts) -> Iterator[str]:
    with serve(create_api(parts.ctx)) as base:
        yield base


def test_client_reads_every_page_of_devices(api_url: str, parts: Parts) -> None:
    client = ApiClient(api_url, page_size=4, auth=HeaderAuth(parts.admin))
    devices, total = client.devices()
    ids = [d["id"] for d in devices]
    assert total == 6 and len(set(ids)) == 6
    assert ids == [
        d["id"] for d in ApiClient(api_url, auth=HeaderAuth(parts.admin)).devices()[0]
    ]  # same order as one big page
    five, total = client.devices(limit=5)
    assert [d["id"] for d in five] == ids[:5] and total == 6
    snap = client.snapshot()
    assert snap.error is None and snap.status is not None
    assert [s["name"] for s in snap.sites] == ["澜景社区", "观澜工地"]
    client.close()


def test_client_says_which_api_it_cannot_reach() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    snap = ApiClient(url, timeout_s=1).snapshot()
    assert snap.error is not None and url in snap.error
    assert snap.devices == [] and snap.status is None


def test_overview_notes_a_partial_device_list(api_url: str, parts: Parts) -> None:
    snap = ApiClient(api_url, auth=HeaderAuth(parts.admin)).snapshot()
    snap.devices_total = 10
    assert "first 6 of 10 devices" in str(overview(snap)[-1].children)


@pytest.mark.parametrize(
    ("value", "text"), [(12.5, "12.5"), (20.0, "20"), (0.0, "0"), (-0.001, "0"), (1400, "1400")]
)
def test_fmt_value(value: float, text: str) -> None:
    assert fmt_value(value) == text


def test_fmt_age_and_bytes() -> None:
    now = 10_000_000
    assert [fmt_age(now - s * 1000, now) for s in (0, 59, 60, 7200, 3 * 86400)] == [
        "0 s ago",
        "59 s ago",
        "1 min ago",
        "2 h ago",
        "3 d ago",
    ]
    assert fmt_age(None, now) == "never"
    assert (fmt_bytes(512), fmt_bytes(3 * 1024 * 1024)) == ("512 B", "3.0 MiB")


def test_history_text_tones() -> None:
    up = {
        "backend": "influxdb",
        "store_up": True,
        "spooled_bytes": 0,
        "spool_full": False,
        "dropped_points": 0,
    }
    assert history_text(up) == ("influxdb · up · spool empty", "ok")
    down = {**up, "store_up": False, "spooled_bytes": 2048}
    assert history_text(down) == ("influxdb · down · spool 2.0 KiB", "warn")
    full = {**down, "spool_full": True, "dropped_points": 1500}
    assert history_text(full) == (
        "influxdb · down · spool 2.0 KiB · spool FULL · 1,500 readings dropped",
        "bad",
    )
