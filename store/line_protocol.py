"""InfluxDB line protocol and InfluxQL literals: pure functions, no I/O.

The escaping rules are the intersection of what the InfluxDB 1.x / 2.x Go parser and the 3.x Rust
parser read back identically:

* measurement: ``,`` and space are escaped with a backslash;
* tag keys, tag values, field keys: ``,``, ``=`` and space are escaped; a double quote is literal;
* string field values: ``"`` and ``\\`` are escaped.

A backslash in a tag is literal for the Go parser but an escape for the Rust parser when it precedes
another backslash, and no parser can read a backslash just before ``,``, ``=``, a space or the end of
the value.  Such values, and newlines, carriage returns and tabs (line and field separators), cannot
be written so that every InfluxDB version reads the same text back: `LineProtocolError` refuses them.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import orjson

from core.records import ReadingBatch

log = logging.getLogger(__name__)

MEASUREMENT = "reading"
# Tags in the order the server sorts them in, which spares it a sort per point.
TAG_COLUMNS: tuple[str, ...] = ("building", "device_id", "kind", "metric", "site", "space", "unit")

_UNREPRESENTABLE = re.compile(r"[\n\r\t]|\\(?=[\\,= ]|$)")


class LineProtocolError(ValueError):
    """A name or value that line protocol cannot carry unchanged."""


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas and spaces)."""
    _check_representable(name)
    return name.replace(",", "\\,").replace(" ", "\\ ")


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs and spaces)."""
    _check_representable(text)
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def escape_string_field(text: str) -> str:
    """Quote a string field value, escaping backslashes and double quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_representable(text: str) -> None:
    bad = _UNREPRESENTABLE.search(text)
    if bad is not None:
        what = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(
            bad.group(), "a backslash before ',', '=', ' ', '\\' or at the end"
        )
        raise LineProtocolError(f"{text!r} contains {what}, which line protocol cannot carry unchanged")


def _series_prefix(tags: tuple[str, ...]) -> str:
    """``reading,<tag>=<value>,... value=`` for one tag set; empty tag values are left out."""
    parts = [escape_measurement(MEASUREMENT)]
    for key, value in zip(TAG_COLUMNS, tags, strict=True):
        if value:
            try:
                parts.append(f"{key}={escape_key(value)}")
            except LineProtocolError as err:
                device = tags[TAG_COLUMNS.index("device_id")]
                raise LineProtocolError(f"device {device!r}: tag {key}: {err}") from None
    return ",".join(parts) + " value="


def _tag_rows(b: ReadingBatch) -> Iterator[tuple[str, ...]]:
    return zip(b.building, b.device_id, b.kind, b.metric, b.site, b.space, b.unit, strict=True)


class SeriesPrefixes(dict[tuple[str, ...], str]):
    """Tag set -> escaped series prefix, computed on first sight: a batch has few tag sets."""

    def __missing__(self, tags: tuple[str, ...]) -> str:
        prefix = self[tags] = _series_prefix(tags)
        return prefix

    @classmethod
    def of(cls, batch: ReadingBatch) -> SeriesPrefixes:
        """The prefixes of every tag set of the batch: a LineProtocolError comes before any line."""
        prefixes = cls()
        for tags in set(_tag_rows(batch)):
            prefixes[tags] = _series_prefix(tags)
        return prefixes


def serialize_lines(
    batch: ReadingBatch, prefixes: SeriesPrefixes | None = None
) -> tuple[list[str], list[int]]:
    """One line per finite reading, and the row indexes of the readings left out (NaN, infinity).

    Raises LineProtocolError, naming the device, for a tag value that cannot be written.
    """
    b = batch
    # orjson formats the floats (shortest round-trip form, e.g. 0.1, 3e-5) far faster than repr();
    # it writes NaN and infinities as null, which is how they are found.
    raw = orjson.dumps(b.value)
    values = raw[1:-1].decode().split(",") if b.value else []
    prefixes = SeriesPrefixes() if prefixes is None else prefixes
    rows = zip(_tag_rows(b), values, b.received_ts, b.ts, strict=True)
    if b"null" not in raw:
        return [f"{prefixes[tags]}{v},received_ts={r}i {t}\n" for tags, v, r, t in rows], []
    lines: list[str] = []
    skipped: list[int] = []
    for i, (tags, v, r, t) in enumerate(rows):
        if v == "null":
            skipped.append(i)
        else:
            lines.append(f"{prefixes[tags]}{v},received_ts={r}i {t}\n")
    return lines, skipped


def to_line_protocol(batch: ReadingBatch) -> bytes:
    """The batch as UTF-8 line protocol, millisecond timestamps; NaN and infinite values are left out."""
    lines, skipped = serialize_lines(batch)
    if skipped:
        log_skipped(batch, skipped)
    return "".join(lines).encode()


def log_skipped(batch: ReadingBatch, skipped: list[int]) -> None:
    """Say which readings were left out because InfluxDB cannot store NaN or infinity."""
    first = skipped[0]
    log.warning(
        "%d reading(s) not written to InfluxDB: value %r is not a finite number "
        "(first: device %s, metric %s, ts %d)",
        len(skipped),
        batch.value[first],
        batch.device_id[first],
        batch.metric[first],
        batch.ts[first],
    )


# --- InfluxQL ------------------------------------------------------------------------------------


def influxql_string(text: str) -> str:
    """A single-quoted InfluxQL string literal."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def influxql_ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_time(epoch_ms: int) -> str:
    """An RFC 3339 time literal with milliseconds, read alike by InfluxQL on 1.x, 2.x and 3.x."""
    seconds, millis = divmod(epoch_ms, 1000)
    return "'" + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z'"
