"""One client connection to the service: the handshake, then requests out and answers routed back.

A reader thread routes each answer to its request's future (and chunks to its stream). When the
connection drops, `on_lost` is told, and every pending request fails with the error it hands back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from completion.errors import TabwiseError
from completion.service.errors import (
    ProtocolError,
    ServiceLost,
    ServiceRefused,
    ServiceVersionError,
    error_from_wire,
)
from completion.service.protocol import PROTOCOL_VERSION, LineSplitter, TooLong, decode, encode
from completion.service.rundir import ServiceInfo

log = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT_S = 10.0
READ_BYTES = 256 * 1024


@dataclass
class Pending:
    """A request waiting for its answer."""

    future: Future[Any]
    decode: Callable[[Any], Any]  # the wire result -> what the future holds
    on_chunk: Callable[[dict[str, Any]], None] | None  # streamed chunks, for chat methods


class Link:
    """A connected, greeted socket to the service; thread-safe."""

    def __init__(self, sock: socket.socket, info: ServiceInfo, client: str) -> None:
        self.info = info
        self.bye: str | None = None  # why the service said it stops; None until it does (a drop is a crash)
        self._sock = sock
        self._lines = LineSplitter()
        self._ids = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()  # guards _pending, _closed and writes to the socket
        self._closed = False
        self._early: list[bytes | TooLong] = []  # lines that came with the handshake answer
        self.hello = self._greet(client)
        self.pid = int(self.hello.get("pid", info.pid))

    def start(self, on_lost: Callable[[Link], TabwiseError]) -> None:
        """Start routing answers; `on_lost` names the error pending requests fail with when it drops."""
        threading.Thread(target=self._read, args=(on_lost,), name="tabwise-service-reader", daemon=True).start()

    def request(
        self,
        method: str,
        params: dict[str, Any],
        future: Future[Any],
        decode: Callable[[Any], Any] = lambda value: value,
        on_chunk: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Send a request whose answer settles `future`; cancelling the future cancels it in the service."""
        with self._lock:
            if self._closed:
                raise ServiceLost("the connection to the tabwise service is closed")
            id = next(self._ids)
            self._pending[id] = Pending(future, decode, on_chunk)
            self._write({"id": id, "method": method, "params": params})
        future.add_done_callback(lambda done: self._cancelled(id) if done.cancelled() else None)

    def close(self) -> None:
        """Close the connection (the service cancels what this client had pending)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    @property
    def alive(self) -> bool:
        return not self._closed

    def _greet(self, client: str) -> dict[str, Any]:
        self._sock.settimeout(HANDSHAKE_TIMEOUT_S)
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
        if isinstance(first, TooLong):
            raise ProtocolError("the tabwise service's handshake answer is too long")
        try:
            return decode(first)
        except ValueError as exc:
            raise ProtocolError(f"the tabwise service's handshake answer is not a message: {exc}") from None

    def _write(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the reader sees the drop and fails what is pending, this too
            self._sock.sendall(encode(message))

    def _cancelled(self, id: int) -> None:
        with self._lock:
            if self._pending.pop(id, None) is not None and not self._closed:
                self._write({"id": next(self._ids), "method": "cancel", "params": {"id": id}})

    def _read(self, on_lost: Callable[[Link], TabwiseError]) -> None:
        with contextlib.suppress(OSError):  # a reset connection ends the link as its end of stream does
            for line in self._early:
                self._route(line)
            while data := self._sock.recv(READ_BYTES):
                for line in self._lines.feed(data):
                    self._route(line)
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        self._sock.close()
        failure = on_lost(self)
        for entry in pending.values():
            _settle(entry.future, error=failure)

    def _route(self, line: bytes | TooLong) -> None:
        try:
            message = decode(line) if not isinstance(line, TooLong) else {}
        except ValueError as exc:
            log.warning("the tabwise service sent a line that is not a message: %s", exc)
            return
        if "bye" in message:
            self.bye = str(message["bye"])
            return
        id = message.get("id")
        with self._lock:
            entry = self._pending.get(id) if isinstance(id, int) else None
            if entry is not None and "chunk" not in message:
                del self._pending[id]  # type: ignore[arg-type]  # an int, checked above
        if entry is None:
            if "error" in message and id is None:
                log.warning("the tabwise service refused a message: %s", message["error"])
            return
        if "chunk" in message:
            if entry.on_chunk is not None:
                entry.on_chunk(message["chunk"])
        elif "error" in message:
            _settle(entry.future, error=error_from_wire(message["error"]))
        else:
            try:
                value = entry.decode(message.get("result"))
            except Exception as exc:  # the converter's errors: the answer does not fit the type
                _settle(entry.future, error=ProtocolError(f"the tabwise service's answer does not fit: {exc}"))
            else:
                _settle(entry.future, value)


def _settle(future: Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    """Settle `future` unless its caller cancelled it already."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
