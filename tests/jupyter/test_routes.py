"""The server extension's routes on a real Jupyter server: authentication, answers, bad bodies."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler, websocket_connect

from jupyter_ext.extension import ROUTES
from tests.conftest import CHAT_SCRIPT, FIM_SCRIPT


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines() if line]


def served_methods(handler: type) -> list[str]:
    """The HTTP methods a handler defines (the others answer 405 before any authentication)."""
    return [method for method in ("get", "post") if getattr(handler, method) is not getattr(RequestHandler, method)]


@pytest.mark.parametrize(("route", "handler"), ROUTES)
async def test_every_route_requires_authentication(
    route: str, handler: type, http_server_client: Any, jp_http_port: int, jp_base_url: str
) -> None:
    path = f"{jp_base_url.rstrip('/')}{route}"
    methods = served_methods(handler)
    assert methods
    for method in methods:
        body = b"{}" if method == "post" else None
        response = await http_server_client.fetch(path, method=method.upper(), body=body, raise_error=False)
        assert response.code == 403, (method, response.code)
    if issubclass(handler, WebSocketHandler):
        with pytest.raises(HTTPClientError) as refused:
            await websocket_connect(f"ws://127.0.0.1:{jp_http_port}{path}")
        assert refused.value.code == 403


async def test_status_from_the_service_which_preloads_the_model(jp_fetch: Any) -> None:
    for _ in range(300):  # preload: the model loads in the service with no request for it
        status = json.loads((await jp_fetch("tabwise", "status")).body)
        if status["state"] == "ready":
            break
        assert status["state"] in ("unloaded", "loading"), status
        await asyncio.sleep(0.1)
    assert status["state"] == "ready" and status["model"], status
    assert set(status) >= {"model", "device", "queued", "busy"}
    assert status["service"]["pid"] != os.getpid() and status["service"]["models_loaded"] == 1


async def test_complete(jp_fetch: Any) -> None:
    body = {"prefix": "def add(a, b):\n    return ", "suffix": "\n", "language": "python"}
    response = await jp_fetch("tabwise", "complete", method="POST", body=json.dumps(body))
    assert json.loads(response.body)["text"] == FIM_SCRIPT.split("\n")[0]


async def test_complete_with_notebook_cells(jp_fetch: Any) -> None:
    cells = [{"kind": "markdown", "text": "# Sums"}, {"kind": "code", "text": "def add(a, b):\n    return "}]
    body = {"prefix": "def add(a, b):\n    return ", "suffix": "", "cells": cells, "cell_index": 1}
    response = await jp_fetch("tabwise", "complete", method="POST", body=json.dumps(body))
    assert json.loads(response.body)["text"] == FIM_SCRIPT.split("\n")[0]


async def test_ask_streams_tokens_then_done(jp_fetch: Any) -> None:
    response = await jp_fetch("tabwise", "ask", method="POST", body=json.dumps({"question": "What does it do?"}))
    assert response.headers["Content-Type"] == "application/x-ndjson"
    messages = lines(response.body)
    tokens = [m for m in messages if m["type"] == "token"]
    assert len(tokens) > 1 and all(m["kind"] == "answer" for m in tokens)
    assert messages[-1]["type"] == "done" and messages[-1]["answer"] == CHAT_SCRIPT
    assert "".join(m["text"] for m in tokens).strip() == CHAT_SCRIPT


async def test_explain_streams(jp_fetch: Any) -> None:
    body = json.dumps({"code": "def add(a, b):\n    return a + b\n"})
    messages = lines((await jp_fetch("tabwise", "explain", method="POST", body=body)).body)
    assert messages[-1] == {"type": "done", "answer": CHAT_SCRIPT, "reasoning": "", "stop_reason": "end"}


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("complete", b"not json", "not valid JSON"),
        ("complete", b"[1, 2]", "JSON object"),
        ("complete", b"{}", "missing field 'prefix'"),
        ("complete", b'{"prefix": 3}', "'prefix' must be a string"),
        ("complete", b'{"prefix": "x", "cells": [{"text": "a"}], "cell_index": 4}', "cell_index 4"),
        ("ask", b'{"question": ""}', "empty"),
        ("ask", b'{"question": ["a"]}', "must be a string"),
        ("explain", b'{"code": "  "}', "empty"),
        ("complete", b'{"prefix": "' + b"x" * 2_100_000 + b'"}', "too large"),
        ("cancel", b"{}", "missing field 'id'"),
    ],
)
async def test_bad_bodies_get_400(jp_fetch: Any, route: str, body: bytes, message: str) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("tabwise", route, method="POST", body=body)
    assert refused.value.code == 400
    assert message in json.loads(refused.value.response.body)["message"]


LONE = "\ud800"  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
NOTEBOOK = {"prefix": "x", "cells": [{"kind": "code", "text": "a"}], "cell_index": 0}
GOOD_BODIES = {
    "complete": {"prefix": "def add(a, b):\n    return ", "suffix": "\n"},
    "ask": {"question": "What does it do?"},
    "explain": {"code": "def add(a, b):\n    return a + b\n"},
    "cancel": {"id": "no-such-stream"},
}


def with_field(route: str, name: str, value: Any) -> bytes:
    """The route's good body with one field replaced (dumped with JSON escapes, as a client sends it)."""
    return json.dumps({**GOOD_BODIES[route], name: value}).encode()


def notebook_with(**cell: Any) -> bytes:
    return json.dumps({**NOTEBOOK, "cells": [{**NOTEBOOK["cells"][0], **cell}]}).encode()


BAD_ON_EVERY_ROUTE = [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"a": ' * 100_000, "nested too deeply"),
    (b'{"id": "\xff\xfe"}', "not valid JSON"),  # bytes that are not UTF-8
    (b'{"id": ' + b"9" * 5000 + b"}", "not valid JSON"),  # over Python's 4,300 digits for an int
]
BAD_FIELDS = [
    *[
        ("complete", with_field("complete", name, LONE), f"{name!r} is not valid Unicode")
        for name in ("prefix", "suffix", "path", "language")
    ],
    ("complete", notebook_with(text=LONE), "cell 0: field 'text' is not valid Unicode"),
    ("complete", notebook_with(kind="code" + LONE), "cell 0: field 'kind' is not valid Unicode"),
    ("complete", json.dumps({**NOTEBOOK, "cell_index": 2**70}).encode(), "'cell_index' is out of range"),
    ("complete", json.dumps({**NOTEBOOK, "cell_index": -(2**70)}).encode(), "'cell_index' is out of range"),
    ("complete", json.dumps(NOTEBOOK).replace('"cell_index": 0', '"cell_index": 1e999').encode(), "not float"),
    ("complete", json.dumps(NOTEBOOK).replace('"cell_index": 0', '"cell_index": NaN').encode(), "not float"),
    ("complete", with_field("complete", "prefix", float("nan")), "'prefix' must be a string"),
    *[
        ("ask", with_field("ask", name, "a" + LONE), f"{name!r} is not valid Unicode")
        for name in ("question", "context", "id")
    ],
    *[
        ("explain", with_field("explain", name, LONE), f"{name!r} is not valid Unicode")
        for name in ("code", "language", "path", "id")
    ],
    ("cancel", with_field("cancel", "id", LONE), "'id' is not valid Unicode"),
    ("cancel", with_field("cancel", "id", float("inf")), "'id' must be a string"),
]


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [(route, body, message) for route in GOOD_BODIES for body, message in BAD_ON_EVERY_ROUTE] + BAD_FIELDS,
)
async def test_malformed_bodies_get_400_and_the_route_goes_on(
    jp_fetch: Any, route: str, body: bytes, message: str
) -> None:
    """Bodies the parser or an encoder chokes on (depth, encoding, surrogates, numbers) are refused, not 500."""
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("tabwise", route, method="POST", body=body)
    assert refused.value.code == 400
    assert message in json.loads(refused.value.response.body)["message"]
    response = await jp_fetch("tabwise", route, method="POST", body=json.dumps(GOOD_BODIES[route]))
    assert response.code == 200


async def test_inline_websocket(jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch("tabwise", "inline")
    request = {"number": 1, "prefix": "def add(a, b):\n    return ", "suffix": "", "language": "python"}
    await ws.write_message(json.dumps(request))
    reply = json.loads(await ws.read_message())
    assert reply["type"] == "inline_completion" and reply["reply_to"] == 1
    assert reply["list"]["items"][0]["insertText"] == FIM_SCRIPT.split("\n")[0]
    await ws.write_message(json.dumps({**request, "number": 2, "stream": True}))
    first, last = json.loads(await ws.read_message()), json.loads(await ws.read_message())
    assert first["list"]["items"][0]["isIncomplete"] and first["reply_to"] == 2
    assert last == {
        "type": "stream",
        "reply_to": 2,
        "done": True,
        "response": {"insertText": FIM_SCRIPT.split("\n")[0], "isIncomplete": False, "token": "2"},
    }
    await ws.write_message("{not json")
    error = json.loads(await ws.read_message())
    assert "not valid JSON" in error["error"]["title"]
    ws.close()


async def test_moving_to_a_cell_warms_its_prompt_before_the_first_request(jp_ws_fetch: Any, jp_fetch: Any) -> None:
    """JupyterLab sends `warm` when the user moves to a cell: the engine evaluates the notebook's prompt there
    ahead (no reply), so the first request in that cell evaluates only a few new tokens."""
    above = "".join(f"reading_{n} = {n} * 3\n" for n in range(80))
    cell = "def add(a, b):\n    return "
    place = {"prefix": cell, "suffix": "", "language": "python", "path": "nb.ipynb", "cell_index": 1}
    place["cells"] = [{"kind": "code", "text": above}, {"kind": "code", "text": cell}]
    ws = await jp_ws_fetch("tabwise", "inline")
    await ws.write_message(json.dumps({"type": "warm", "number": 1, **place}))

    async def warmed() -> bool:
        """The warm-up filled this connection's KV cache and is over (it runs in batches; a request would
        preempt it)."""
        status = json.loads((await jp_fetch("tabwise", "status")).body)
        held = [s["tokens"] for s in status["kv_slots"] if s["sequence"].startswith("jupyter-ws-")]
        return max(held or [0]) > 500 and not status["busy"] and not status["queued"]

    for _ in range(600):  # the warm-up runs once the model is idle
        if await warmed():
            break
        await asyncio.sleep(0.1)
    assert await warmed()
    await ws.write_message(json.dumps({"number": 2, **place}))
    reply = json.loads(await ws.read_message())
    assert reply["reply_to"] == 2  # the warm-up got no reply of its own
    assert reply["list"]["items"][0]["insertText"] == FIM_SCRIPT.split("\n")[0]
    status = json.loads((await jp_fetch("tabwise", "status")).body)
    assert status["last_evaluated_tokens"] < 8, status  # not the ~800 tokens of the notebook
    ws.close()


async def test_inline_websocket_answers_malformed_messages(jp_ws_fetch: Any) -> None:
    """A bad message gets an error (for its request, when its number can be read); the socket goes on."""
    ws = await jp_ws_fetch("tabwise", "inline")
    request = {"number": 1, "prefix": "def add(a, b):\n    return ", "suffix": "", "language": "python"}
    bad: list[tuple[str | bytes, int, str]] = [
        ("[" * 100_000, -1, "nested too deeply"),
        (b'{"number": 3, "prefix": "\xff"}', -1, "not valid JSON"),
        (json.dumps({"number": 2**70, "prefix": "x"}), -1, "'number' is out of range"),
        ('{"number": 1e999, "prefix": "x"}', -1, "'number' must be an integer"),
        ('{"number": NaN, "prefix": "x"}', -1, "'number' must be an integer"),
        (json.dumps({**request, "number": 5, "prefix": LONE}), 5, "'prefix' is not valid Unicode"),
        (json.dumps({**request, "number": 6, "suffix": LONE}), 6, "'suffix' is not valid Unicode"),
        (json.dumps({**request, "number": 7, "stream": True, "path": LONE}), 7, "'path' is not valid Unicode"),
    ]
    for message, number, reason in bad:
        await ws.write_message(message, binary=isinstance(message, bytes))
        reply = json.loads(await asyncio.wait_for(ws.read_message(), 30))  # a dead socket fails, not hangs
        assert reply["type"] == "inline_completion" and reply["reply_to"] == number, message[:40]
        assert reason in reply["error"]["title"]
    await ws.write_message(json.dumps(request))
    reply = json.loads(await asyncio.wait_for(ws.read_message(), 30))
    assert reply["reply_to"] == 1 and reply["list"]["items"][0]["insertText"] == FIM_SCRIPT.split("\n")[0]
    ws.close()
