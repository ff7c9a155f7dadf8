"""The state file: documents saved whole, from values or from pieces encoded in steps."""

from __future__ import annotations

from pathlib import Path

from core.steps import encode_entries_in_steps, finish
from store.state_sqlite import SqliteStateStore


def test_a_document_saved_from_pieces_reads_back_as_the_same_value(tmp_path: Path) -> None:
    entries = {f"dev-{i}": {"values": {"co": [1.5, i]}, "备注": None} for i in range(1_000)}
    store = SqliteStateStore(tmp_path / "state.sqlite")
    try:
        store.save("live_state", {"old": 1})
        store.save_encoded("live_state", finish(encode_entries_in_steps(list(entries), entries.get, 64)))
        assert store.load("live_state") == entries, "replaced whole by the pieces, in order"
        store.save_encoded("unregistered", b"[1,2]")
        assert store.load("unregistered") == [1, 2]
    finally:
        store.close()
