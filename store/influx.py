"""InfluxDB history over the HTTP API that 1.x, 2.7+ (virtual DBRP) and 3 Core share.

Only ``/ping``, ``/write?db=..&precision=ms`` (line protocol) and ``/query?db=..&epoch=ms`` (InfluxQL)
are used.  Writes are idempotent on the server (same series and time: the point is overwritten), so a
batch replayed after a timeout never doubles a reading.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from core.errors import StoreError
from core.records import ReadingBatch, ReadingRecord
from core.settings import InfluxSettings
from store.base import HistoryPoint
from store.line_protocol import (
    MEASUREMENT,
    LineProtocolError,
    SeriesPrefixes,
    influxql_ident,
    influxql_string,
    influxql_time,
    log_skipped,
    serialize_lines,
    to_line_protocol,
)

__all__ = ["InfluxHistory", "to_line_protocol"]

log = logging.getLogger(__name__)

# Kept well under the 25 MB default body limit of InfluxDB 1.x; ~200 bytes a line.
DEFAULT_LINES_PER_REQUEST = 20_000
# Longer queries go in a POST body rather than the URL.
_MAX_GET_QUERY = 2000
# Statuses that say nothing about the data: the store (or its configuration) must be fixed, and the
# points kept until it is.  401/403: bad token; 404: database missing; 408/429: try later.
_RETRYABLE_4XX = frozenset({401, 403, 404, 408, 429})
_RECORD_TAGS = ("unit", "site", "building", "space", "kind")
_LP_HEADERS = {"Content-Type": "text/plain; charset=utf-8"}
# Write requests sent at once for a large batch; the server parses them on several cores.
MAX_IN_FLIGHT = 2


class InfluxHistory:
    """History in InfluxDB, measurement ``reading``; blocking, for the writer and API threads."""

    name = "influxdb"

    def __init__(
        self, settings: InfluxSettings, *, lines_per_request: int = DEFAULT_LINES_PER_REQUEST
    ) -> None:
        self.settings = settings
        self.lines_per_request = lines_per_request
        headers = {"User-Agent": "safetwin-history"}
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        self._params: dict[str, str] = {"db": settings.database}
        if settings.username is not None:
            self._params["u"] = settings.username
        if settings.password is not None:
            self._params["p"] = settings.password.get_secret_value()
        self._write_params = {**self._params, "precision": "ms"}
        self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="influx-write")
        self._client = httpx.Client(
            base_url=settings.url.rstrip("/"), headers=headers, timeout=settings.timeout_s
        )

    # --- HistoryBackend ---------------------------------------------------------------------

    def open(self) -> None:
        """Ping the server and create the database where the server allows it."""
        self._request("GET", "/ping", params={})
        if self.settings.create_database:
            q = f"CREATE DATABASE {influxql_ident(self.settings.database)}"
            try:
                self._check_results(self._request("POST", "/query", data={"q": q}))
            except StoreError as err:
                if isinstance(err.__cause__, httpx.HTTPError):
                    raise  # no answer at all
                # 2.x and 3.x refuse it, each in its own way; their database (bucket) is made otherwise.
                log.info("InfluxDB refused CREATE DATABASE (normal on 2.x / 3.x): %s", err)

    def write(self, batch: ReadingBatch) -> None:
        """POST the batch as line protocol, in requests of at most `lines_per_request` points.

        Up to MAX_IN_FLIGHT requests run at once while the next one is serialized.  If one fails the
        whole batch is reported failed; writing it again is harmless (points are overwritten).
        """
        try:
            prefixes = SeriesPrefixes.of(batch)
        except LineProtocolError as err:
            raise StoreError(str(err), backend=self.name, retryable=False) from err
        step = self.lines_per_request
        if len(batch) <= step:
            self._post(self._body(batch, prefixes))
            return
        pending: deque[Future[None]] = deque()
        failure: StoreError | None = None
        for start in range(0, len(batch), step):
            body = self._body(batch.slice(start, start + step), prefixes)
            pending.append(self._pool.submit(self._post, body))
            if len(pending) >= MAX_IN_FLIGHT:
                failure = _failure(pending.popleft())
            if failure is not None:
                break
        for future in pending:  # wait for every request, so none is left running
            error = _failure(future)
            failure = failure or error
        if failure is not None:
            raise failure

    def query(
        self, device_id: str, metric: str, start_ms: int, end_ms: int, bucket_ms: int | None = None
    ) -> list[HistoryPoint]:
        """Readings in [start_ms, end_ms), oldest first; buckets of bucket_ms aligned to the epoch."""
        where = (
            f'"device_id"={influxql_string(device_id)} AND "metric"={influxql_string(metric)} '
            f"AND time >= {influxql_time(start_ms)} AND time < {influxql_time(end_ms)}"
        )
        if bucket_ms is None:
            q = f'SELECT "value" FROM "{MEASUREMENT}" WHERE {where} ORDER BY time ASC'
            return [
                HistoryPoint(ts=int(t), mean=v, max=v, min=v, count=1)
                for t, v in self._rows(q, ("time", "value"))
            ]
        if bucket_ms <= 0:
            raise ValueError(f"bucket_ms must be positive, got {bucket_ms}")
        q = (
            f'SELECT mean("value"),max("value"),min("value"),count("value") FROM "{MEASUREMENT}" '
            f"WHERE {where} GROUP BY time({bucket_ms}ms) fill(none)"
        )
        rows = self._rows(q, ("time", "mean", "max", "min", "count"))
        return [
            HistoryPoint(ts=int(t), mean=mean, max=hi, min=lo, count=int(n))
            for t, mean, hi, lo, n in rows
            if n
        ]

    def latest(self, device_ids: Sequence[str] | None = None) -> list[ReadingRecord]:
        """The newest reading of each (device, metric), with its tags."""
        if device_ids is not None and not device_ids:
            return []
        where = ""
        if device_ids is not None:
            where = "WHERE " + " OR ".join(f'"device_id"={influxql_string(d)}' for d in device_ids)
        q = f'SELECT * FROM "{MEASUREMENT}" {where} GROUP BY "device_id","metric" ORDER BY time DESC LIMIT 1'
        records = [self._record(s) for s in self._series(q) if s.get("values")]
        return sorted(records, key=lambda r: (r.device_id, r.metric))

    def cache_bytes(self) -> int | None:
        """None: the InfluxDB server keeps its cache, not this process."""
        return None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._pool.shutdown(wait=True)
        self._client.close()

    # --- HTTP ------------------------------------------------------------------------------

    def _body(self, batch: ReadingBatch, prefixes: SeriesPrefixes) -> bytes:
        lines, skipped = serialize_lines(batch, prefixes)
        if skipped:
            log_skipped(batch, skipped)
        return "".join(lines).encode()

    def _post(self, body: bytes) -> None:
        if body:
            self._request("POST", "/write", params=self._write_params, content=body, headers=_LP_HEADERS)

    def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = self._client.request(
                method, path, params=self._params if params is None else params, **kwargs
            )
        except httpx.TimeoutException as err:
            raise StoreError(
                f"{method} {path} timed out after {self.settings.timeout_s} s", backend=self.name
            ) from err
        except httpx.HTTPError as err:
            raise StoreError(
                f"{method} {path} to {self.settings.url} failed: {err!r}", backend=self.name
            ) from err
        if response.is_success:
            return response
        text = _error_text(response)
        retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_4XX
        raise StoreError(
            f"{method} {path}: HTTP {response.status_code}: {text}", backend=self.name, retryable=retryable
        )

    def _series(self, q: str) -> list[dict[str, Any]]:
        params = {**self._params, "epoch": "ms"}
        if len(q) <= _MAX_GET_QUERY:
            response = self._request("GET", "/query", params={**params, "q": q})
        else:
            response = self._request("POST", "/query", params=params, data={"q": q})
        series: list[dict[str, Any]] = []
        for result in self._check_results(response):
            series.extend(result.get("series") or [])
        return series

    def _check_results(self, response: httpx.Response) -> list[dict[str, Any]]:
        """The statement results; InfluxQL errors come back as HTTP 200 with an `error` member."""
        try:
            results: list[dict[str, Any]] = response.json().get("results") or []
        except ValueError as err:
            raise StoreError(
                f"/query answered something that is not JSON: {response.text[:200]!r}",
                backend=self.name,
                retryable=False,
            ) from err
        for result in results:
            if "error" in result:
                raise StoreError(f"query refused: {result['error']}", backend=self.name, retryable=False)
        return results

    def _rows(self, q: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """Rows of every series, in the server's order, with the named columns."""
        rows: list[tuple[Any, ...]] = []
        for s in self._series(q):
            index = [s["columns"].index(c) for c in columns]
            rows.extend(tuple(v[i] for i in index) for v in s.get("values") or [])
        return rows

    def _record(self, series: dict[str, Any]) -> ReadingRecord:
        row = dict(zip(series["columns"], series["values"][0], strict=True))
        tags = series.get("tags") or {}
        return ReadingRecord(
            ts=row["time"],
            received_ts=row["time"] if row.get("received_ts") is None else row["received_ts"],
            device_id=tags.get("device_id", ""),
            metric=tags.get("metric", ""),
            value=row["value"],
            **{k: row.get(k) or "" for k in _RECORD_TAGS},
        )


def _failure(future: Future[None]) -> StoreError | None:
    try:
        future.result()
    except StoreError as err:
        return err
    return None


def _error_text(response: httpx.Response) -> str:
    """InfluxDB's own error message: JSON `error` (1.x) or `message` (2.x/3.x), else the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:500]
