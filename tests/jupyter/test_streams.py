"""Requests that end early: a stream cancelled or whose client goes away, a completion superseded by a newer
one for its notebook or whose client goes away; and a server without a model. The endless model writes
" ok" until stopped (tests.conftest.ENDLESS)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.conftest import ENDLESS, ENDLESS_WINDOW, TinyModels, generating


@pytest.fixture
def jp_server_config(tiny_models: TinyModels, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    model = tmp_path / "missing.gguf" if request.node.get_closest_marker("no_model") else tiny_models.endless
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "TabwiseExtension": {
            "model_path": str(model),
            "threads": 1,
            "answer_tokens": ENDLESS,
            "max_tokens": ENDLESS,
            "context_window": ENDLESS_WINDOW,
            "time_budget_ms": 600_000,  # nothing of a completion is shown before it ends
        },
    }


async def wait_idle(jp_fetch: Any) -> dict[str, Any]:
    """The engine's status once it has nothing running (the endless model never stops by itself)."""
    for _ in range(300):
        status = json.loads((await jp_fetch("tabwise", "status")).body)
        if not status["busy"] and status["state"] == "ready":
            return status  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"still busy: {status}")


async def wait_generating(jp_fetch: Any, path: str) -> None:
    """Until the engine is writing a completion for the notebook at `path` (not how fast: it writes until stopped)."""
    for _ in range(600):
        status = json.loads((await jp_fetch("tabwise", "status")).body)
        if generating(status["busy"], [(slot["sequence"], slot["tokens"]) for slot in status["kv_slots"]], path):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not generating: {status}")


async def send_complete(port: int, base_url: str, auth: str, body: dict[str, Any]) -> asyncio.StreamWriter:
    """POST a completion on a connection of the test's own, to close as a client that goes away does."""
    data = json.dumps(body).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {base_url}tabwise/complete HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    return writer


async def test_a_newer_completion_in_the_notebook_supersedes_the_older(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str
) -> None:
    await wait_idle(jp_fetch)
    older = asyncio.ensure_future(
        jp_fetch("tabwise", "complete", method="POST", body=json.dumps(AT_X), request_timeout=300)
    )
    await wait_generating(jp_fetch, AT_X["path"])
    auth = (await jp_fetch("api", "me")).request.headers["Authorization"]
    newer = await send_complete(jp_http_port, jp_base_url, auth, {**AT_X, "prefix": "y = "})
    answer = json.loads((await asyncio.wait_for(older, 120)).body)
    assert (answer["text"], answer["stop_reason"]) == ("", "cancelled"), answer
    newer.close()  # the newer one is generating now; a client that goes away ends it
    assert (await wait_idle(jp_fetch))["last_outcome"] == "cancelled"


async def test_a_completion_whose_client_goes_away_is_cancelled(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str
) -> None:
    await wait_idle(jp_fetch)
    auth = (await jp_fetch("api", "me")).request.headers["Authorization"]
    client = await send_complete(jp_http_port, jp_base_url, auth, AT_X)
    await wait_generating(jp_fetch, AT_X["path"])
    client.close()
    assert (await wait_idle(jp_fetch))["last_outcome"] == "cancelled"


AT_X = {"prefix": "x = ", "suffix": "", "path": "nb.ipynb", "language": "python"}


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
