"""What the remote backends share: one HTTP client per server, its key, its failures and their backoff.

A remote backend sends tabwise's own prompts to a shared inference server (llama-server, vLLM, ...); the
engine keeps context, prompt layout, plan, stop rules, caches and time budgets. Every request goes to
the configured base URL only (no redirects followed, no proxy or netrc from the environment), with TLS
verified against the system's certificates. Every failure is one `BackendUnavailable` that names the URL
(without its userinfo) and the cause, never the key; after one, requests fail fast with the same message
for a backoff window that doubles up to BACKOFF_MAX_S, so an unreachable server costs no retry storm.

Every answer is read within limits, as the engine's one worker thread serves every client: a JSON body
up to MAX_BODY_BYTES; a stream's lines up to MAX_LINE_BYTES each and MAX_STREAM_BYTES in all, ended when
no data event comes for READ_TIMEOUT_S (keep-alive comments do not count) or at STREAM_DEADLINE_S; and a
stream or a warm-up ends at once when its job is cancelled or it is closed from another thread
(completion/runtime/exchange.py).
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from completion.errors import BackendUnavailable, Cancelled, RequestError
from completion.runtime.bounded import Overrun, capped_lines, read_capped
from completion.runtime.credentials import KEY_ENV, public_url, quiet_http_logs, read_key, scrub, secrets_of
from completion.runtime.exchange import CANCELLED, Ended, Exchange

__all__ = ["KEY_ENV", "Backoff", "EventStream", "RemoteServer", "Reply", "read_key"]

log = logging.getLogger(__name__)
quiet_http_logs()  # httpx would log every request's URL, userinfo and all
WARM_TIMEOUT_S = 300.0  # a warm-up runs while the user types: on a loaded CPU server it may take minutes
CONNECT_TIMEOUT_S = 3.0  # a server on the team's network answers a connect in milliseconds
READ_TIMEOUT_S = 60.0  # for an answer or the next data event of a stream: a loaded CPU server takes ~15 s a 1k prompt
STREAM_DEADLINE_S = 300.0  # a whole stream: a 768-token answer at 5 tokens/s, after its prompt
REPLY_DEADLINE_S = 120.0  # a whole JSON answer (a token count, a chat template, a one-token completion)
MAX_BODY_BYTES = 8 << 20  # a JSON answer: /props with its chat template, a warm-up's reply with the prompt
MAX_LINE_BYTES = 4 << 20  # one line of a stream: llama-server's last event carries the prompt, JSON-escaped
MAX_STREAM_BYTES = 64 << 20  # a whole stream: tens of thousands of events
ERROR_BODY_BYTES = 64 << 10  # of a failing answer, read for its message
BACKOFF_FIRST_S = 0.5  # after a first failure, requests within this fail fast; doubles per failure
BACKOFF_MAX_S = 30.0
ERROR_TEXT_CHARS = 200  # of a server's error body, in messages
MISSING_ROUTE = (400, 404, 405, 422)  # what servers answer a route they lack, or a body of another shape


class Backoff:
    """After a failure, the window within which requests fail fast with its message (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic() before which requests fail fast
        self._window = 0.0  # seconds of the current window; 0 after a success
        self._error: BackendUnavailable | None = None
        self.failures = 0  # requests that reached the network and failed, since the start

    def check(self) -> None:
        """Raise the last failure while its window lasts."""
        with self._lock:
            if self._error is not None and time.monotonic() < self._until:
                raise self._error

    def problem(self) -> str | None:
        """The last failure's message while no request has succeeded since."""
        with self._lock:
            return str(self._error) if self._error is not None else None

    def failed(self, error: BackendUnavailable) -> None:
        with self._lock:
            self._window = min(BACKOFF_MAX_S, self._window * 2 or BACKOFF_FIRST_S)
            self._until, self._error = time.monotonic() + self._window, error
            self.failures += 1

    def succeeded(self) -> None:
        with self._lock:
            self._window, self._error = 0.0, None


@dataclass(frozen=True)
class Reply:
    """A server's JSON answer."""

    body: Any
    ms: float  # round trip


class RemoteServer:
    """HTTP to one inference server: JSON requests and server-sent event streams, with the backoff. One per
    URL and key in a process (`shared`), so that its backoff outlives a backend that failed to connect."""

    _shared: ClassVar[dict[tuple[str, str | None], RemoteServer]] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, url: str, key: str | None, label: str = "") -> RemoteServer:
        with cls._shared_lock:
            server = cls._shared.get((url.rstrip("/"), key))
            if server is None:
                server = cls._shared[(url.rstrip("/"), key)] = cls(url, key, label)
            return server

    def __init__(self, url: str, key: str | None, label: str = "") -> None:
        self.url = url.rstrip("/")  # with any userinfo, which httpx sends as basic authentication
        self.label = public_url(label or self.url)  # the URL as the user configured it, for messages
        self._secrets = secrets_of(self.url, key)  # what no message may hold
        try:
            httpx.URL(self.url)
        except httpx.InvalidURL as exc:
            raise BackendUnavailable(scrub(f"{self.label} is not a valid URL ({exc})", self._secrets)) from None
        self._client = _client(key, keep_alive=True)  # JSON requests, on kept connections
        self._streams = _client(key, keep_alive=False)  # streams and warm-ups: a connection each (exchange.py)
        self.backoff = Backoff()
        self._logged = ""  # the last failure logged
        self.sent: Counter[str] = Counter()  # HTTP requests sent by route, for the benchmarks' accounting

    def get(self, path: str) -> Reply:
        return self._send("GET", path, None)

    def post(self, path: str, body: dict[str, Any]) -> Reply:
        return self._send("POST", path, body)

    def warm(self, path: str, body: dict[str, Any], keep_going: Callable[[], bool] | None = None) -> Any | None:
        """POST a warm-up: None once `keep_going()` is False (a live request came) or if the server did not
        finish it within WARM_TIMEOUT_S (all its slots busy, a long prompt on a CPU), which is no failure of
        the server, so no backoff."""
        self.backoff.check()
        exchange = Exchange(WARM_TIMEOUT_S, WARM_TIMEOUT_S, keep_going)
        try:
            response = self._open(exchange, path, body)
            try:
                data = self._answer(response, path, exchange)
            finally:
                exchange.done()
                response.close()
        except Ended:
            return None
        return self._parsed(data, path)

    def probe(self, path: str, body: dict[str, Any]) -> Any | None:
        """POST to a route the server may not have: None if it has not (or takes another shape)."""
        return self._send("POST", path, body, missing_ok=True)

    def _send(self, method: str, path: str, body: dict[str, Any] | None, missing_ok: bool = False) -> Any:
        self.backoff.check()
        started = time.perf_counter()
        request = self._client.build_request(method, self.url + path, json=body)
        response = self._guarded(lambda: self._client.send(request, stream=True), path)
        try:
            if missing_ok and response.status_code in MISSING_ROUTE:
                return None
            data = self._answer(response, path)
        finally:
            response.close()
        parsed = self._parsed(data, path)
        return parsed if missing_ok else Reply(parsed, (time.perf_counter() - started) * 1000)

    def _parsed(self, data: bytes, path: str) -> Any:
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):  # nested too deep for Python's parser is no JSON to us either
            raise self._fail(path, "the answer is not JSON") from None
        self._succeeded()
        return parsed

    def _succeeded(self) -> None:
        self.backoff.succeeded()
        self._logged = ""

    def events(self, path: str, body: dict[str, Any], keep_going: Callable[[], bool] | None = None) -> EventStream:
        """Start a server-sent event stream; the server stops generating once it is closed, or once
        `keep_going()` is False (Cancelled)."""
        self.backoff.check()
        exchange = Exchange(STREAM_DEADLINE_S, READ_TIMEOUT_S, keep_going)
        try:
            response = self._open(exchange, path, body)
            if response.status_code >= 400:
                try:
                    self._answer(response, path, exchange)  # raises what the failure means
                finally:
                    exchange.done()
                    response.close()
        except Ended as ended:
            raise self._ended(path, ended.why) from None
        self._succeeded()
        return EventStream(self, response, path, exchange)

    def _open(self, exchange: Exchange, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST on a connection of its own that `exchange` can shut down; the answer is read as it comes."""
        extensions = {"trace": exchange.trace}  # httpcore names the connection's socket to it
        request = self._streams.build_request("POST", self.url + path, json=body, extensions=extensions)
        self.sent[path] += 1
        try:
            return self._streams.send(request, stream=True)
        except httpx.HTTPError as exc:
            exchange.done()
            exchange.raise_if_ended()
            raise self._fail(path, _cause(exc)) from None

    def _guarded(self, send: Callable[[], httpx.Response], path: str) -> httpx.Response:
        self.sent[path] += 1
        try:
            return send()
        except httpx.HTTPError as exc:
            raise self._fail(path, _cause(exc)) from None

    def _answer(self, response: httpx.Response, path: str, exchange: Exchange | None = None) -> bytes:
        """The body of a successful answer, within MAX_BODY_BYTES; a failing one raised as what it means
        (Ended first, if `exchange` was ended while it was read: its own deadline then applies)."""
        body, failing = b"", response.status_code >= 400
        deadline = time.monotonic() + (REPLY_DEADLINE_S if exchange is None else math.inf)
        try:
            body = _error_body(response) if failing else read_capped(response.iter_raw(), MAX_BODY_BYTES, deadline)
        except (httpx.HTTPError, Overrun) as exc:
            if exchange is not None:
                exchange.raise_if_ended()
            raise self._fail(path, _cause(exc)) from None
        if exchange is not None:
            exchange.raise_if_ended()  # a body cut short by the watchdog may look whole
        if failing:
            raise self._refused(response.status_code, _error_text(body), path)
        return body

    def _refused(self, code: int, text: str, path: str) -> Exception:
        """A failing answer as BackendUnavailable (the server, its URL or the key) or RequestError (this request)."""
        if code in (401, 403):
            return self._fail(path, f"HTTP {code}: the API key was refused (set TABWISE_API_KEY_FILE)")
        if 400 <= code < 500 and code != 404:  # this request (a prompt over the server's window, say): no backoff
            message = f"the inference server at {self.label} refused the request (HTTP {code}: {text})"
            return RequestError(scrub(message, self._secrets))
        return self._fail(path, f"HTTP {code}: {text}" if text else f"HTTP {code}")  # 404: the URL is wrong

    def _fail(self, path: str, cause: str) -> BackendUnavailable:
        message = f"the inference server at {self.label} is unavailable ({cause})"
        error = BackendUnavailable(scrub(message, self._secrets))  # a server may echo the key back
        if str(error) != self._logged:  # once per distinct failure, not once per request
            self._logged = str(error)
            log.info("%s (on %s)", error, path)  # the front ends show it once; the service log keeps it
        self.backoff.failed(error)
        return error

    def _ended(self, path: str, why: str) -> Exception:
        """An exchange ended early: Cancelled if no longer wanted, else a failure for the limit it went past."""
        return Cancelled("cancelled while the inference server worked") if why == CANCELLED else self._fail(path, why)


def _client(key: str | None, keep_alive: bool) -> httpx.Client:
    """An HTTP client that goes to the URL it is given only, verifies TLS, and asks for uncompressed answers
    (whose size is then what the byte caps count)."""
    headers = {"Accept-Encoding": "identity", **({"Authorization": f"Bearer {key}"} if key else {})}
    return httpx.Client(
        headers=headers,
        timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        verify=ssl.create_default_context(),  # the system's CAs ($SSL_CERT_FILE too); never off
        trust_env=False,  # no proxy or netrc from the environment: connections go to `url` only
        follow_redirects=False,
        limits=httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0),
    )


class EventStream:
    """The JSON `data:` payloads of a server-sent event stream, up to `[DONE]` or its end, within the limits.
    close() may come from any thread: a read in progress then ends at once and raises Cancelled."""

    def __init__(self, server: RemoteServer, response: httpx.Response, path: str, exchange: Exchange) -> None:
        self._server, self._response, self._path, self._exchange = server, response, path, exchange
        self._lines = capped_lines(response.iter_raw(), MAX_LINE_BYTES, MAX_STREAM_BYTES)
        self._lock = threading.Lock()
        self._reading = False  # a thread is reading the next line
        self._state = "open"  # then "ended" (read to its end, or failed) or "closed" (by close(), before its end)
        self._finished = False  # its connection is closed

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        self._exchange.progress()  # the idle clock runs from here: comments (pings) do not reset it
        while True:
            line = self._next_line()
            if not line.startswith("data:"):
                continue  # blank separators, comments (pings), event names
            data = line[5:].strip()
            if data == "[DONE]":
                self._end()
                raise StopIteration
            try:
                event = json.loads(data)
            except (ValueError, RecursionError):
                continue  # not ours to read; the stream goes on
            if isinstance(event, dict) and "error" in event:
                self._end()
                raise self._server._fail(self._path, _event_error(event["error"]))
            if isinstance(event, dict):
                return event

    def _next_line(self) -> str:
        with self._lock:
            if self._state != "open":
                raise StopIteration if self._state == "ended" else Cancelled("the stream was closed")
            self._reading = True
        stopped: StopIteration | httpx.HTTPError | Overrun | None = None
        try:
            line = next(self._lines)
        except (StopIteration, httpx.HTTPError, Overrun) as exc:
            line, stopped = "", exc
        with self._lock:
            self._reading = False
            closed = self._state == "closed"
        if closed or stopped is not None or self._exchange.why is not None:
            raise self._stopped(stopped, closed)
        return line

    def _stopped(self, stopped: StopIteration | httpx.HTTPError | Overrun | None, closed: bool) -> Exception:
        """What ended the stream, as the exception to raise (its connection closed first)."""
        why = self._exchange.why
        self._end()
        if closed or why == CANCELLED:
            return Cancelled("the stream was closed")
        if why is not None:
            return self._server._fail(self._path, why)
        if stopped is None or isinstance(stopped, StopIteration):
            return StopIteration()
        return self._server._fail(self._path, _cause(stopped))

    def close(self) -> None:
        """Close the connection: the server sees it and stops generating. From another thread while a read is
        in progress, the read ends at once; the reading thread then closes the connection."""
        with self._lock:
            if self._state == "open":
                self._state = "closed"
            reading = self._reading
        if reading:
            self._exchange.end(CANCELLED)
        else:
            self._finish()

    def _end(self) -> None:
        with self._lock:
            if self._state == "open":
                self._state = "ended"
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._exchange.done()
        self._response.close()


def _cause(exc: httpx.HTTPError | Overrun) -> str:
    """A transport failure in a few words (connection refused, timed out, ...), never a traceback."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time: {type(exc).__name__}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "it closed the connection mid-answer"
    text = str(exc).strip() or type(exc).__name__
    return text.rsplit("] ", 1)[-1]  # "[Errno 111] Connection refused" -> "Connection refused"


def _error_body(response: httpx.Response) -> bytes:
    """The start of a failing answer's body, for its message (a failure while it is read leaves it short)."""
    body = bytearray()
    try:
        for chunk in response.iter_raw():
            body += chunk
            if len(body) >= ERROR_BODY_BYTES:
                break
    except httpx.HTTPError:
        pass  # what came is enough to say
    return bytes(body[:ERROR_BODY_BYTES])


def _error_text(body: bytes) -> str:
    """The message a server put in its error body (OpenAI, llama-server or FastAPI shape), shortened."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return body.decode("utf-8", errors="replace").strip()[:ERROR_TEXT_CHARS]
    if isinstance(parsed, dict):
        inner = parsed.get("error", parsed.get("detail", parsed))
        return _event_error(inner)
    return str(parsed)[:ERROR_TEXT_CHARS]


def _event_error(error: Any) -> str:
    message = error.get("message", error) if isinstance(error, dict) else error
    return str(message)[:ERROR_TEXT_CHARS]
