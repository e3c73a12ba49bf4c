"""A tabwise service that stops answering (SIGSTOP) never freezes the Jupyter server: its event loop goes on
serving while a large completion waits on the stopped service; that request gets an error saying what
happened, and a new service answers the next one. A real `jupyter server` process; every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from completion.service import launch
from completion.service.connection import HUNG_AFTER_S
from tests.conftest import FIM_SCRIPT, TinyModels
from tests.jupyter.server import RunningServer, jupyter_server

pytestmark = pytest.mark.timeout(600)
WAIT_S = 60.0  # bound on every wait: a service start, a model load, a request
ADD = {"prefix": "def add(a, b):\n    return ", "suffix": "\n"}
BIG = "value = compute(1, 2)\n" * (1_500_000 // 22)  # 1.5 MB: several times what a socket buffer holds


def post(server: RunningServer, route: str, body: dict[str, Any], answer: Future[Any]) -> None:
    """POST `body`; `answer` holds the JSON answer, or the HTTPError with its message."""
    request = urllib.request.Request(
        server.url + route, json.dumps(body).encode(), headers={"Authorization": f"token {server.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=HUNG_AFTER_S + 2 * WAIT_S) as response:
            answer.set_result(json.loads(response.read()))
    except OSError as exc:  # an HTTPError among them
        answer.set_exception(exc)


def completes(server: RunningServer) -> str:
    """The completion of ADD, once a service answers it (503 while a new one starts)."""
    deadline = time.monotonic() + 2 * WAIT_S
    while True:
        try:
            return str(server.call("tabwise/complete", ADD)["text"])
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_stopped_service_does_not_freeze_the_jupyter_server(tiny_models: TinyModels, tmp_path: Path) -> None:
    options = (f"--TabwiseExtension.model_path={tiny_models.qwen}", "--TabwiseExtension.threads=1")
    with jupyter_server(tmp_path, *options) as server:
        assert server.call("tabwise/complete", ADD)["text"] == FIM_SCRIPT.split("\n")[0]
        old = server.get("tabwise/status")["service"]["pid"]
        os.kill(old, signal.SIGSTOP)
        big: Future[Any] = Future()
        body = {"prefix": BIG + ADD["prefix"], "suffix": "\n", "path": "big.py"}
        threading.Thread(target=post, args=(server, "tabwise/complete", body, big), daemon=True).start()
        served = 0
        deadline = time.monotonic() + HUNG_AFTER_S + 2 * WAIT_S
        while not big.done() and time.monotonic() < deadline:
            assert server.get("api/status")["started"]  # the server's loop answers all along (timeout: 30 s)
            served += 1
            time.sleep(0.2)
        error = big.exception(0)
        assert isinstance(error, urllib.error.HTTPError) and error.code in (500, 503), error
        message = json.loads(error.read())["message"]
        assert f"the tabwise service (pid {old})" in message and "answer" in message, message
        assert served > 0
        assert completes(server) == FIM_SCRIPT.split("\n")[0]  # a new service answers
        assert server.get("tabwise/status")["service"]["pid"] != old
        assert not launch.pid_alive(old)
