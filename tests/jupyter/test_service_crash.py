"""The Jupyter server is a client of the tabwise service: the model never runs in it, and a service that
crashes or is killed mid-answer costs that answer an error, not the server; the next request works."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from completion.service import launch
from completion.service.client import CRASHES_KEPT
from tests.conftest import CHAT_SCRIPT, ENDLESS, ENDLESS_TOKEN, ENDLESS_WINDOW, FIM_SCRIPT, TinyModels
from tests.jupyter.server import jupyter_server

pytestmark = pytest.mark.timeout(300)
WAIT_S = 60.0  # bound on every wait: a service start, a model load, a request


@pytest.fixture
def jp_server_config(tiny_models: TinyModels) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "TabwiseExtension": {
            "model_path": str(tiny_models.endless),
            "threads": 1,
            "answer_tokens": ENDLESS,
            "context_window": ENDLESS_WINDOW,
        },
    }


async def service_pid(jp_fetch: Any, other_than: int | None = None) -> int:
    """The pid of the service answering the server's requests (once it is another than `other_than`)."""
    for _ in range(int(WAIT_S * 10)):
        try:
            status = json.loads((await jp_fetch("tabwise", "status")).body)
        except HTTPClientError as exc:  # 503 while a killed service is being replaced
            status = {"error": exc}
        pid = status.get("service", {}).get("pid")
        if pid is not None and pid != other_than and status["state"] == "ready":
            return int(pid)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no service other than {other_than}: {status}")


async def ask_forever(jp_fetch: Any) -> tuple[asyncio.Future[Any], list[bytes], asyncio.Event]:
    """An endless answer streaming: the pending response, the bytes so far, set once tokens come."""
    received: list[bytes] = []
    started = asyncio.Event()

    def on_chunk(data: bytes) -> None:
        received.append(data)
        started.set()

    body = json.dumps({"question": "Say ok forever."})
    pending = asyncio.ensure_future(
        jp_fetch("tabwise", "ask", method="POST", body=body, streaming_callback=on_chunk, request_timeout=120)
    )
    await asyncio.wait_for(started.wait(), WAIT_S)
    return pending, received, started


async def complete(jp_fetch: Any) -> str:
    body = json.dumps({"prefix": "def add(a, b):\n    return ", "suffix": "\n"})
    response = await jp_fetch("tabwise", "complete", method="POST", body=body, request_timeout=WAIT_S)
    return str(json.loads(response.body)["text"])


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGKILL], ids=["SIGSEGV", "SIGKILL"])
async def test_a_service_killed_mid_answer_costs_that_answer_only(
    jp_fetch: Any, jp_ws_fetch: Any, signum: signal.Signals
) -> None:
    pid = await service_pid(jp_fetch)
    pending, received, _ = await ask_forever(jp_fetch)
    os.kill(pid, signum)
    await asyncio.wait_for(pending, WAIT_S)
    messages = [json.loads(line) for line in b"".join(received).decode().splitlines()]
    assert messages[0] == {"type": "token", "kind": "answer", "text": ENDLESS_TOKEN}
    last = messages[-1]
    assert last["type"] == "error", last
    assert f"the tabwise service (pid {pid}) was killed by {signum.name}" in last["message"], last
    assert "restarting it" in last["message"], last
    assert ENDLESS_TOKEN.strip() in await complete(jp_fetch)  # the Jupyter server is up; the next request works
    new_pid = await service_pid(jp_fetch, other_than=pid)
    assert not launch.pid_alive(pid) and launch.pid_alive(new_pid)
    ws = await jp_ws_fetch("tabwise", "inline")  # the websocket too
    await ws.write_message(json.dumps({"number": 1, "prefix": "def add(a, b):\n    return ", "suffix": ""}))
    reply = json.loads(await asyncio.wait_for(ws.read_message(), WAIT_S))
    assert reply["reply_to"] == 1 and ENDLESS_TOKEN.strip() in reply["list"]["items"][0]["insertText"], reply
    ws.close()


async def test_requests_waiting_on_a_service_that_dies_get_503_and_an_error_reply(
    jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    pid = await service_pid(jp_fetch)
    ws = await jp_ws_fetch("tabwise", "inline")
    os.kill(pid, signal.SIGSTOP)  # it hangs: the requests below are sent and wait for an answer
    try:
        http = asyncio.ensure_future(complete(jp_fetch))
        await ws.write_message(json.dumps({"number": 7, "prefix": "def add(a, b):\n    return ", "suffix": ""}))
        await asyncio.sleep(1.0)
        assert not http.done()
    finally:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(HTTPClientError) as refused:
        await asyncio.wait_for(http, WAIT_S)
    assert refused.value.code == 503
    what = f"the tabwise service (pid {pid}) was killed by SIGKILL"
    assert what in json.loads(refused.value.response.body)["message"]
    reply = json.loads(await asyncio.wait_for(ws.read_message(), WAIT_S))
    assert reply["reply_to"] == 7 and what in reply["error"]["title"], reply
    await ws.write_message(json.dumps({"number": 8, "prefix": "def add(a, b):\n    return ", "suffix": ""}))
    reply = json.loads(await asyncio.wait_for(ws.read_message(), WAIT_S))
    assert reply["reply_to"] == 8 and ENDLESS_TOKEN.strip() in reply["list"]["items"][0]["insertText"], reply
    ws.close()


async def test_a_service_that_keeps_crashing_gives_503_with_why(jp_fetch: Any) -> None:
    pid = None
    for _ in range(CRASHES_KEPT):
        pid = await service_pid(jp_fetch, other_than=pid)
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(HTTPClientError) as refused:
        for _ in range(int(WAIT_S * 10)):  # the client notices the last crash at once; allow it a moment
            await complete(jp_fetch)
            await asyncio.sleep(0.1)
    assert refused.value.code == 503
    message = json.loads(refused.value.response.body)["message"]
    assert f"crashed {CRASHES_KEPT} times within a minute" in message and "service.log" in message, message
    assert (await jp_fetch("api", "status")).code == 200  # the Jupyter server itself is fine


def test_the_jupyter_server_never_loads_llama_cpp(tiny_models: TinyModels, tmp_path: Path) -> None:
    options = (f"--TabwiseExtension.model_path={tiny_models.qwen}", "--TabwiseExtension.threads=1")
    with jupyter_server(tmp_path, *options) as server:
        body = {"prefix": "def add(a, b):\n    return ", "suffix": "\n"}
        assert server.call("tabwise/complete", body)["text"] == FIM_SCRIPT.split("\n")[0]
        asked = urllib.request.Request(
            server.url + "tabwise/ask",
            json.dumps({"question": "What does it do?"}).encode(),
            headers={"Authorization": f"token {server.token}"},
        )
        with urllib.request.urlopen(asked, timeout=WAIT_S) as response:
            assert json.loads(response.read().splitlines()[-1])["answer"] == CHAT_SCRIPT
        service = server.get("tabwise/status")["service"]["pid"]
        server_maps = Path(f"/proc/{server.pid}/maps").read_text()
        service_maps = Path(f"/proc/{service}/maps").read_text()
    assert "libllama" not in server_maps and "llama_cpp" not in server_maps
    assert "libllama" in service_maps  # the model ran in the service
