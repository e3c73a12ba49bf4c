"""ServiceClient: what a front end holds to reach the engine service, from sync code or asyncio.

Every request returns at once: a concurrent.futures.Future (asyncio code awaits
`asyncio.wrap_future(...)`; cancelling it cancels the request in the service) or, for chat, a
ServiceStream to iterate with `for` or `async for`. Requests made while no service is connected
wait, in order, on one background thread that finds or starts the service.

Crash-proof: when the connection drops, every pending request fails at once with ServiceLost saying
what happened; the client starts a new service and sends it what it must know again (the documents
it reported open, its last configure), so the next request works. After CRASHES_KEPT crashes within
CRASH_WINDOW_S it stops restarting: every request then fails with ServiceUnavailable saying why.

Hang-proof: no call waits on the service (see connection.py). Every request has a deadline (see
deadlines.py), past which it fails with ServiceTimeout. A service that stops answering is found by
its link, treated as a crash, killed and replaced (HANGS_KEPT hangs within HANG_WINDOW_S: given up).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from completion.errors import TabwiseError
from completion.service import launch
from completion.service import rundir as rundirs
from completion.service.configs import Configured
from completion.service.connection import HUNG_AFTER_S, Link
from completion.service.deadlines import deadline_for
from completion.service.errors import ServiceLost, ServiceUnavailable, ServiceVersionError
from completion.service.protocol import (
    PROTOCOL_VERSION,
    AskParams,
    ClosedParams,
    EditedParams,
    ExplainParams,
    OpenedParams,
    converter,
)
from completion.token_stream import TokenStream
from completion.types import ChatChunk, ChatRequest, ChatResult, FimRequest, Suggestion

log = logging.getLogger(__name__)
T = TypeVar("T")
CRASHES_KEPT = 3  # this many crashes ...
CRASH_WINDOW_S = 60.0  # ... within this many seconds, and the client stops restarting the service
HANGS_KEPT = 3  # as many hangs (each found only after HUNG_AFTER_S of silence) ...
HANG_WINDOW_S = 600.0  # ... within this long: a machine that keeps swapping, say
EXIT_WAIT_S = 2.0  # how long to wait for a service we started to be reaped, for its exit status


@dataclass(frozen=True)
class Outgoing:
    """A request on its way to the service (sent now, or queued until a service is connected)."""

    method: str
    params: dict[str, Any]
    future: Future[Any]
    decode: Callable[[Any], Any]  # the result's JSON -> what the future holds
    on_chunk: Callable[[dict[str, Any]], None] | None  # chat streams' chunks, as they come
    deadline_s: float  # how long it may wait for its answer once sent (chat: for each chunk)


class ServiceStream(TokenStream[ChatChunk, ChatResult]):
    """A chat answer streaming from the service: iterate for ChatChunks (sync or async), then result().
    The link's reader thread puts its chunks and settles its future; cancelling it stops the generation."""

    def put_wire(self, chunk: dict[str, Any]) -> None:
        """One chunk from the wire (the link's reader thread)."""
        self.put(converter.structure(chunk, ChatChunk))


class ServiceClient:
    """A thread-safe client of the engine service that survives the service's crashes."""

    def __init__(
        self,
        client: str = "cli",
        runtime_dir: Path | str | None = None,
        serve_args: Sequence[str] = (),
        start_timeout_s: float = launch.START_TIMEOUT_S,
        hung_after_s: float = HUNG_AFTER_S,
    ) -> None:
        self.client = client  # the kind of front end, told to the service ("lsp", "jupyter", ...)
        self.rundir = rundirs.runtime_dir(runtime_dir)
        self._serve_args = tuple(serve_args)  # flags for a service this client starts
        self._start_timeout_s = start_timeout_s
        self._hung_after_s = hung_after_s  # a service that owes answers and says nothing this long is replaced
        self._lock = threading.Lock()  # guards everything below
        self._link: Link | None = None
        self._process: subprocess.Popen[bytes] | None = None  # the service, if this client started it
        self._backlog = 0  # requests queued on the connector, not sent yet: later ones queue behind them
        self._connector = ThreadPoolExecutor(1, thread_name_prefix="tabwise-service-connect")  # in order
        self._documents: dict[str, OpenedParams] = {}  # document -> its "opened" params, latest text; re-sent
        self._settings: dict[str, Any] | None = None  # the last configure, re-sent after a restart
        self._crashes: deque[float] = deque(maxlen=CRASHES_KEPT)  # monotonic times of recent crashes
        self._hangs: deque[float] = deque(maxlen=HANGS_KEPT)  # ... and of services found not answering
        self._hung: int | None = None  # the pid of a service found not answering, to kill as it is replaced
        self._gave_up: str | None = None  # why the client stopped restarting the service
        self._closed = False

    # -- connecting ---------------------------------------------------------------------------------

    def connect(self) -> ServiceClient:
        """Connect now, starting the service if needed (waits); raises what stops it."""
        self._connector.submit(self._ensure_link).result()
        return self

    @property
    def service_pid(self) -> int | None:
        """The pid of the service connected now."""
        link = self._link
        return link.pid if link is not None and link.alive else None

    def _ensure_link(self) -> Link:
        """The live link, or a new one after a start and a replay (on the connector thread only)."""
        with self._lock:
            if self._closed:
                raise TabwiseError("the tabwise service client is closed")
            if self._gave_up is not None:
                raise ServiceUnavailable(self._gave_up)
            if self._link is not None and self._link.alive:
                return self._link
        try:
            link, process = self._connect_or_start(self.rundir)
        except ServiceVersionError as exc:  # a service of another tabwise version: this one starts its own
            own = rundirs.runtime_dir(self.rundir.path / f"protocol-{PROTOCOL_VERSION}")
            log.warning("%s; using a service of this version instead, in %s", exc, own.path)
            with self._lock:
                self.rundir = own
            link, process = self._connect_or_start(own)
        with self._lock:
            if process is not None:
                self._process = process
            settings, documents = self._settings, dict(self._documents)
        link.start(self._lost)
        if settings is not None:  # before any other request: the service answers in the order it was sent
            link.request("configure", settings, Future(), deadline_s=deadline_for("configure", settings, settings))
        for opened in documents.values():  # not warmed all at once: the next request warms its own place
            params = converter.unstructure(replace(opened, warm=False))
            link.request("opened", params, Future(), deadline_s=deadline_for("opened", params, None))
        with self._lock:
            closed = self._closed
            if not closed:
                self._link = link
        if closed:  # close() came while this connected: nothing may stay open, nor be sent
            link.close()
            raise TabwiseError("the tabwise service client is closed")
        log.info("connected to the tabwise service (pid %d)", link.pid)
        return link

    def _connect_or_start(self, rundir: rundirs.RunDir) -> tuple[Link, subprocess.Popen[bytes] | None]:
        """launch.connect_or_start, killing first the service found not answering (once)."""
        with self._lock:
            hung, self._hung = self._hung, None
        return launch.connect_or_start(
            self.client, rundir, self._serve_args, self._start_timeout_s, hung, self._hung_after_s
        )

    def _lost(self, link: Link) -> TabwiseError:
        """The link dropped (its reader thread): the error its pending requests get; restart after a crash."""
        crashed = link.bye is None
        with self._lock:
            if self._link is link:
                self._link = None
            closing = self._closed
            process = self._process if self._process is not None and self._process.pid == link.pid else None
        if closing:
            return ServiceLost("the tabwise service client was closed")
        what = self._what_happened(link, process)
        if not crashed:
            return ServiceLost(f"{what}; a new one starts with the next request")
        gave_up = self._count_failure(link, what)
        if gave_up is not None:
            return ServiceLost(f"{what}; {gave_up}")
        with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing to restart for
            self._connector.submit(self._restart_quietly)  # documents and settings reach the new one before any request
        doing = "killing it and starting a new one" if link.hung is not None else "restarting it"
        return ServiceLost(f"{what}; {doing} (its log: {self.rundir.log})")

    def _count_failure(self, link: Link, what: str) -> str | None:
        """Count a crash (or a hang); why the client stops restarting the service once they come too often."""
        now = time.monotonic()
        hung = link.hung is not None
        times, window, words = (
            (self._hangs, HANG_WINDOW_S, "stopped answering") if hung else (self._crashes, CRASH_WINDOW_S, "crashed")
        )
        with self._lock:
            if hung:
                self._hung = link.pid  # killed before a new one starts (it holds the service lock)
            times.append(now)
            if len(times) < (times.maxlen or 0) or now - times[0] >= window:
                return None
            within = "a minute" if window == 60 else f"{window / 60:.0f} minutes"
            self._gave_up = (
                f"the tabwise service {words} {len(times)} times within {within} (last: {what}), so it is "
                f"not restarted again. See its log {self.rundir.log}, or run `tabwise serve` in a terminal "
                f"to watch it; then restart this front end"
            )
        log.error("%s", self._gave_up)
        return self._gave_up

    def _what_happened(self, link: Link, process: subprocess.Popen[bytes] | None) -> str:
        """How the service went away, in words: "the tabwise service (pid 12) was killed by SIGSEGV"."""
        name = f"the tabwise service (pid {link.pid})"
        if link.bye is not None:
            return f"{name} stopped ({link.bye})"
        if link.hung is not None:
            return f"{name} stopped answering: {link.hung}"
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(EXIT_WAIT_S)
            return f"{name} {launch.describe_exit(process.returncode)}"
        if launch.pid_alive(link.pid):
            return f"{name} closed the connection"
        return f"{name} died (killed or crashed; another front end started it, so its exit status is unknown)"

    def _restart_quietly(self) -> None:
        try:
            self._ensure_link()
        except TabwiseError as exc:  # the next request reports it
            log.warning("could not restart the tabwise service: %s", exc)

    # -- requests -----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        decode: Callable[[Any], T] = lambda value: value,
        on_chunk: Callable[[dict[str, Any]], None] | None = None,
        future: Future[Any] | None = None,
        deadline_s: float | None = None,
    ) -> Future[T]:
        """Send any method (see protocol.py); the future holds `decode(result)`, or ServiceTimeout once
        `deadline_s` seconds pass without it (default: the method's, see deadlines.py). Never waits."""
        future = future if future is not None else Future()
        body = dict(params or {})
        with self._lock:
            link = self._link if self._backlog == 0 and self._link is not None and self._link.alive else None
            if link is None:
                self._backlog += 1
            if deadline_s is None:
                deadline_s = deadline_for(method, body, self._settings)
        outgoing = Outgoing(method, body, future, decode, on_chunk, deadline_s)
        if link is not None:
            self._send(link, outgoing)
        else:
            self._queue(outgoing)
        return future

    def _queue(self, outgoing: Outgoing) -> None:
        """Send a request from the connector thread, once a service is connected (after those before it)."""
        try:
            self._connector.submit(self._send_later, outgoing)
        except RuntimeError:  # the connector was shut down: the client is closed
            outgoing.future.set_exception(TabwiseError("the tabwise service client is closed"))

    def _send(self, link: Link, outgoing: Outgoing) -> None:
        try:
            _hand_to(link, outgoing)
        except ServiceLost:  # it dropped just now: the connector starts another and sends this there
            with self._lock:
                self._backlog += 1
            self._queue(outgoing)

    def _send_later(self, outgoing: Outgoing) -> None:
        try:
            if outgoing.future.cancelled():
                return
            _hand_to(self._ensure_link(), outgoing)
        except TabwiseError as exc:
            with contextlib.suppress(Exception):
                outgoing.future.set_exception(exc)
        finally:
            with self._lock:
                self._backlog -= 1

    def complete(self, request: FimRequest) -> Future[Suggestion]:
        """The suggestion for `request`; a newer one for its document supersedes it (Cancelled)."""
        return self.request("complete", converter.unstructure(request), _decoder(Suggestion))

    def explain(self, code: str, language: str = "", path: str = "untitled") -> ServiceStream:
        """Stream an explanation of `code`."""
        return self._stream("explain", converter.unstructure(ExplainParams(code, language, path)))

    def ask(self, question: str, context: str = "") -> ServiceStream:
        """Stream the answer to a question, with optional context before it."""
        return self._stream("ask", converter.unstructure(AskParams(question, context)))

    def chat(self, request: ChatRequest) -> ServiceStream:
        """Stream the answer to a conversation."""
        return self._stream("chat", converter.unstructure(request))

    def status(self) -> Future[dict[str, Any]]:
        """The engine's status summary, with the service's own under "service"."""
        return self.request("status")

    def configure(self, settings: Mapping[str, Any]) -> Future[Configured]:
        """Apply settings (EngineConfig field names) over the service's own; re-sent after a restart. The
        answer's warning says which were not applied because another front end holds them."""
        body = converter.unstructure(dict(settings))
        with self._lock:
            self._settings = body
        return self.request("configure", body, Configured.from_wire)

    def opened(
        self, document: str, path: str, text: str, language: str = "", warm: bool = True, root: str = ""
    ) -> Future[None]:
        """The front end opened `document` (see Engine.document_opened); re-sent to a restarted service."""
        params = OpenedParams(document, path, text, language, warm, root)
        with self._lock:
            self._documents[document] = params
        return self.request("opened", converter.unstructure(params))

    def edited(
        self, document: str, path: str, text: str, line: int | None, at: FimRequest | None = None, root: str = ""
    ) -> Future[None]:
        """`document` changed at `line` (0-based; None: unknown); `text` is all of it now; `at` is the
        request at the cursor, for the engine's warm-up policy (see Engine.document_edited)."""
        with self._lock:
            known = self._documents.get(document, OpenedParams(document, path, text))
            self._documents[document] = replace(known, path=path, text=text, root=root)
        return self.request("edited", converter.unstructure(EditedParams(document, path, text, line, at, root)))

    def closed(self, document: str, path: str = "", root: str = "") -> Future[None]:
        """The front end closed `document`."""
        with self._lock:
            self._documents.pop(document, None)
        return self.request("closed", converter.unstructure(ClosedParams(document, path, root)))

    def close(self) -> None:
        """Disconnect (the service cancels this client's requests and exits later if no one else is left)."""
        with self._lock:
            self._closed = True
            link = self._link
        if link is not None:
            link.close()
        self._connector.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _stream(self, method: str, params: dict[str, Any]) -> ServiceStream:
        stream = ServiceStream()
        self.request(method, params, _decoder(ChatResult), stream.put_wire, stream.future)
        return stream


def _hand_to(link: Link, outgoing: Outgoing) -> None:
    """Send `outgoing` on `link` (ServiceLost: the link is closed)."""
    o = outgoing
    link.request(o.method, o.params, o.future, o.decode, o.on_chunk, o.deadline_s)


def _decoder(kind: type[T]) -> Callable[[Any], T]:
    """A wire result -> `kind`, through the protocol's one converter."""
    return lambda value: converter.structure(value, kind)
