"""How /metrics reads command outcomes from whatever actuator service the context carries."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from api.routes.metrics import command_counts


def test_counts_from_the_service_when_it_offers_them() -> None:
    ctx = SimpleNamespace(actuators=SimpleNamespace(command_counts=lambda: {"succeeded": 3}))
    assert command_counts(ctx) == {"succeeded": 3}  # type: ignore[arg-type]


def test_counts_from_the_managers_records_otherwise() -> None:
    records = {str(i): SimpleNamespace(state=s) for i, s in enumerate(["sent", "succeeded", "succeeded"])}
    manager = SimpleNamespace(_records=records, _lock=threading.RLock())
    ctx = SimpleNamespace(actuators=SimpleNamespace(manager=manager))
    assert command_counts(ctx) == {"sent": 1, "succeeded": 2}  # type: ignore[arg-type]


def test_no_actuators_no_counts() -> None:
    assert command_counts(SimpleNamespace(actuators=None)) == {}  # type: ignore[arg-type]
