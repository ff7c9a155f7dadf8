"""Work on large documents a piece at a time, so the event loop can let others run in between.

A computation in steps is a generator that yields between pieces and returns its result: `finish`
runs one to its end at once, `finish_on_loop` yields to the event loop at each step.

orjson encodes a whole twin's snapshot (rule state or live state of 74,000 devices: 4-10 MB) in
20-35 ms without letting go of the interpreter lock, and a thread cannot be interrupted inside it:
ingest stood still for as long, wherever the encoding ran.  `dumps_in_steps` encodes large mappings
a slice of entries at a time, yielding between slices, and joins the pieces into the same bytes
orjson would have written for the whole.  `orjson.Fragment(body)` then passes them through another
orjson encoder unchanged (the SQL store's, say).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from typing import Any, TypeVar, cast

import orjson

OPTIONS = orjson.OPT_NON_STR_KEYS
R = TypeVar("R")


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


def encoded(data: Any) -> orjson.Fragment:
    """`data` as JSON already, for a document built over many steps: bytes and a Fragment are not
    tracked by the garbage collector, where the lists and dicts they replace would be walked by each
    of its passes for as long as the document is being built.  TypeError if orjson cannot encode it."""
    return orjson.Fragment(orjson.dumps(data, option=OPTIONS))


def dumps_in_steps(doc: Any, chunk: int = 1000) -> Generator[None, None, bytes]:
    """The JSON of `doc`, yielding after each slice of `chunk` entries of a large mapping.

    Mappings of at most `chunk` entries are walked into (their values may be large mappings);
    the entries of a larger one are encoded `chunk` at a time, each slice whole.
    """
    if not isinstance(doc, Mapping):
        return orjson.dumps(doc, option=OPTIONS)
    parts: list[bytes] = []
    if len(doc) > chunk:
        keys = list(doc)
        for start in range(0, len(keys), chunk):
            piece = orjson.dumps({k: doc[k] for k in keys[start : start + chunk] if k in doc}, option=OPTIONS)
            if len(piece) > 2:
                parts.append(piece[1:-1])  # the entries, without the braces
            yield
    else:
        for key, value in list(doc.items()):
            body = (yield from dumps_in_steps(value, chunk)) if isinstance(value, Mapping) else None
            if body is None:
                parts.append(orjson.dumps({key: value}, option=OPTIONS)[1:-1])
            else:
                parts.append(orjson.dumps({key: None}, option=OPTIONS)[1:-5] + body)  # '"key":' + body
    return b"{" + b",".join(parts) + b"}"
