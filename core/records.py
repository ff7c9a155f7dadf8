"""Stored records: a reading as the API shows it, and the columnar batch the hot path carries.

`ReadingRecord` is the one schema of a stored reading (API output, history rows).  On the hot path
readings travel as a `ReadingBatch` of parallel columns, so that a batch of thousands of readings is
a handful of lists rather than thousands of objects; the backends turn it into Arrow or line protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from core.contract import EpochMs


class ReadingRecord(BaseModel):
    """One stored reading of one metric of one device, with the twin tags it was stored under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: EpochMs = Field(description="Measurement time by the device clock, epoch ms")
    received_ts: EpochMs = Field(description="When SafeTwin received it, epoch ms")
    device_id: str = Field(description="Device id")
    metric: str = Field(description="Metric name, e.g. 'co'")
    value: float = Field(description="Value in `unit`")
    unit: str = Field(description="Unit of the value, e.g. 'ppm', '%LEL', '%vol'")
    site: str = Field(description="Site id (street / community)")
    building: str = Field(description="Building id; empty for spaces outside buildings")
    space: str = Field(description="Space id")
    kind: str = Field(description="Device kind, e.g. 'co_sensor'")


COLUMNS: tuple[str, ...] = tuple(ReadingRecord.model_fields)


@dataclass(slots=True)
class ReadingBatch:
    """Readings as parallel columns, in arrival order; the unit of work of ingest and history."""

    ts: list[int] = field(default_factory=list)
    received_ts: list[int] = field(default_factory=list)
    device_id: list[str] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)
    site: list[str] = field(default_factory=list)
    building: list[str] = field(default_factory=list)
    space: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def append(
        self,
        ts: int,
        received_ts: int,
        device_id: str,
        metric: str,
        value: float,
        unit: str,
        site: str,
        building: str,
        space: str,
        kind: str,
    ) -> None:
        self.ts.append(ts)
        self.received_ts.append(received_ts)
        self.device_id.append(device_id)
        self.metric.append(metric)
        self.value.append(value)
        self.unit.append(unit)
        self.site.append(site)
        self.building.append(building)
        self.space.append(space)
        self.kind.append(kind)

    def extend(self, other: ReadingBatch) -> None:
        for name in COLUMNS:
            getattr(self, name).extend(getattr(other, name))

    def slice(self, start: int, stop: int) -> ReadingBatch:
        return ReadingBatch(**{name: getattr(self, name)[start:stop] for name in COLUMNS})

    def columns(self) -> dict[str, list[Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def records(self) -> Iterator[ReadingRecord]:
        for row in zip(*(getattr(self, name) for name in COLUMNS), strict=True):
            yield ReadingRecord(**dict(zip(COLUMNS, row, strict=True)))

    def to_json(self) -> bytes:
        return orjson.dumps(self.columns())

    @classmethod
    def from_json(cls, data: bytes) -> ReadingBatch:
        cols = orjson.loads(data)
        return cls(**{name: cols[name] for name in COLUMNS})

    @classmethod
    def from_records(cls, records: list[ReadingRecord]) -> ReadingBatch:
        batch = cls()
        for r in records:
            batch.append(
                r.ts,
                r.received_ts,
                r.device_id,
                r.metric,
                r.value,
                r.unit,
                r.site,
                r.building,
                r.space,
                r.kind,
            )
        return batch


class SystemAlarm(BaseModel):
    """An alarm about SafeTwin itself (history store down, spool full, broker unreachable)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Stable identifier, e.g. 'history_spool_full'")
    severity: str = Field(description="'warning' or 'critical'")
    message: str = Field(description="What is wrong and what to do")
    since_ts: int = Field(description="When it was raised, epoch ms")
