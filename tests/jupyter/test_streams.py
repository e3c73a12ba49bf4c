"""Streams that end early: an explicit cancel, a client that goes away; and a server without a model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.conftest import TinyModels


@pytest.fixture
def jp_server_config(tiny_models: TinyModels, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    model = tmp_path / "missing.gguf" if request.node.get_closest_marker("no_model") else tiny_models.endless
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "TabwiseExtension": {"model_path": str(model), "threads": 1, "answer_tokens": 100_000},
    }


async def wait_idle(jp_fetch: Any) -> dict[str, Any]:
    """The engine's status once it has nothing running (the endless model never stops by itself)."""
    for _ in range(300):
        status = json.loads((await jp_fetch("tabwise", "status")).body)
        if not status["busy"] and status["state"] == "ready":
            return status  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"still busy: {status}")


async def test_cancel_by_id_ends_the_stream(jp_fetch: Any) -> None:
    received: list[bytes] = []
    started = asyncio.Event()

    def on_chunk(data: bytes) -> None:
        received.append(data)
        started.set()

    body = json.dumps({"question": "Say ok forever.", "id": "s1"})
    pending = asyncio.ensure_future(
        jp_fetch("tabwise", "ask", method="POST", body=body, streaming_callback=on_chunk, request_timeout=120)
    )
    await asyncio.wait_for(started.wait(), 60)
    response = await jp_fetch("tabwise", "cancel", method="POST", body=json.dumps({"id": "s1"}))
    assert json.loads(response.body) == {"cancelled": True}
    await asyncio.wait_for(pending, 30)
    messages = [json.loads(line) for line in b"".join(received).decode().splitlines()]
    assert messages[0] == {"type": "token", "kind": "answer", "text": " ok"}
    assert messages[-1]["type"] == "error" and "cancel" in messages[-1]["message"]
    assert (await wait_idle(jp_fetch))["last_outcome"] == "cancelled"


async def test_a_closed_connection_cancels_the_generation(jp_fetch: Any, jp_http_port: int, jp_base_url: str) -> None:
    await wait_idle(jp_fetch)
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    body = json.dumps({"question": "Say ok forever."}).encode()
    auth = (await jp_fetch("api", "me")).request.headers["Authorization"]
    writer.write(
        f"POST {jp_base_url}tabwise/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), 60)).startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(reader.readuntil(b'"text": " ok"'), 60)  # it is generating
    writer.close()
    assert (await wait_idle(jp_fetch))["last_outcome"] == "cancelled"


@pytest.mark.no_model
async def test_no_model_gives_503_with_the_fix(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("tabwise", "complete", method="POST", body=json.dumps({"prefix": "x = "}))
    assert refused.value.code == 503
    message = json.loads(refused.value.response.body)["message"]
    assert "missing.gguf" in message and "tabwise model fetch" in message, message
