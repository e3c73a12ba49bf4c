"""What the remote backends share: one HTTP client per server, its key, its failures and their backoff.

A remote backend sends tabwise's own prompts to a shared inference server (llama-server, vLLM, ...); the
engine keeps context, prompt layout, plan, stop rules, caches and time budgets. Every request goes to
the configured base URL only (no redirects followed, no proxy or netrc from the environment), with TLS
verified against the system's certificates. Every failure is one `BackendUnavailable` that names the URL
and the cause, never the key; after one, requests fail fast with the same message for a backoff window
that doubles up to BACKOFF_MAX_S, so an unreachable server costs no retry storm.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from completion.errors import BackendUnavailable, RequestError

log = logging.getLogger(__name__)
KEY_ENV = "TABWISE_API_KEY"  # the key itself, where no key file is set (read by the process that connects)
WARM_TIMEOUT_S = 300.0  # a warm-up runs while the user types: on a loaded CPU server it may take minutes
CONNECT_TIMEOUT_S = 3.0  # a server on the team's network answers a connect in milliseconds
READ_TIMEOUT_S = 60.0  # for an answer or the next piece of a stream: a loaded CPU server takes ~15 s a 1k prompt
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


def read_key(key_file: Path | None) -> str | None:
    """The API key: the first line of `key_file`, else $TABWISE_API_KEY, else none."""
    if key_file is not None:
        try:
            return key_file.expanduser().read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise BackendUnavailable(f"cannot read the API key file {key_file}: {exc.strerror}") from None
    return os.environ.get(KEY_ENV) or None


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
        self.url = url.rstrip("/")
        self.label = label or self.url  # the URL as the user configured it, for messages
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            verify=ssl.create_default_context(),  # the system's CAs ($SSL_CERT_FILE too); never off
            trust_env=False,  # no proxy or netrc from the environment: connections go to `url` only
            follow_redirects=False,
        )
        self.backoff = Backoff()
        self._logged = ""  # the last failure logged
        self.sent: Counter[str] = Counter()  # HTTP requests sent by route, for the benchmarks' accounting

    def get(self, path: str) -> Reply:
        return self._send("GET", path, None)

    def post(self, path: str, body: dict[str, Any]) -> Reply:
        return self._send("POST", path, body)

    def warm(self, path: str, body: dict[str, Any]) -> Any | None:
        """POST a warm-up: None if the server did not finish it within WARM_TIMEOUT_S (all its slots busy, a
        long prompt on a CPU), which is no failure of the server, so no backoff."""
        self.backoff.check()
        self.sent[path] += 1
        try:
            response = self._client.post(self.url + path, json=body, timeout=WARM_TIMEOUT_S)
        except httpx.TimeoutException:
            return None
        except httpx.TransportError as exc:
            raise self._fail(path, _cause(exc)) from None
        self._raise_for(response, path)
        self._succeeded()
        return response.json()

    def probe(self, path: str, body: dict[str, Any]) -> Any | None:
        """POST to a route the server may not have: None if it has not (or takes another shape)."""
        return self._send("POST", path, body, missing_ok=True)

    def _send(self, method: str, path: str, body: dict[str, Any] | None, missing_ok: bool = False) -> Any:
        self.backoff.check()
        started = time.perf_counter()
        response = self._guarded(lambda: self._client.request(method, self.url + path, json=body), path)
        if missing_ok and response.status_code in MISSING_ROUTE:
            return None
        self._raise_for(response, path)
        try:
            parsed = response.json()
        except ValueError:
            raise self._fail(path, "the answer is not JSON") from None
        self._succeeded()
        return parsed if missing_ok else Reply(parsed, (time.perf_counter() - started) * 1000)

    def _succeeded(self) -> None:
        self.backoff.succeeded()
        self._logged = ""

    def events(self, path: str, body: dict[str, Any]) -> EventStream:
        """Start a server-sent event stream; the server stops generating once it is closed."""
        self.backoff.check()
        request = self._client.build_request("POST", self.url + path, json=body)
        response = self._guarded(lambda: self._client.send(request, stream=True), path)
        if response.status_code >= 400:
            response.read()
            response.close()
            self._raise_for(response, path)
        self._succeeded()
        return EventStream(self, response, path)

    def _guarded(self, send: Callable[[], httpx.Response], path: str) -> httpx.Response:
        self.sent[path] += 1
        try:
            return send()
        except httpx.TransportError as exc:
            raise self._fail(path, _cause(exc)) from None

    def _raise_for(self, response: httpx.Response, path: str) -> None:
        """A failing answer as BackendUnavailable (the server, its URL or the key) or RequestError (this request)."""
        code = response.status_code
        if code < 400:
            return
        if code in (401, 403):
            raise self._fail(path, f"HTTP {code}: the API key was refused (set TABWISE_API_KEY_FILE)")
        text = _error_text(response)
        if 400 <= code < 500 and code != 404:  # this request (a prompt over the server's window, say): no backoff
            raise RequestError(f"the inference server at {self.label} refused the request (HTTP {code}: {text})")
        raise self._fail(path, f"HTTP {code}: {text}" if text else f"HTTP {code}")  # 404: the URL is wrong

    def _fail(self, path: str, cause: str) -> BackendUnavailable:
        error = BackendUnavailable(f"the inference server at {self.label} is unavailable ({cause})")
        if str(error) != self._logged:  # once per distinct failure, not once per request
            self._logged = str(error)
            log.info("%s (on %s)", error, path)  # the front ends show it once; the service log keeps it
        self.backoff.failed(error)
        return error

    def lost(self, path: str, exc: httpx.TransportError) -> BackendUnavailable:
        """A stream that broke off: the server went away mid-answer."""
        return self._fail(path, _cause(exc))


class EventStream:
    """The JSON `data:` payloads of a server-sent event stream, up to `[DONE]` or its end."""

    def __init__(self, server: RemoteServer, response: httpx.Response, path: str) -> None:
        self._server, self._response, self._path = server, response, path
        self._lines = response.iter_lines()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        while True:
            try:
                line = next(self._lines)
            except httpx.TransportError as exc:
                self.close()
                raise self._server.lost(self._path, exc) from None
            except StopIteration:
                self.close()
                raise
            if not line.startswith("data:"):
                continue  # blank separators, comments (pings), event names
            data = line[5:].strip()
            if data == "[DONE]":
                self.close()
                raise StopIteration
            try:
                event = json.loads(data)
            except ValueError:
                continue  # not ours to read; the stream goes on
            if isinstance(event, dict) and "error" in event:
                self.close()
                raise self._server._fail(self._path, _event_error(event["error"]))
            if isinstance(event, dict):
                return event

    def close(self) -> None:
        """Close the connection: the server sees it and stops generating."""
        self._response.close()


def _cause(exc: httpx.TransportError) -> str:
    """A transport failure in a few words (connection refused, timed out, ...), never a traceback."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time: {type(exc).__name__}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "it closed the connection mid-answer"
    text = str(exc).strip() or type(exc).__name__
    return text.rsplit("] ", 1)[-1]  # "[Errno 111] Connection refused" -> "Connection refused"


def _error_text(response: httpx.Response) -> str:
    """The message a server put in its error body (OpenAI, llama-server or FastAPI shape), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:ERROR_TEXT_CHARS]
    if isinstance(body, dict):
        inner = body.get("error", body.get("detail", body))
        return _event_error(inner)
    return str(body)[:ERROR_TEXT_CHARS]


def _event_error(error: Any) -> str:
    message = error.get("message", error) if isinstance(error, dict) else error
    return str(message)[:ERROR_TEXT_CHARS]
