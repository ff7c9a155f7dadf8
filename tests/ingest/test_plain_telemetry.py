"""The quick reading of plain telemetry agrees with the contract's model wherever it answers."""

from __future__ import annotations

import random

import orjson
import pytest
from pydantic import ValidationError

from core.contract import Telemetry
from ingest.pipeline import plain_telemetry

PLAIN = [
    b'{"ts":1700000000000,"metrics":{"co":4.0}}',
    b'{"v":1,"ts":0,"seq":7,"metrics":{"co":4,"ch4":0.5,"temperature":-3.25}}',
    b'{"metrics":{"o2":20.9}}',
    b'{"ts":null,"seq":null,"metrics":{"h2s":18446744073709551615}}',
    b' {"metrics" : {"co" : 1e3}}\n',
    b'{"metrics":{"co":1,"co":2.5},"ts":5,"ts":7}',  # repeated keys: the last one counts in both
    b'{"metrics":{"' + b"a" * 64 + b'":1}}',
    b'{"metrics":{"co":123456789012345678901234567890}}',  # orjson reads it as a float, as the model does
]
NOT_PLAIN = [
    b'{"ts":"2026-11-21T10:00:00Z","metrics":{"co":4}}',  # an ISO time: the model converts it
    b'{"ts":1.0,"metrics":{"co":4}}',
    b'{"ts":true,"metrics":{"co":4}}',
    b'{"ts":-1,"metrics":{"co":4}}',
    b'{"seq":-1,"metrics":{"co":4}}',
    b'{"v":2,"metrics":{"co":4}}',
    b'{"v":true,"metrics":{"co":4}}',
    b'{"v":null,"metrics":{"co":4}}',
    b'{"metrics":{"co":"4.5"}}',
    b'{"metrics":{"co":true}}',
    b'{"metrics":{"co":null}}',
    b'{"metrics":{"co":NaN}}',
    b'{"metrics":{}}',
    b'{"metrics":[1]}',
    b'{"metrics":{"Co":1}}',
    b'{"metrics":{"co\\n":1}}',
    b'{"metrics":{"1co":1}}',
    b'{"metrics":{"' + b"a" * 65 + b'":1}}',
    b'{"metrics":{"co":1},"extra":1}',
    b"\xef\xbb\xbf" + b'{"metrics":{"co":1}}',
    b'[{"metrics":{"co":1}}]',
    b'{"metrics":{"co":1}',
    b"",
    b"\xff",
]


def _model(payload: bytes) -> tuple[int | None, dict[str, float]] | None:
    try:
        tel = Telemetry.model_validate_json(payload)
    except ValidationError:
        return None
    return tel.ts, tel.metrics


def _same(fast: tuple[int | None, dict[str, float]], model: tuple[int | None, dict[str, float]]) -> bool:
    floats = all(type(v) is float and repr(v) == repr(model[1][k]) for k, v in fast[1].items())
    return fast == model and floats


@pytest.mark.parametrize("payload", PLAIN)
def test_plain_payloads_are_read_quickly_and_as_the_model_reads_them(payload: bytes) -> None:
    fast = plain_telemetry(payload)
    model = _model(payload)
    assert fast is not None and model is not None
    assert _same(fast, model)


@pytest.mark.parametrize("payload", NOT_PLAIN)
def test_other_forms_and_wrong_payloads_are_left_to_the_model(payload: bytes) -> None:
    assert plain_telemetry(payload) is None


def test_random_payloads_read_quickly_are_what_the_model_accepts() -> None:
    rng = random.Random(8)
    names = ["co", "ch4", "o2", "h2s", "lel", "temperature", "Co", "co2x", "c o", "", "a" * 64, "a" * 65]
    values: list[object] = [0, -1, 4.0, 1e308, -0.0, 2**53 + 1, 2**63, True, None, "4", [1], {"x": 1}]
    times: list[object] = [0, 1_700_000_000_000, -5, 1.5, "2026-11-21T10:00:00Z", None, False]
    quick = 0
    for _ in range(3000):
        doc: dict[str, object] = {}
        if rng.random() < 0.3:
            doc["v"] = rng.choice([1, 2, True, None])
        if rng.random() < 0.7:
            doc["ts"] = rng.choice(times)
        if rng.random() < 0.2:
            doc["seq"] = rng.choice([0, 3, -1, 1.0, None])
        if rng.random() < 0.95:
            doc["metrics"] = {rng.choice(names): rng.choice(values) for _ in range(rng.randint(0, 3))}
        if rng.random() < 0.05:
            doc["extra"] = 1
        payload = orjson.dumps(doc)
        fast = plain_telemetry(payload)
        if fast is not None:
            quick += 1
            model = _model(payload)
            assert model is not None, f"read quickly but refused by the model: {payload!r}"
            assert _same(fast, model), payload
    assert quick > 100, "the quick reading was taken for the plain payloads among them"
