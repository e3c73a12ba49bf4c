"""One client connection to the service: the handshake, then requests out and answers routed back.

No caller waits on the socket: requests go to an outbox that the link's own thread writes (see
outbox.py). That thread also keeps the link's clocks. A request whose deadline passes fails with
ServiceTimeout and is cancelled in the service. A service that owes answers and has said nothing for
PING_AFTER_S is pinged (its loop answers at once, whatever the engine is doing); one that stays silent
for `hung_after_s` is hung: the link closes with `hung` saying why, and the client replaces it.

A reader thread routes each answer to its request's future (and chunks to its stream). When the
connection drops, `on_lost` is told, and every pending request fails with the error it hands back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from completion.errors import RequestError, TabwiseError
from completion.service.errors import (
    ProtocolError,
    ServiceLost,
    ServiceRefused,
    ServiceTimeout,
    ServiceVersionError,
    error_from_wire,
)
from completion.service.outbox import Outbox
from completion.service.protocol import (
    MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    CancelParams,
    LineSplitter,
    TooLong,
    Unreadable,
    converter,
    encode,
    error,
    read,
)
from completion.service.rundir import ServiceInfo

log = logging.getLogger(__name__)
# A service silent this long while it owes answers (or the handshake's) is hung. Below every request's
# deadline (deadlines.py), so that a stopped service is found, and said to be, before they pass; far above
# what a healthy service's loop takes to answer a ping (reading and parsing a document of megabytes).
HUNG_AFTER_S = 20.0
PING_AFTER_S = 3.0  # one silent this long is pinged: a busy but healthy service then says so
TICK_S = 0.25  # how often the link's clocks are read
DEFAULT_DEADLINE_S = 30.0  # for a request that names none
OUTBOX_BYTES = 2 * MAX_LINE_BYTES  # bytes that may wait to be sent before a new request is refused
READ_BYTES = 256 * 1024


@dataclass
class Pending:
    """A request waiting for its answer."""

    method: str
    future: Future[Any]
    decode: Callable[[Any], Any]  # the wire result -> what the future holds
    on_chunk: Callable[[dict[str, Any]], None] | None  # streamed chunks, for chat methods
    deadline_s: float  # how long it may wait for its answer; each chunk starts the wait again
    due: float  # the monotonic time its deadline passes


class Link:
    """A connected, greeted socket to the service; thread-safe."""

    def __init__(self, sock: socket.socket, info: ServiceInfo, client: str, hung_after_s: float = HUNG_AFTER_S):
        """Greet the service (waits at most `hung_after_s`: TimeoutError if it does not answer)."""
        self.info = info
        self.bye: str | None = None  # why the service said it stops; None until it does (a drop is a crash)
        self.hung: str | None = None  # why the link gave up on the service (it stopped answering); None until then
        self._sock = sock
        self._lines = LineSplitter()
        self._ids = itertools.count(1)  # next() is atomic: callers take ids without the lock
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()  # guards _pending and _closed
        self._closed = False
        self._early: list[bytes | TooLong] = []  # lines that came with the handshake answer
        self._outbox = Outbox(sock, OUTBOX_BYTES)
        self._hung_after_s = hung_after_s
        self._heard = time.monotonic()  # when the service last sent anything (the reader thread sets it)
        self._owed_since: float | None = None  # since when it owes answers (the writer thread's clocks)
        self._pinged = 0.0  # when the last ping was queued
        self.hello = self._greet(client)
        self.pid = int(self.hello.get("pid", info.pid))

    def start(self, on_lost: Callable[[Link], TabwiseError]) -> None:
        """Start routing answers and writing requests; `on_lost` names the error pending requests fail with
        when the connection drops."""
        threading.Thread(target=self._read, args=(on_lost,), name="tabwise-service-reader", daemon=True).start()
        writer = threading.Thread(target=self._outbox.run, args=(TICK_S, self._watch), daemon=True)
        writer.name = "tabwise-service-writer"
        writer.start()

    def request(
        self,
        method: str,
        params: dict[str, Any],
        future: Future[Any],
        decode: Callable[[Any], Any] = lambda value: value,
        on_chunk: Callable[[dict[str, Any]], None] | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        """Send a request whose answer settles `future`, never waiting on the socket; cancelling the future
        cancels it in the service. One that cannot be sent (too long, not JSON, the outbox full) fails
        `future` at once; ServiceLost if the connection is closed."""
        id = next(self._ids)
        try:
            line = _request_line(id, method, params)
        except RequestError as exc:
            _settle(future, error=exc)
            return
        with self._lock:
            if self._closed:
                raise ServiceLost("the connection to the tabwise service is closed")
            self._pending[id] = Pending(method, future, decode, on_chunk, deadline_s, time.monotonic() + deadline_s)
        try:
            self._outbox.put(line)
        except ServiceTimeout as exc:
            with self._lock:
                self._pending.pop(id, None)
            _settle(future, error=exc)
            return
        future.add_done_callback(lambda done: self._cancelled(id) if done.cancelled() else None)

    def close(self) -> None:
        """Close the connection (the service cancels what this client had pending)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    @property
    def alive(self) -> bool:
        return not self._closed

    def _greet(self, client: str) -> dict[str, Any]:
        self._sock.settimeout(self._hung_after_s)
        self._sock.sendall(encode({"hello": PROTOCOL_VERSION, "token": self.info.token, "client": client}))
        hello = self._read_one()
        self._sock.settimeout(None)
        problem = hello.get("error")
        if problem is None:
            return hello
        kind = problem.get("kind") if isinstance(problem, dict) else None
        message = problem.get("message") if isinstance(problem, dict) else problem
        if kind == "version":
            raise ServiceVersionError(
                f"the tabwise service (pid {self.info.pid}, {self.info.socket}) speaks protocol version "
                f"{hello.get('hello')} and this front end version {PROTOCOL_VERSION}: stop it (kill {self.info.pid}) "
                f"or give this front end a private runtime directory (TABWISE_RUNTIME_DIR)"
            )
        if kind == "token":
            raise ServiceRefused(f"the tabwise service refused the connection: {message}")
        raise ProtocolError(f"the tabwise service refused the handshake: {message}")

    def _read_one(self) -> dict[str, Any]:
        """The first line, during the handshake (what comes after it stays in the splitter's buffer)."""
        lines: list[bytes | TooLong] = []
        while not lines:
            data = self._sock.recv(READ_BYTES)
            if not data:
                raise ProtocolError("the tabwise service closed the connection during the handshake")
            lines = self._lines.feed(data)
        first, self._early = lines[0], lines[1:]  # routed once the reader starts (a "bye", say)
        try:
            return read(first)
        except Unreadable as exc:
            raise ProtocolError(f"the tabwise service's handshake answer is not a message: {exc}") from None

    def _send_cancel(self, id: int) -> None:
        """Tell the service to stop request `id` (its answer, Cancelled, is then dropped)."""
        params = converter.unstructure(CancelParams(id))
        self._outbox.put(encode({"id": next(self._ids), "method": "cancel", "params": params}), bounded=False)

    def _cancelled(self, id: int) -> None:
        with self._lock:
            if self._pending.pop(id, None) is None or self._closed:
                return
        self._send_cancel(id)

    def _watch(self) -> None:
        """The link's clocks (on the writer thread): a silent service first, then requests past their deadline."""
        if self.hung is not None:
            return
        now = time.monotonic()
        if self._given_up(now):
            return
        with self._lock:
            late = {id: entry for id, entry in self._pending.items() if entry.due <= now}
            for id in late:
                del self._pending[id]
        for id, entry in late.items():
            _settle(entry.future, error=self._late(entry))
            self._send_cancel(id)

    def _given_up(self, now: float) -> bool:
        """Ping a service that owes answers and is quiet; give it up (True) once quiet for `hung_after_s`."""
        if not (self._pending or self._outbox.waiting > 0 or self._pinged > self._heard):
            self._owed_since = None  # it owes nothing: silence is fine
            return False
        self._owed_since = self._owed_since or now
        quiet = now - max(self._heard, self._owed_since)
        if quiet > self._hung_after_s:
            self.hung = f"it said nothing for {quiet:.0f} s while it owed answers (stopped, swapping or stuck)"
            log.warning("the tabwise service (pid %d) %s: giving it up", self.pid, self.hung)
            self.close()  # the reader sees the end and tells the client, which replaces the service
            return True
        if quiet > PING_AFTER_S and self._pinged <= self._heard:
            self._pinged = now
            self._outbox.put(encode({"id": next(self._ids), "method": "ping", "params": {}}), bounded=False)
        return False

    def _late(self, entry: Pending) -> ServiceTimeout:
        return ServiceTimeout(
            f"the tabwise service (pid {self.pid}) did not answer {entry.method!r} within {entry.deadline_s:.0f} s, "
            f"so it was cancelled; if this goes on, see the service's log {self.info.log}"
        )

    def _read(self, on_lost: Callable[[Link], TabwiseError]) -> None:
        with contextlib.suppress(OSError):  # a reset connection ends the link as its end of stream does
            for line in self._early:
                self._route(line)
            while data := self._sock.recv(READ_BYTES):
                self._heard = time.monotonic()
                for line in self._lines.feed(data):
                    self._route(line)
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        self._outbox.close()
        self._sock.close()
        failure = on_lost(self)
        for entry in pending.values():
            _settle(entry.future, error=failure)

    def _route(self, line: bytes | TooLong) -> None:
        message = _message(line)
        if "bye" in message:
            self.bye = str(message["bye"])
            return
        id = message.get("id")
        with self._lock:
            entry = self._pending.get(id) if isinstance(id, int) else None
            if entry is not None and "chunk" in message:
                entry.due = time.monotonic() + entry.deadline_s  # a stream's deadline runs from its last chunk
            elif entry is not None:
                del self._pending[id]  # type: ignore[arg-type]  # an int, checked above
        if entry is None:
            if "error" in message and id is None:
                log.warning("the tabwise service refused a message: %s", message["error"])
            return
        on_chunk = entry.on_chunk
        if "chunk" in message:
            if on_chunk is not None:
                self._deliver(id, entry, lambda: on_chunk(message["chunk"]))
        elif "error" in message:
            _settle(entry.future, error=error_from_wire(message["error"]))
        else:
            self._deliver(id, entry, lambda: _settle(entry.future, entry.decode(message.get("result"))))

    def _deliver(self, id: Any, entry: Pending, hand_over: Callable[[], None]) -> None:
        """Hand an answer or a chunk over; one that does not fit its type fails the request, not the link."""
        try:
            hand_over()
        except Exception as exc:  # the converter's errors: the answer does not fit the type
            with self._lock:
                streaming = self._pending.pop(id, None) is not None
            _settle(entry.future, error=ProtocolError(f"the tabwise service's answer does not fit: {exc}"))
            if streaming:
                self._send_cancel(id)


def _request_line(id: int, method: str, params: dict[str, Any]) -> bytes:
    """A request as a line; RequestError if it cannot be sent (not JSON, or over the protocol's limit)."""
    try:
        line = encode({"id": id, "method": method, "params": params})
    except ValueError as exc:
        raise RequestError(f"the {method!r} request cannot be sent to the tabwise service: {exc}") from None
    if len(line) - 1 > MAX_LINE_BYTES:  # without its newline, as the service counts
        raise RequestError(
            f"the {method!r} request is {len(line) - 1:,} bytes, over the tabwise service's limit of "
            f"{MAX_LINE_BYTES:,} bytes a message (a document that large cannot be sent), so it was not sent"
        )
    return line


def _message(line: bytes | TooLong) -> dict[str, Any]:
    """A line from the service as a message; one that cannot be read is an error for the id it begins with."""
    try:
        return read(line)
    except Unreadable as exc:
        return error("ProtocolError", f"the tabwise service sent a line that is not a message: {exc}", exc.id)


def _settle(future: Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    """Settle `future` unless its caller cancelled it already."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
