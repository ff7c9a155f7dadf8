"""Which worker handles a message when several ingest + rules workers share the load.

Devices are partitioned by site: a stable hash (CRC-32) of the site id, modulo the number of
partitions.  A device, the gateway it reports through and the other devices of its space therefore
always meet in the same worker, so per-device and per-space rule state (timers, windows, combined
rules) lives in exactly one process.  An id the twin does not know is partitioned by its own hash, so
exactly one worker dead-letters it.
"""

from __future__ import annotations

import zlib

from core.contract import Topics
from twin.twin import Twin


def stable_partition(key: str, partitions: int) -> int:
    """The partition of a key: the same in every process and every run (unlike `hash()`)."""
    return zlib.crc32(key.encode()) % partitions


class Partition:
    """Keeps the messages of one partition out of `partitions`, by the site of the topic's device."""

    def __init__(self, twin: Twin, topics: Topics, partitions: int, partition: int) -> None:
        if not 0 <= partition < partitions:
            raise ValueError(f"partition {partition} is not in 0..{partitions - 1}")
        self.twin = twin
        self.partitions = partitions
        self.partition = partition
        self._prefix = topics.root + "/"
        self._site_part = {site: stable_partition(site, partitions) for site in twin.sites}

    def of_ident(self, ident: str) -> int:
        """The partition of a device or gateway id."""
        place = self.twin.devices.get(ident)
        site = place.site if place is not None else self.twin.site_of_gateway.get(ident)
        if site is None:
            return stable_partition(ident, self.partitions)
        return self._site_part[site]

    def keeps(self, topic: str) -> bool:
        """True when the message on `topic` is this worker's; a topic outside the contract is kept
        by partition 0 only (so it is dead-lettered once)."""
        if not topic.startswith(self._prefix):
            return self.partition == 0
        parts = topic[len(self._prefix) :].split("/", 2)
        if len(parts) < 2 or not parts[1]:
            return self.partition == 0
        return self.of_ident(parts[1]) == self.partition
