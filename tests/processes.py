"""Processes the end-to-end tests start (editors, servers): a free port, waiting, and ending them."""

from __future__ import annotations

import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.processes import stop_services
from completion.service.rundir import ENV

IDLE_EXIT_ENV = "TABWISE_SERVICE_IDLE_EXIT_S"  # read by the service command: a service left behind exits soon
IDLE_EXIT_S = "20"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(httpd: socketserver.BaseServer) -> Iterator[None]:
    """A small server of the test's own (an `http.server`) answering on a thread, shut down afterwards."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def wait_for_http(url: str, process: subprocess.Popen[bytes], seconds: float, up: tuple[int, ...] = ()) -> None:
    """Until `url` answers (with success, or with one of the error statuses `up` that say the server is up);
    fails early when the process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code in up:
                return
            time.sleep(0.2)
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s")


@contextmanager
def running(command: list[str], **options: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A process for the length of a `with`; ended (and waited for) after, so no editor outlives its test."""
    process = subprocess.Popen(command, **options)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def private_service() -> Iterator[Path]:
    """A private, short runtime directory for a tabwise service (a socket path holds at most 107 bytes);
    the service running in it afterwards is stopped (SIGTERM, then SIGKILL) and the directory removed."""
    folder = Path(tempfile.mkdtemp(prefix="tabwise-test-"))
    try:
        yield folder / "run"
    finally:
        stop_services(folder / "run")  # also one a restart or another protocol version started
        shutil.rmtree(folder, ignore_errors=True)


def service_env(path: Path) -> dict[str, str]:
    """The environment that points front ends (and the services they start) at `path`."""
    return {ENV: str(path), IDLE_EXIT_ENV: IDLE_EXIT_S}


@contextmanager
def private_service_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`private_service`, with this process's environment pointing at it: front ends the test starts (they
    inherit the environment) start their service there."""
    with private_service() as path:
        for name, value in service_env(path).items():
            monkeypatch.setenv(name, value)
        yield path
