"""core.heap.steady_copy: a snapshot's copy of ids is kept out of the collector's sight once settled."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from core import heap


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As after `heap.settle`, without changing this test process's thresholds; unfrozen afterwards."""
    monkeypatch.setitem(heap._STATE, "settled", True)
    try:
        yield
    finally:
        gc.unfreeze()


def _seen_by_collector(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_before_settle_it_is_a_plain_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(heap._STATE, "settled", False)  # a SafeTwin run in this process settles it
    ids = {f"d{i}": i for i in range(1000)}
    copy = heap.steady_copy(ids)
    assert copy == list(ids)
    assert _seen_by_collector(copy)


def test_once_settled_the_copy_is_out_of_the_collectors_sight(settled: None) -> None:
    ids = {f"d{i}": i for i in range(1000)}
    copy = heap.steady_copy(ids)
    assert copy == list(ids)
    assert gc.is_tracked(copy)
    assert not _seen_by_collector(copy)  # frozen: no young or old collection visits its entries


def test_garbage_of_the_moment_is_collected_not_frozen(settled: None) -> None:
    class Node:
        other: object = None

    was_enabled = gc.isenabled()
    gc.disable()  # so the cycle below is still in the youngest generation when the copy is made
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector can free it
        alive = weakref.ref(a)
        del a, b
        heap.steady_copy(["d1"])
    finally:
        if was_enabled:
            gc.enable()
    assert alive() is None  # collected, not frozen with the copy (a frozen cycle is kept for good)
