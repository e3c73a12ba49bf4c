"""The Jupyter extension with its engine on a shared llama-server (real, on loopback, tiny scripted models):
a suggestion, an explanation, cancellation that stops the server, the server going away and coming back
(503 with the reason meanwhile), and a wrong key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.conftest import CHAT_SCRIPT, TinyModels
from tests.servers import API_KEY, Server, decoding, endless_llama_server, llama_server, wait_idle

COMPLETE = {"prefix": "def add(a, b):\n    return ", "suffix": "\n", "language": "python"}


@pytest.fixture
def remote(request: pytest.FixtureRequest, tiny_models: TinyModels, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A llama-server for this test ("qwen", "endless", or "wrong-key": qwen, and a key file it refuses)."""
    kind = getattr(request, "param", "qwen")
    endless = endless_llama_server(tiny_models.endless, tmp_path) if kind == "endless" else None
    with endless or llama_server(tiny_models.qwen, tmp_path) as server:
        key_file = server.key_file
        if kind == "wrong-key":
            key_file = tmp_path / "wrong-key"
            key_file.write_text("not-the-key\n")
        yield server, key_file


@pytest.fixture
def jp_server_config(remote: tuple[Server, Path], tiny_models: TinyModels) -> dict[str, Any]:
    server, key_file = remote
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "TabwiseExtension": {
            "backend": "llama-server",
            "backend_url": server.url,
            "api_key_file": str(key_file),
            "answer_tokens": 100_000,
            "time_budget_ms": 600_000,
        },
    }


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines() if line]


async def complete(jp_fetch: Any, prefix: str = COMPLETE["prefix"]) -> Any:
    body = json.dumps({**COMPLETE, "prefix": prefix})
    return json.loads((await jp_fetch("tabwise", "complete", method="POST", body=body)).body)


async def test_a_suggestion_and_an_explanation(jp_fetch: Any, remote: tuple[Server, Path]) -> None:
    assert (await complete(jp_fetch))["text"] == "a + b"
    body = json.dumps({"code": "def add(a, b):\n    return a + b\n", "language": "python"})
    messages = lines((await jp_fetch("tabwise", "explain", method="POST", body=body)).body)
    assert "".join(m["text"] for m in messages if m["type"] == "token") == CHAT_SCRIPT
    assert messages[-1]["type"] == "done"
    status = json.loads((await jp_fetch("tabwise", "status")).body)
    assert status["device"] == "llama-server" and status["server"] == remote[0].url


@pytest.mark.parametrize("remote", ["endless"], indirect=True)
async def test_cancel_stops_the_server(jp_fetch: Any, remote: tuple[Server, Path]) -> None:
    server = remote[0]
    started = asyncio.Event()
    body = json.dumps({"question": "Say ok forever.", "id": "r1"})
    pending = asyncio.ensure_future(
        jp_fetch(
            "tabwise", "ask", method="POST", body=body, streaming_callback=lambda _: started.set(), request_timeout=120
        )
    )
    await asyncio.wait_for(started.wait(), 60)
    assert decoding(server)
    response = await jp_fetch("tabwise", "cancel", method="POST", body=json.dumps({"id": "r1"}))
    assert json.loads(response.body) == {"cancelled": True}
    await asyncio.wait_for(pending, 30)
    await asyncio.to_thread(wait_idle, server, 10)


async def test_a_server_that_goes_away_and_comes_back(jp_fetch: Any, remote: tuple[Server, Path]) -> None:
    server = remote[0]
    assert (await complete(jp_fetch))["text"] == "a + b"
    await asyncio.to_thread(server.stop)
    for prefix in ("def sub(a, b):\n    return ", "def mul(a, b):\n    return "):
        with pytest.raises(HTTPClientError) as away:
            await complete(jp_fetch, prefix)
        assert away.value.code == 503
        message = json.loads(away.value.response.body)["message"]
        assert message.startswith(f"the inference server at {server.url} is unavailable ("), message
    await asyncio.to_thread(server.restart)
    for _ in range(100):
        await asyncio.sleep(0.2)  # the backoff window passes
        try:
            assert (await complete(jp_fetch, "def div(a, b):\n    return "))["text"] == "a + b"
            break
        except HTTPClientError as exc:
            assert exc.code == 503
    else:
        raise AssertionError("no suggestion after the server came back")


@pytest.mark.parametrize("remote", ["wrong-key"], indirect=True)
async def test_a_wrong_key(jp_fetch: Any, remote: tuple[Server, Path]) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await complete(jp_fetch)
    assert refused.value.code == 503
    message = json.loads(refused.value.response.body)["message"]
    assert "API key was refused" in message and remote[0].url in message
    assert "not-the-key" not in message and API_KEY not in message
