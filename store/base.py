"""The history interface every backend implements, and the query results it returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from core.records import ReadingBatch, ReadingRecord


class HistoryPoint(BaseModel):
    """One time bucket of one metric of one device (a raw point when not downsampled)."""

    model_config = ConfigDict(frozen=True)

    ts: int = Field(description="Bucket start (or the point's time), epoch ms")
    mean: float = Field(description="Mean of the values in the bucket")
    max: float = Field(description="Largest value in the bucket")
    min: float = Field(description="Smallest value in the bucket")
    count: int = Field(description="Number of readings in the bucket")


class HistoryBackend(Protocol):
    """A history store.  Methods are blocking; the writer calls them from its own thread."""

    name: str

    def open(self) -> None:
        """Connect and create what is missing (table, database); raise StoreError if unreachable."""

    def write(self, batch: ReadingBatch) -> None:
        """Write every reading of the batch, all or nothing as far as the backend allows.

        Raise StoreError(retryable=True) when the store is unreachable, so the batch is spooled.
        """

    def query(
        self, device_id: str, metric: str, start_ms: int, end_ms: int, bucket_ms: int | None = None
    ) -> list[HistoryPoint]:
        """Readings in [start_ms, end_ms), oldest first, downsampled to buckets of bucket_ms if given."""

    def latest(self, device_ids: Sequence[str] | None = None) -> list[ReadingRecord]:
        """The newest reading of each (device, metric), for the given devices or all."""

    def cache_bytes(self) -> int | None:
        """Memory the store holds as cache inside this process, bytes; None where it keeps none here."""

    def close(self) -> None:
        """Release connections and files."""
