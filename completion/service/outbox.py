"""The lines a link has to send, written by the link's own thread so that no caller waits on the socket.

A front end calls the client on its event loop (Jupyter's tornado loop, pygls's asyncio loop); a service
that stops reading (stopped, swapping, busy with a large document) must never stall that loop. Callers
only append to the outbox; its thread writes with non-blocking sends when the socket can take more, and
wakes at least every tick to run the link's timers. What waits is bounded: past `limit_bytes` a new line
is refused at once (ServiceTimeout), so a stuck service costs errors, not memory.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections import deque
from collections.abc import Callable

from completion.service.errors import ServiceTimeout

SEND_BYTES = 256 * 1024  # written per send call


class Outbox:
    """A bounded queue of lines for one socket, and the thread that writes them."""

    def __init__(self, sock: socket.socket, limit_bytes: int) -> None:
        self._sock = sock
        self._limit = limit_bytes
        self._lines: deque[memoryview] = deque()  # the first may be partly written already
        self._bytes = 0  # bytes in _lines, not written yet
        self._ready = threading.Condition()  # guards the above; notified when a line comes or it closes
        self._closed = False

    @property
    def waiting(self) -> int:
        """Bytes not written yet."""
        return self._bytes

    def put(self, line: bytes, bounded: bool = True) -> None:
        """Queue `line` (never waits); ServiceTimeout if `bounded` and the outbox is full."""
        with self._ready:
            if self._closed:
                return  # the connection is going away: its reader fails what is pending
            if bounded and self._bytes and self._bytes + len(line) > self._limit:
                raise ServiceTimeout(
                    f"the tabwise service takes in nothing: {self._bytes:,} bytes wait to be sent to it "
                    f"(it is stopped, swapping or stuck); this request was not sent"
                )
            self._lines.append(memoryview(line))
            self._bytes += len(line)
            self._ready.notify()

    def close(self) -> None:
        """Stop writing; what waits is dropped (the connection is going away)."""
        with self._ready:
            self._closed = True
            self._lines.clear()
            self._bytes = 0
            self._ready.notify()

    def run(self, tick_s: float, on_tick: Callable[[], None]) -> None:
        """Write until closed or the socket breaks, calling `on_tick` at least every `tick_s` (on this thread)."""
        poller = select.poll()
        with contextlib.suppress(OSError, ValueError):  # the socket was closed or broke: the reader sees it
            poller.register(self._sock, select.POLLOUT)
            while True:
                with self._ready:
                    if not self._lines and not self._closed:
                        self._ready.wait(tick_s)
                    if self._closed:
                        return
                    pending = bool(self._lines)
                if pending and poller.poll(tick_s * 1000):
                    self._send_some()
                on_tick()

    def _send_some(self) -> None:
        """Write what the socket takes now, without waiting."""
        with self._ready:
            if not self._lines:
                return
            head = self._lines[0]
        try:
            sent = self._sock.send(head[:SEND_BYTES], socket.MSG_DONTWAIT)  # another OSError (EPIPE) ends run()
        except BlockingIOError:  # full again since the poll
            return
        with self._ready:
            if self._closed or not self._lines or self._lines[0] is not head:
                return
            self._bytes -= sent
            if sent == len(head):
                self._lines.popleft()
            else:
                self._lines[0] = head[sent:]
