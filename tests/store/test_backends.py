"""The history contract, run against each backend on a real store (DuckDB file, real influxd)."""

from __future__ import annotations

import pytest

from core.records import ReadingBatch, ReadingRecord
from store.base import HistoryBackend, HistoryPoint
from tests.store.support import T0, batch_of

# Values chosen so that every mean is exact in binary floating point.  Buckets of 1 s: four readings
# in T0, none in T0+1000 and T0+2000, one in T0+3000, two in T0+4000.
CO = [
    (T0 + 0, 1.0), (T0 + 250, 2.0), (T0 + 500, 3.0), (T0 + 750, 6.0),
    (T0 + 3100, 10.0),
    (T0 + 4000, -4.5), (T0 + 4999, 0.5),
]  # fmt: skip


@pytest.fixture
def filled(history: HistoryBackend) -> HistoryBackend:
    history.write(batch_of("dev-1", "co", CO))
    history.write(batch_of("dev-1", "ch4", [(T0 + 100, 50.0), (T0 + 900, 55.0)], unit="%LEL"))
    history.write(batch_of("dev-2", "co", [(T0 + 200, 99.0)], building="", space="yard"))
    return history


def test_raw_query_is_half_open_oldest_first_and_one_series(filled: HistoryBackend) -> None:
    points = filled.query("dev-1", "co", T0 + 250, T0 + 4000)

    assert points == [HistoryPoint(ts=ts, mean=v, max=v, min=v, count=1) for ts, v in CO[1:5]]


def test_downsampled_query_gives_exact_buckets_aligned_to_the_epoch(filled: HistoryBackend) -> None:
    points = filled.query("dev-1", "co", T0, T0 + 10_000, bucket_ms=1000)

    assert points == [
        HistoryPoint(ts=T0, mean=3.0, max=6.0, min=1.0, count=4),
        HistoryPoint(ts=T0 + 3000, mean=10.0, max=10.0, min=10.0, count=1),
        HistoryPoint(ts=T0 + 4000, mean=-2.0, max=0.5, min=-4.5, count=2),
    ]


def test_a_range_starting_inside_a_bucket_reports_the_bucket_start(filled: HistoryBackend) -> None:
    points = filled.query("dev-1", "co", T0 + 250, T0 + 1000, bucket_ms=1000)

    assert len(points) == 1
    assert (points[0].ts, points[0].max, points[0].min, points[0].count) == (T0, 6.0, 2.0, 3)
    assert points[0].mean == pytest.approx(11.0 / 3.0)


def test_query_of_an_unknown_series_is_empty(filled: HistoryBackend) -> None:
    assert filled.query("dev-9", "co", T0, T0 + 10_000) == []
    assert filled.query("dev-1", "o2", T0, T0 + 10_000, bucket_ms=60_000) == []


def test_latest_gives_the_newest_reading_of_each_device_and_metric(filled: HistoryBackend) -> None:
    latest = filled.latest()

    assert latest == [
        ReadingRecord(
            ts=T0 + 900,
            received_ts=T0 + 907,
            device_id="dev-1",
            metric="ch4",
            value=55.0,
            unit="%LEL",
            site="site-1",
            building="b-1",
            space="s-1",
            kind="co_sensor",
        ),
        ReadingRecord(
            ts=T0 + 4999,
            received_ts=T0 + 5006,
            device_id="dev-1",
            metric="co",
            value=0.5,
            unit="ppm",
            site="site-1",
            building="b-1",
            space="s-1",
            kind="co_sensor",
        ),
        ReadingRecord(
            ts=T0 + 200,
            received_ts=T0 + 207,
            device_id="dev-2",
            metric="co",
            value=99.0,
            unit="ppm",
            site="site-1",
            building="",
            space="yard",
            kind="co_sensor",
        ),
    ]
    assert [(r.device_id, r.metric) for r in filled.latest(["dev-2", "dev-404"])] == [("dev-2", "co")]
    assert filled.latest([]) == []


def test_an_empty_batch_is_a_no_op(history: HistoryBackend) -> None:
    history.write(ReadingBatch())

    assert history.latest() == []


NASTY_IDS = [
    "探测器-1号",  # Chinese
    "dev,with,commas",
    "key=value=more",
    "has space  and  two",
    'quoted "device"',
    "single 'quote'",
    'mixed 楼 1,单元=2 "A"',
    "back\\slash",
]


@pytest.mark.parametrize("device_id", NASTY_IDS)
def test_names_with_special_characters_are_read_back_exactly(history: HistoryBackend, device_id: str) -> None:
    site, space = f"站点 {device_id}", f"空间,{device_id}="
    history.write(
        batch_of(
            device_id,
            "co",
            [(T0, 1.5), (T0 + 10, 2.5)],
            site=site,
            building=device_id,
            space=space,
            unit="%LEL",
            kind='k "x"',
        )
    )
    history.write(batch_of("neighbour", "co", [(T0, 9.0)]))

    assert history.query(device_id, "co", T0, T0 + 100) == [
        HistoryPoint(ts=T0, mean=1.5, max=1.5, min=1.5, count=1),
        HistoryPoint(ts=T0 + 10, mean=2.5, max=2.5, min=2.5, count=1),
    ]
    [latest] = history.latest([device_id])
    assert latest == ReadingRecord(
        ts=T0 + 10,
        received_ts=T0 + 17,
        device_id=device_id,
        metric="co",
        value=2.5,
        unit="%LEL",
        site=site,
        building=device_id,
        space=space,
        kind='k "x"',
    )


def test_floats_of_every_form_are_read_back_exactly(history: HistoryBackend) -> None:
    values = [
        0.1 + 0.2,
        3e-05,
        1e-7,
        1e22,
        -123456789.125,
        5.0,
        2.2250738585072014e-308,
        1.7976931348623157e308,
    ]
    history.write(batch_of("dev-f", "x", [(T0 + i, v) for i, v in enumerate(values)]))

    assert [p.mean for p in history.query("dev-f", "x", T0, T0 + 100)] == values
