"""An HTTP exchange with a server that another thread can end at once, and the watchdog that does.

The engine's one worker thread serves every client, so a request to a remote server must never hold it
longer than its limits, nor a moment past a cancel: a server may send keep-alive comments forever, or
nothing at all. A thread blocked reading a socket wakes when the socket is shut down from another thread
(it reads the end of the stream), so each exchange keeps the socket of its own connection (httpcore's
documented `trace` extension names it as it connects), and the watchdog shuts it down once the exchange
is past its deadline, idle too long, or no longer wanted (`keep_going()` is False: its job was
cancelled). An exchange's connection is never reused, so a socket shut down late harms no other request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

POLL_S = 0.05  # how often the watchdog looks: a cancel ends an exchange within this
CANCELLED = "cancelled"  # Exchange.why when it was no longer wanted
CONNECTED = ("connection.connect_tcp.complete", "connection.start_tls.complete")  # trace events with the stream


class Ended(Exception):
    """The exchange was ended before its answer was read: `why` is CANCELLED or the limit it went past."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Exchange:
    """One request and its answer: its deadline, its idle limit, and how to end it from another thread."""

    def __init__(self, deadline_s: float, idle_s: float, keep_going: Callable[[], bool] | None = None) -> None:
        now = time.monotonic()
        self._deadline_s, self._deadline = deadline_s, now + deadline_s
        self._idle_s, self._waiting_since = idle_s, now  # the idle clock: since data last came
        self._keep_going = keep_going  # polled by the watchdog; None: wanted until the end
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None  # the connection's, once connected
        self._done = False  # the reader is finished with it: never shut its socket down after
        self.why: str | None = None  # why it was ended early: CANCELLED, or the limit it went past
        WATCHDOG.watch(self)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: keep the socket of the connection this exchange opens."""
        if event in CONNECTED and (stream := info.get("return_value")) is not None:
            with self._lock:
                self._socket = stream.get_extra_info("socket")
                if self.why is not None:  # ended while connecting
                    _shut_down(self._socket)

    def progress(self) -> None:
        """Data came, or the reader asks for more: the idle clock starts again."""
        self._waiting_since = time.monotonic()

    def overdue(self) -> str | None:
        """Why this exchange should end now, if it should (called by the watchdog)."""
        now = time.monotonic()
        if self._keep_going is not None and not self._keep_going():
            return CANCELLED
        if now > self._deadline:
            return f"no complete answer within {self._deadline_s:g} s"
        if now - self._waiting_since > self._idle_s:
            return f"nothing within {self._idle_s:g} s"
        return None

    def end(self, why: str) -> None:
        """End the exchange from any thread: a read in progress returns at once; the reader sees `why`."""
        with self._lock:
            if self._done or self.why is not None:
                return
            self.why = why
            if self._socket is not None:
                _shut_down(self._socket)

    def raise_if_ended(self) -> None:
        """Raise Ended if the exchange was ended (what a reader checks when its read failed or stopped)."""
        if self.why is not None:
            raise Ended(self.why)

    def done(self) -> None:
        """The reader is finished (call before closing the response, whose socket may then be reused)."""
        with self._lock:
            self._done = True
        WATCHDOG.forget(self)


def _shut_down(sock: socket.socket) -> None:
    """Shut a socket down for both directions (the plain socket's own call: an SSLSocket's would drop its
    TLS state under the thread reading it); the reader then sees the end of the stream."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """One daemon thread that ends the exchanges that should end, every POLL_S while any is open."""

    def __init__(self) -> None:
        self._open: set[Exchange] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, exchange: Exchange) -> None:
        with self._wake:
            self._open.add(exchange)
            if self._thread is None or not self._thread.is_alive():  # not started yet, or lost in a fork
                self._thread = threading.Thread(target=self._loop, name="tabwise-remote-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()

    def forget(self, exchange: Exchange) -> None:
        with self._wake:
            self._open.discard(exchange)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._open:
                    self._wake.wait()
                exchanges = list(self._open)
            for exchange in exchanges:
                if (why := exchange.overdue()) is not None:
                    exchange.end(why)
            time.sleep(POLL_S)


WATCHDOG = Watchdog()
