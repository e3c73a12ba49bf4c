"""A llama-server stand-in on loopback, written here, for what a real server does not do on demand: send
keep-alive comments forever, nothing at all, one endless line or an endless body, echo the key back, or end a
stream before its final event.

Its /health, /props and /tokenize answer as llama-server's do; its /completion does what the first of its
`behaviours` whose marker is in the prompt says, else `default`. It notes what it was sent, how many bytes
it wrote of its last answer, and when a client hung up on it.
"""

from __future__ import annotations

import http.server
import json
import select
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ANSWER = "a + b"  # what "answer" writes
UNENDED = "print(alpha + beta"  # what "unended" writes before it hangs up without the final event
PING_S = 0.05  # between two keep-alive comments
HUGE_LINE_BYTES = 100 << 20  # "huge-line": one line this long
ENDLESS_BYTES = 256 << 20  # "endless": so much, which no client should read to the end
PROPS = {"default_generation_settings": {"n_ctx": 4096}, "model_path": "/models/qwen2.5-coder.gguf", "total_slots": 1}


class StandIn(http.server.ThreadingHTTPServer):
    """The server; `behaviours` and `default` may change between requests."""

    daemon_threads = True

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server_address[1]}"
        if tls is not None:  # (certificate, key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.default = "answer"  # what /completion does
        self.behaviours: dict[str, str] = {}  # marker in the prompt -> what /completion does
        self.props = "answer"  # what /props does: "answer", "endless" or "deep"
        self.seen: list[tuple[str, dict[str, Any], str | None]] = []  # (path, body, Authorization) per request
        self.started = threading.Event()  # a /completion began that is not a plain "answer"
        self.hung_up = threading.Event()  # a client closed a connection this server was still answering on
        self.written = 0  # bytes of the last /completion's body
        self.stopping = threading.Event()

    def behaviour(self, body: dict[str, Any]) -> str:
        prompt = str(body.get("prompt", ""))
        return next((what for marker, what in self.behaviours.items() if marker in prompt), self.default)


class Handler(http.server.BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read what the server noted instead."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, {}, self.headers.get("Authorization")))
        if self.path == "/props" and self.server.props != "answer":
            self._head()
            endless = self.server.props == "endless"  # else "deep": arrays nested a million deep
            piece = b"[0," * 20_000 if endless else b"[" * 65536
            self._write_until_hung_up(iter(lambda: piece, None), ENDLESS_BYTES if endless else 1 << 20)
        elif self.path in ("/props", "/health"):
            self._json(PROPS if self.path == "/props" else {"status": "ok"})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.seen.append((self.path, body, self.headers.get("Authorization")))
        if self.path == "/tokenize":
            self._json({"tokens": list(range(len(str(body.get("content", ""))) // 4 + 1))})
        elif self.path == "/completion":
            self._complete(body, self.server.behaviour(body))
        else:
            self.send_error(404)

    def _complete(self, body: dict[str, Any], behaviour: str) -> None:
        if behaviour == "answer":
            self._answer(bool(body.get("stream")))
            return
        self.server.started.set()
        self.server.written = 0
        if behaviour == "silent":
            self._wait_for_hang_up()
        elif behaviour == "echo-key":
            self._json({"error": {"message": f"refused {self.headers.get('Authorization')}"}}, 500)
        elif behaviour == "unended":  # the connection closes after this: HTTP/1.0
            self._head()
            self.wfile.write(f"data: {json.dumps({'content': UNENDED, 'stop': False})}\n\n".encode())
        else:
            self._head()
            self._write_until_hung_up(*_stream(behaviour))

    def _answer(self, stream: bool) -> None:
        if not stream:
            self._json({"content": "", "timings": {"prompt_n": 3}})
            return
        self._head()
        end = {"content": "", "stop": True, "stop_type": "eos", "tokens_predicted": 1, "timings": {"prompt_n": 3}}
        for event in ({"content": ANSWER, "stop": False}, end):
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())

    def _head(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write_until_hung_up(self, pieces: Iterator[bytes], limit: int, pause_s: float = 0.0) -> None:
        """Write `pieces` until `limit` bytes, the client hangs up, or the server stops."""
        while self.server.written < limit and not self.server.stopping.is_set():
            if self._peer_closed():
                break
            try:
                piece = next(pieces)
                self.wfile.write(piece)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                break
            self.server.written += len(piece)
            if pause_s:
                time.sleep(pause_s)
        else:
            return
        self.server.hung_up.set()

    def _wait_for_hang_up(self) -> None:
        """Answer nothing: wait until the client hangs up or the server stops."""
        while not self.server.stopping.is_set():
            if self._peer_closed(PING_S):
                self.server.hung_up.set()
                return

    def _peer_closed(self, wait_s: float = 0.0) -> bool:
        """True once the client closed its end: it sends nothing after its request but that (a FIN, a reset,
        TLS's close alert), so anything to read says so."""
        return bool(select.select([self.connection], [], [], wait_s)[0])


def _stream(behaviour: str) -> tuple[Iterator[bytes], int, float]:
    """What a streaming behaviour writes after its headers: (pieces, limit in bytes, pause between pieces)."""
    event = f"data: {json.dumps({'content': 'x' * 1000, 'stop': False})}\n\n".encode()
    streams = {
        "pings": (b": ping\n\n", PING_S),  # keep-alive comments, never data
        "headers-only": (b"", PING_S),  # nothing after the headers
        "endless": (event, 0.0),  # data events, as fast as they go
        "trickle": (b'data: {"content": "x"}\n\n', PING_S),  # data events, slowly
    }
    if behaviour == "huge-line":
        return iter([b"data: ", *[b"x" * 65536] * (HUGE_LINE_BYTES // 65536)]), HUGE_LINE_BYTES, 0.0
    piece, pause_s = streams[behaviour]
    return iter(lambda: piece, None), ENDLESS_BYTES, pause_s


@contextmanager
def stand_in(tls: tuple[Path, Path] | None = None) -> Iterator[StandIn]:
    """The stand-in (over TLS with `tls`: a certificate and its key), serving on its own thread until the end
    of the `with`."""
    server = StandIn(tls)
    thread = threading.Thread(target=server.serve_forever, name="stand-in", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
