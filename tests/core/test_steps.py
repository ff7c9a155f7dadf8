"""Encoding in steps writes exactly what orjson writes for the whole document, and does yield."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from core.steps import dumps, dumps_in_steps, encode_entries_in_steps, encode_in_steps, finish
from tests.helpers import run_steps

SNAPSHOT = {
    "format": 3,
    "saved_ts": 1_795_298_888_311,
    "devices": {f"d{i}": (1_795_298_888_311 + i, 17, i % 2) for i in range(2_500)},
    "rules": {
        "co-high": {
            "version": 2,
            "state": {"tracks": {f"d{i}": {"emitted": "idle", "st": [1.5, None]} for i in range(1_234)}},
        },
        "empty": {"version": 1, "state": {"tracks": {}}},
        'quote"d': {
            "version": 1,
            "state": {"silent": {"d1": [5, "no data, \u00e9t\u00e9"]}, "started": None},
        },
    },
    7: "non-string key",
}


@pytest.mark.parametrize(
    "doc",
    [SNAPSHOT, {}, [], None, 3.5, "text", {"a": {}}, {"big": {str(i): i for i in range(10)}}],
    ids=["snapshot", "empty-dict", "list", "null", "number", "string", "empty-child", "small"],
)
def test_the_pieces_join_into_the_same_bytes_as_one_encoding(doc: Any) -> None:
    whole = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    assert finish(dumps_in_steps(doc, 100)) == whole
    assert finish(dumps_in_steps(doc, 3)) == whole
    pieces = finish(encode_in_steps(doc, 3))
    assert pieces.assemble() == whole, "assembled a piece at a time, as a writer thread does"


def test_a_large_mapping_is_encoded_a_slice_at_a_time() -> None:
    yields, body = run_steps(dumps_in_steps(SNAPSHOT, 1_000))
    # devices: 3 slices of 1,000; the co-high tracks: 2 slices; nothing else is large
    assert yields == 5
    assert orjson.loads(body)["devices"]["d2499"] == [1_795_298_888_311 + 2_499, 17, 1]
    assert orjson.loads(orjson.dumps({"doc": orjson.Fragment(body)}))["doc"]["rules"]["empty"] == {
        "version": 1,
        "state": {"tracks": {}},
    }, "a Fragment passes the bytes through another encoder unchanged"


def test_entries_removed_between_slices_are_left_out() -> None:
    doc = {f"d{i}": i for i in range(30)}
    gen = dumps_in_steps(doc, 10)
    next(gen)  # the first ten are encoded
    del doc["d5"], doc["d25"]
    body = finish(gen)
    got = orjson.loads(body)
    assert "d5" in got, "already encoded before it was removed"
    assert "d25" not in got and len(got) == 29


def test_entries_are_encoded_as_taken_and_pieces_are_written_as_they_are() -> None:
    refused: list[str] = []
    values = {"a": 1, "b": None, "c": {1.5}, "d": [2, "二"], "e": (3, 4)}
    steps = encode_entries_in_steps(list(values), values.get, 2, lambda k, err: refused.append(k))
    yields, encoded = run_steps(steps)
    assert yields == 3, "five keys, two a step"
    assert refused == ["c"], "a set is not JSON: left out and reported; None is left out quietly"
    assert orjson.loads(bytes(encoded)) == {"a": 1, "d": [2, "二"], "e": [3, 4]}
    doc = {"big": encoded, "n": 1}
    assert orjson.loads(finish(dumps_in_steps(doc))) == {"big": {"a": 1, "d": [2, "二"], "e": [3, 4]}, "n": 1}
    assert dumps(doc) == finish(dumps_in_steps(doc)), "orjson writes the pieces as they are, too"
    assert bytes(finish(encode_entries_in_steps([], values.get, 2))) == b"{}"
    with pytest.raises(TypeError):
        finish(encode_entries_in_steps(["c"], values.get, 2))  # nobody to report it to
