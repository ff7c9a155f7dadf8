"""Query parameters shared by routes: paging, times as epoch ms or ISO 8601, bucket widths."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator

MAX_POINTS = 10_000  # most buckets one history request may ask for
AUTO_POINTS = 500  # 'auto' picks a bucket that gives at most this many points
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

_S = 1000
_M = 60 * _S
# Widths people read easily on a time axis; 'auto' picks the smallest that is wide enough.
NICE_BUCKETS_MS: tuple[int, ...] = (
    *(n * _S for n in (1, 2, 5, 10, 15, 30)),
    *(n * _M for n in (1, 2, 5, 10, 15, 30)),
    *(n * HOUR_MS for n in (1, 2, 3, 6, 12)),
    DAY_MS,
)


def parse_time(value: object) -> object:
    """Epoch milliseconds (digits) or an ISO 8601 time with a zone, as epoch ms."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(
            "expected epoch milliseconds or an ISO 8601 time with a zone, e.g. 2026-11-21T10:00:00Z"
        ) from err
    if parsed.tzinfo is None:
        raise ValueError("an ISO 8601 time needs a zone, e.g. 2026-11-21T10:00:00Z or +08:00")
    return int(parsed.timestamp() * 1000)


def parse_bucket(value: object) -> object:
    """'auto' (None) or a bucket width in milliseconds."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and value > 0:
        return value
    raise ValueError("expected 'auto' or a bucket width in milliseconds, e.g. 60000 for one minute")


def auto_bucket(span_ms: int, points: int = AUTO_POINTS) -> int:
    """The smallest easily read bucket width that cuts `span_ms` into at most `points` buckets."""
    need = -(-span_ms // points)
    for width in NICE_BUCKETS_MS:
        if width >= need:
            return width
    return -(-need // DAY_MS) * DAY_MS


Limit = Annotated[int, Query(ge=1, le=1000, description="Most items to return")]
Offset = Annotated[int, Query(ge=0, description="Items to skip from the start of the list")]
TimeMs = Annotated[
    int | None,
    BeforeValidator(parse_time),
    Query(description="Epoch milliseconds or ISO 8601 with a zone, e.g. 2026-11-21T10:00:00Z"),
]
BucketMs = Annotated[
    int | None,
    BeforeValidator(parse_bucket),
    Query(
        description=f"'auto' (default: at most about {AUTO_POINTS} points) or the bucket width in ms",
        json_schema_extra={"examples": ["auto", 60000]},
    ),
]
