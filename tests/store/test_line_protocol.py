"""Line protocol and InfluxQL literals, checked against hand-written text."""

from __future__ import annotations

import pytest

from core.records import ReadingBatch
from store.line_protocol import (
    LineProtocolError,
    escape_key,
    escape_measurement,
    escape_string_field,
    influxql_ident,
    influxql_string,
    influxql_time,
    to_line_protocol,
)


def test_batch_becomes_one_line_per_reading_with_sorted_tags_and_typed_fields() -> None:
    batch = ReadingBatch()
    batch.append(
        1_700_000_000_123, 1_700_000_000_456, "co-7", "co", 12.5, "ppm", "site-1", "b-2", "s-3", "co_sensor"
    )
    batch.append(
        1_700_000_000_124, 1_700_000_000_457, "co-7", "co", 3e-05, "ppm", "site-1", "b-2", "s-3", "co_sensor"
    )

    assert to_line_protocol(batch) == (
        b"reading,building=b-2,device_id=co-7,kind=co_sensor,metric=co,site=site-1,space=s-3,unit=ppm "
        b"value=12.5,received_ts=1700000000456i 1700000000123\n"
        b"reading,building=b-2,device_id=co-7,kind=co_sensor,metric=co,site=site-1,space=s-3,unit=ppm "
        b"value=0.00003,received_ts=1700000000457i 1700000000124\n"
    )


def test_values_are_written_in_a_form_that_reads_back_to_the_same_float() -> None:
    values = [
        0.1 + 0.2,
        1e-7,
        1e22,
        -0.0,
        5.0,
        -123456789.125,
        2.2250738585072014e-308,
        1.7976931348623157e308,
    ]
    batch = ReadingBatch()
    for i, v in enumerate(values):
        batch.append(i, i, "d", "m", v, "", "", "", "", "")

    lines = to_line_protocol(batch).splitlines()
    written = [line.split(b" ")[1].split(b",")[0].removeprefix(b"value=") for line in lines]

    assert [float(w) for w in written] == values
    # Both the Go and the Rust parser take an exponent only as e, an optional sign, then digits.
    assert all(w.split(b"e")[1].lstrip(b"+-").isdigit() for w in written if b"e" in w)


def test_special_characters_are_escaped_and_text_is_utf8() -> None:
    batch = ReadingBatch()
    batch.append(5, 6, 'gas "A",1', "ch4", -1.0, "%LEL", "东区 1号", "", "a=b", "k")

    expected = (
        'reading,device_id=gas\\ "A"\\,1,kind=k,metric=ch4,site=东区\\ 1号,space=a\\=b,unit=%LEL '
        "value=-1.0,received_ts=6i 5\n"
    )
    assert to_line_protocol(batch) == expected.encode("utf-8")


def test_empty_tags_are_left_out_and_non_finite_values_skipped() -> None:
    batch = ReadingBatch()
    for ts, value in [(1, float("nan")), (2, 4.0), (3, float("inf")), (4, float("-inf"))]:
        batch.append(ts, ts, "d", "m", value, "", "", "", "", "")

    assert to_line_protocol(batch) == b"reading,device_id=d,metric=m value=4.0,received_ts=2i 2\n"


@pytest.mark.parametrize(
    "bad", ["line\nbreak", "cr\rhere", "tab\there", "ends\\", "x\\,y", "x\\\\y", "x\\ y"]
)
def test_values_no_influxdb_version_reads_back_the_same_are_refused(bad: str) -> None:
    batch = ReadingBatch()
    batch.append(1, 1, "dev-9", "co", 1.0, "ppm", "site", "b", bad, "k")

    with pytest.raises(LineProtocolError, match="dev-9"):
        to_line_protocol(batch)


def test_escaping_rules_per_element() -> None:
    assert escape_measurement("a b,c=d") == "a\\ b\\,c=d"
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_key('q"uote\\d') == 'q"uote\\d'  # quotes and a lone backslash are literal in tags
    assert escape_string_field('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


def test_influxql_literals() -> None:
    assert influxql_string("it's a\\b") == "'it\\'s a\\\\b'"
    assert influxql_ident('we"ird') == '"we\\"ird"'
    assert influxql_time(1_767_225_600_007) == "'2026-01-01T00:00:00.007Z'"
    assert influxql_time(0) == "'1970-01-01T00:00:00.000Z'"
