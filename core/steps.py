"""Work on large documents a piece at a time, so the event loop can let others run in between.

A computation in steps is a generator that yields between pieces and returns its result: `finish`
runs one to its end at once, `finish_on_loop` yields to the event loop at each step.

orjson encodes a whole twin's snapshot (rule state or live state of 74,000 devices: 4-10 MB) in
20-35 ms without letting go of the interpreter lock, and a thread cannot be interrupted inside it:
ingest stood still for as long, wherever the encoding ran.  So large snapshots are encoded a slice
of entries at a time: `encode_entries_in_steps` turns a large mapping into `Encoded` pieces as it is
taken (only bytes outlive a step, nothing the garbage collector would walk), and `encode_in_steps`
writes a document holding such pieces, and other large mappings, as the pieces of the same bytes
orjson would have written for the whole.  The writer's thread assembles them a piece at a time
(`Encoded.assemble`), so the copy never holds the interpreter lock for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar, cast

import orjson

OPTIONS = orjson.OPT_NON_STR_KEYS
# Entries a step takes by default.  A step of 1,000 rule tracks took 3-8 ms on this kind of machine,
# and a reading that arrived meanwhile waited for it (and for the batch read with it) before its own
# batch could start; 250 keep a step near a millisecond.
STEP_ENTRIES = 250
R = TypeVar("R")
Piece = bytes | memoryview


def finish(steps: Generator[None, None, R]) -> R:
    """Run a computation made of steps (such as `snapshot_in_steps`) to its end, at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(R, done.value)


async def finish_on_loop(steps: Generator[None, None, R]) -> R:
    """Run a computation made of steps to its end, letting the event loop run other work at each step."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(R, done.value)
        await asyncio.sleep(0)


class Encoded:
    """A JSON value already encoded, as pieces to be written one after the other."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces)

    def assemble(self) -> bytearray:
        """The whole document in one buffer, copied a piece at a time: for a writer thread.

        `bytes(encoded)` is one join, and a join holds the interpreter lock for the whole copy: on
        the event loop of a loaded worker, joining a 7.6 MB rule snapshot held it for 4-26 ms, and a
        thread would hold the loop up as long.  Between two pieces another thread may take the lock.
        """
        out = bytearray(sum(len(p) for p in self.pieces))
        pos = 0
        for piece in self.pieces:
            end = pos + len(piece)
            out[pos:end] = piece
            pos = end
        return out


def _default(value: object) -> object:
    """orjson's hook for what it does not know: `Encoded` pieces go in as they are."""
    if isinstance(value, Encoded):
        return orjson.Fragment(bytes(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """orjson.dumps with non-string keys and `Encoded` pieces."""
    return orjson.dumps(value, option=OPTIONS, default=_default)


def encode_entries_in_steps(
    keys: Sequence[Any],
    entry: Callable[[Any], Any],
    chunk: int,
    refused: Callable[[Any, TypeError], None] | None = None,
) -> Generator[None, None, Encoded]:
    """The JSON object {key: entry(key)} of `keys`, leaving out None, `chunk` keys a step.

    An entry orjson cannot encode is left out and handed to `refused`; without it, TypeError.
    """

    def encode(some: Sequence[Any]) -> bytes:
        part = {k: v for k in some if (v := entry(k)) is not None}
        try:
            return dumps(part)
        except TypeError:
            if refused is None:
                raise
            return dumps(_encodable(part, refused))

    return (yield from _object_in_steps(keys, encode, chunk))


def _object_in_steps(
    keys: Sequence[Any], encode: Callable[[Sequence[Any]], bytes], chunk: int
) -> Generator[None, None, Encoded]:
    """A JSON object from `encode` (a slice of keys -> their object) of `chunk` keys at a time."""
    pieces: list[Piece] = [b"{"]
    for start in range(0, len(keys), chunk):
        body = encode(keys[start : start + chunk])
        if len(body) > 2:
            if len(pieces) > 1:
                pieces.append(b",")
            pieces.append(memoryview(body)[1:-1])  # the entries, without the braces
        yield
    pieces.append(b"}")
    return Encoded(pieces)


def _encodable(part: dict[Any, Any], refused: Callable[[Any, TypeError], None]) -> dict[Any, Any]:
    out = {}
    for key, value in part.items():
        try:
            dumps(value)
        except TypeError as err:
            refused(key, err)
        else:
            out[key] = value
    return out


def encode_in_steps(doc: Any, chunk: int = STEP_ENTRIES) -> Generator[None, None, Encoded]:
    """The JSON of `doc` as pieces, yielding after each slice of `chunk` entries of a large mapping.

    `Encoded` values are written as they are; mappings of at most `chunk` entries are walked into
    (their values may be large); the entries of a larger one are encoded `chunk` at a time.  The
    pieces are not joined here: a writer thread assembles them (`Encoded.assemble`).
    """
    out: list[Piece] = []
    yield from _write(doc, chunk, out)
    return Encoded(out)


def dumps_in_steps(doc: Any, chunk: int = STEP_ENTRIES) -> Generator[None, None, bytes]:
    """As `encode_in_steps`, joined into bytes at the end."""
    return bytes((yield from encode_in_steps(doc, chunk)))


def _write(doc: Any, chunk: int, out: list[Piece]) -> Generator[None, None, None]:
    if isinstance(doc, Encoded):
        out.extend(doc.pieces)
        return
    if not isinstance(doc, Mapping):
        out.append(dumps(doc))
        return
    if len(doc) > chunk:
        # entries removed between steps are left out; None values are kept
        encoded = yield from _object_in_steps(
            list(doc), lambda some: dumps({k: doc[k] for k in some if k in doc}), chunk
        )
        out.extend(encoded.pieces)
        return
    out.append(b"{")
    for n, (key, value) in enumerate(list(doc.items())):
        if n:
            out.append(b",")
        out.append(memoryview(dumps({key: None}))[1:-5])  # '"key":'
        yield from _write(value, chunk, out)
    out.append(b"}")
