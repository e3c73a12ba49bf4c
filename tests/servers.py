"""Real inference servers on loopback for the remote backend tests: llama.cpp's llama-server (built under
build/ by the Makefile) and llama-cpp-python's OpenAI-compatible server (the test extra), each on a free
port with a tiny scripted model, an API key, a start-up timeout, and stopped at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.processes import end
from tests.conftest import ENDLESS_WINDOW
from tests.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
LLAMA_SERVER = ROOT / "build/llama-server/build/bin/llama-server"  # the Makefile's $(LLAMA_SERVER)
API_KEY = "test-key-7f3a"  # the servers' key; tests check that no message ever shows it
START_S = 120.0  # a tiny model loads in under a second; this bounds a server that never answers


@dataclass
class Server:
    """A server process the test started: its base URL and how to reach it directly."""

    url: str  # base URL without /v1
    key_file: Path
    process: subprocess.Popen[bytes]
    command: list[str]

    def get(self, path: str) -> Any:
        """GET a JSON route with the key (for what the tests check on the server itself)."""
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {API_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        end(self.process)

    def restart(self) -> None:
        """Start it again on the same port (after stop)."""
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_http(self.url + "/health", self.process, START_S, up=(401,))


def llama_server_binary() -> Path:
    """The llama-server the Makefile builds; a missing one fails in CI (make test builds it) and skips
    elsewhere with how to build it."""
    if not LLAMA_SERVER.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{LLAMA_SERVER} is missing: `make test` builds it first")
        pytest.skip(f"no {LLAMA_SERVER}: build it with `make {LLAMA_SERVER.relative_to(ROOT)}`")
    return LLAMA_SERVER


@contextmanager
def llama_server(
    model: Path,
    folder: Path,
    slots: int = 2,
    key: bool = True,
    threads: int = 1,
    slot_context: int = 2048,
    binary: Path | None = None,
    context_shift: bool = False,
) -> Iterator[Server]:
    """llama-server on loopback: `slots` slots (-np) of `slot_context` tokens each, `threads` threads;
    `context_shift`: a generation goes on past the window (the endless model's, until it is stopped)."""
    port = free_port()
    command = [str(binary or llama_server_binary()), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
               "-np", str(slots), "-c", str(slot_context * slots), "-t", str(threads), "-tb", str(threads),
               "--no-webui", "--metrics", *(["--api-key", API_KEY] if key else []),
               *(["--context-shift"] if context_shift else [])]  # fmt: skip
    with _serving(command, f"http://127.0.0.1:{port}", "/health", folder) as server:
        yield server


def endless_llama_server(model: Path, folder: Path) -> AbstractContextManager[Server]:
    """llama-server for the endless model: it writes until the client stops it (tests.conftest.ENDLESS)."""
    return llama_server(model, folder, slot_context=ENDLESS_WINDOW, context_shift=True)


@contextmanager
def openai_server(model: Path, folder: Path) -> Iterator[Server]:
    """llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on loopback."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "4096",
               "--api_key", API_KEY]  # fmt: skip
    with _serving(command, f"http://127.0.0.1:{port}", "/v1/models", folder) as server:
        yield server


@contextmanager
def _serving(command: list[str], url: str, ready: str, folder: Path) -> Iterator[Server]:
    key_file = folder / "api-key"
    key_file.write_text(API_KEY + "\n", encoding="utf-8")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(url, key_file, process, command)
    try:
        wait_for_http(url + ready, process, START_S, up=(401,))  # 401: up, wants its key
        yield server
    finally:
        end(server.process)


def decoding(server: Server) -> bool:
    """True while any llama-server slot is generating."""
    return any(slot.get("is_processing") for slot in server.get("/slots"))


def wait_idle(server: Server, seconds: float = 30.0) -> None:
    """Until no llama-server slot is generating; fails if one still is after `seconds`."""
    deadline = time.monotonic() + seconds
    while decoding(server):
        if time.monotonic() > deadline:
            pytest.fail(f"llama-server still generating after {seconds:.0f} s: {server.get('/slots')}")
        time.sleep(0.1)


def tokens_predicted(server: Server) -> float:
    """llama-server's count of generated tokens so far (its /metrics)."""
    request = urllib.request.Request(server.url + "/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("llamacpp:tokens_predicted_total"):
                return float(line.split()[-1])
    return 0.0


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that nobody vouches for, and its key (skips where openssl is missing)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate with")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
