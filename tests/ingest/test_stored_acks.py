"""PUBACKs wait until history has stored their batch, and go out a whole stretch in one write."""

from __future__ import annotations

import asyncio
import struct
import threading

from ingest.subscriber import _pubacks, _StoredAcks


class _Client:
    def __init__(self) -> None:
        self.writes: list[list[int]] = []

    def ack_all(self, mids: list[int]) -> None:
        self.writes.append(mids)


async def test_batches_stored_together_are_acknowledged_in_one_write_in_order() -> None:
    client = _Client()
    acks = _StoredAcks(asyncio.get_running_loop(), client)  # type: ignore[arg-type]
    stored = [acks.hold([1, 2]), acks.hold([3]), acks.hold([4, 5])]

    def history() -> None:  # calls back from its own thread, batch after batch
        stored[0]()
        stored[1]()

    thread = threading.Thread(target=history)
    thread.start()
    thread.join()
    assert client.writes == [], "written from the loop, not from history's thread"
    await asyncio.sleep(0)
    assert client.writes == [[1, 2, 3]], "two stored batches, one write"
    await asyncio.sleep(0)
    assert client.writes == [[1, 2, 3]], "the third batch is not stored yet: held"
    stored[2]()
    await asyncio.sleep(0)
    assert client.writes == [[1, 2, 3], [4, 5]]
    stored[2]()  # a late duplicate call writes nothing again
    await asyncio.sleep(0)
    assert client.writes == [[1, 2, 3], [4, 5]]


def test_puback_packets_carry_each_id_big_endian_in_order() -> None:
    mids = [1, 255, 256, 4660, 65535, 2, 2]
    expected = b"".join(struct.pack("!BBH", 0x40, 2, mid) for mid in mids)
    assert _pubacks(mids) == expected
    assert _pubacks([]) == b""
