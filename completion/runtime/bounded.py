"""Reading a server's answer within limits: a JSON body up to a byte cap, a stream's lines each up to a
byte cap and all together up to another, so that no answer, however long, holds more than its cap in
memory. Pure functions over the chunks of a body (httpx's `iter_raw`), so they are tested without a server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator

LINE_END = re.compile(rb"\r\n|\r|\n")  # server-sent events end a line with any of these


class Overrun(Exception):
    """An answer went past a limit; the message says which, in words for the user."""


def read_capped(chunks: Iterable[bytes], cap: int, deadline: float) -> bytes:
    """The whole body, if it is at most `cap` bytes and ends before `deadline` (time.monotonic())."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise Overrun(f"its answer is over {_size(cap)}")
        if time.monotonic() > deadline:
            raise Overrun("its answer did not end in time")
    return bytes(body)


def capped_lines(chunks: Iterable[bytes], line_cap: int, total_cap: int) -> Iterator[str]:
    """The lines of a body as UTF-8 text, each at most `line_cap` bytes, at most `total_cap` bytes in all."""
    too_long = Overrun(f"it sent a line over {_size(line_cap)}")
    pending, total = bytearray(), 0
    for chunk in chunks:
        total += len(chunk)
        if total > total_cap:
            raise Overrun(f"its answer is over {_size(total_cap)}")
        start, scan = 0, max(len(pending) - 1, 0)  # what came before holds no line end (but a last \r)
        pending += chunk
        while (end := LINE_END.search(pending, scan)) is not None:
            if end.group() == b"\r" and end.end() == len(pending):
                break  # maybe the first half of \r\n: wait for the next chunk
            if end.start() - start > line_cap:
                raise too_long
            yield pending[start : end.start()].decode("utf-8", errors="replace")
            start = scan = end.end()
        del pending[:start]
        if len(pending) > line_cap:
            raise too_long
    if pending.rstrip(b"\r"):
        yield pending.rstrip(b"\r").decode("utf-8", errors="replace")


def _size(count: int) -> str:
    """A byte count as people read it (4 KiB, 8 MiB)."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size:,} {unit}"
    return f"{count:,} bytes"
