"""A bounded on-disk queue of batches that wait while the history store is down.

One file per batch, ``<sequence>.json`` with a zero-padded increasing sequence number, so the order
survives a restart.  A file is written under a temporary name and renamed into place, so a crash never
leaves half a batch under a real name; an unreadable file is set aside as ``<name>.corrupt``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from core.records import COLUMNS, ReadingBatch

log = logging.getLogger(__name__)

_SUFFIX = ".json"
_TMP_SUFFIX = ".tmp"
_DIGITS = 16


class DiskSpool:
    """Batches on disk, oldest first, at most `max_bytes` in all; safe to use from several threads."""

    def __init__(self, directory: Path, max_bytes: int, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        self._files: OrderedDict[int, int] = OrderedDict()  # sequence -> size in bytes
        self._size = 0
        self.directory.mkdir(parents=True, exist_ok=True)
        self._scan()
        self._next_seq = next(reversed(self._files), 0) + 1
        if self._files:
            log.warning(
                "history spool %s holds %d batch(es), %d bytes, from a previous run; they are written first",
                self.directory,
                len(self._files),
                self._size,
            )

    @property
    def size_bytes(self) -> int:
        """Bytes of all spooled batches."""
        return self._size

    @property
    def count(self) -> int:
        """Number of spooled batches."""
        return len(self._files)

    def append(self, batch: ReadingBatch) -> bool:
        """Save the batch after the others; False, saving nothing, when it would pass `max_bytes`.

        An I/O error (disk full, permissions) raises OSError.
        """
        data = batch.to_json()
        with self._lock:
            if self._size + len(data) > self.max_bytes:
                return False
            seq = self._next_seq
            self._next_seq += 1
            path = self._path(seq)
            tmp = path.with_name(path.name + _TMP_SUFFIX)
            try:
                self._write(tmp, data)
                os.replace(tmp, path)
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
            self._files[seq] = len(data)
            self._size += len(data)
            return True

    def peek_oldest(self) -> tuple[int, ReadingBatch] | None:
        """The oldest readable batch and its sequence number, or None when the spool is empty."""
        while True:
            with self._lock:
                if not self._files:
                    return None
                seq = next(iter(self._files))
            path = self._path(seq)
            try:
                return seq, _load(path.read_bytes())
            except FileNotFoundError:
                log.error("spooled batch %s vanished; it is lost", path)
                self._forget(seq)
            except (OSError, ValueError, KeyError, TypeError) as err:
                self._set_aside(seq, path, err)

    def remove(self, seq: int) -> None:
        """Delete a batch once it is safely in the store."""
        self._path(seq).unlink(missing_ok=True)
        self._forget(seq)

    # --- internals --------------------------------------------------------------------------

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:0{_DIGITS}d}{_SUFFIX}"

    def _write(self, path: Path, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())

    def _forget(self, seq: int) -> None:
        with self._lock:
            size = self._files.pop(seq, None)
            if size is not None:
                self._size -= size

    def _set_aside(self, seq: int, path: Path, err: Exception) -> None:
        target = path.with_name(path.name + ".corrupt")
        log.error(
            "spooled batch %s cannot be read (%s); moved aside to %s, its readings are not replayed",
            path,
            err,
            target.name,
        )
        try:
            os.replace(path, target)
        except OSError as move_err:
            log.error("cannot move %s aside (%s); deleting it", path, move_err)
            path.unlink(missing_ok=True)
        self._forget(seq)

    def _scan(self) -> None:
        """Index the batches a previous run left, in sequence order; drop unfinished temp files."""
        found: list[tuple[int, int]] = []
        for path in self.directory.iterdir():
            if path.name.endswith(_SUFFIX + _TMP_SUFFIX):
                log.warning("removing unfinished spool file %s", path)
                path.unlink(missing_ok=True)
            elif path.name.endswith(_SUFFIX) and path.name[: -len(_SUFFIX)].isdigit():
                found.append((int(path.name[: -len(_SUFFIX)]), path.stat().st_size))
            elif not path.name.endswith(".corrupt"):
                log.warning("ignoring unexpected file %s in the history spool", path)
        for seq, size in sorted(found):
            self._files[seq] = size
            self._size += size


def _load(data: bytes) -> ReadingBatch:
    """Parse a spooled batch, refusing one whose columns are not lists of the same length."""
    batch = ReadingBatch.from_json(data)
    columns = [getattr(batch, name) for name in COLUMNS]
    if not all(isinstance(c, list) for c in columns) or len({len(c) for c in columns}) != 1:
        raise ValueError("columns are not lists of equal length")
    return batch
