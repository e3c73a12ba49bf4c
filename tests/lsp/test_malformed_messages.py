"""Every JSON-RPC request gets an answer, however malformed, and the server goes on serving.

An independent client: raw Content-Length frames over the server's stdio, no LSP library (pytest-lsp
would refuse to send most of these), every read bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import FIM_SCRIPT, TinyModels

pytestmark = pytest.mark.asyncio

URI = "file:///work/ok.py"
READ_TIMEOUT_S = 30  # per batch of answers; the tiny model loads in well under a second
GOOD_POSITION = {"line": 1, "character": 11}
# Each method's valid params, with the path of the position that the bad-position cases break.
VALID = {
    "textDocument/inlineCompletion": (
        {"textDocument": {"uri": URI}, "position": GOOD_POSITION, "context": {"triggerKind": 2}},
        "params.position",
    ),
    "textDocument/completion": ({"textDocument": {"uri": URI}, "position": GOOD_POSITION}, "params.position"),
    "textDocument/codeAction": (
        {
            "textDocument": {"uri": URI},
            "range": {"start": GOOD_POSITION, "end": GOOD_POSITION},
            "context": {"diagnostics": []},
        },
        "params.range.start",
    ),
}


class RawClient:
    """JSON-RPC over a subprocess's pipes, framed by hand."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.writer = process.stdin
        self.reader = process.stdout

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_body(json.dumps(message).encode())

    async def send_body(self, body: bytes) -> None:
        """One frame: a valid Content-Length header and `body`, JSON or not."""
        self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.writer.drain()

    async def receive(self) -> dict[str, Any]:
        """The next message from the server."""
        length = None
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        assert length is not None, "the server closed its output"
        return json.loads(await self.reader.readexactly(length))

    async def answers(self, ids: set[int | None], timeout_s: float = READ_TIMEOUT_S) -> dict[int | None, dict]:
        """The responses to `ids` (None: one response with id null), answering the server's own requests."""
        found: dict[int | None, dict] = {}

        async def collect() -> None:
            while not ids <= found.keys():
                message = await self.receive()
                if "method" not in message:
                    found[message["id"]] = message
                elif "id" in message:  # e.g. a progress token: accept it
                    await self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

        try:
            await asyncio.wait_for(collect(), timeout_s)
        except TimeoutError:
            pytest.fail(f"no answer within {timeout_s} s to requests {sorted(ids - found.keys(), key=str)}")
        return found

    async def request(self, method: str, params: Any, request_id: int, **extra: Any) -> dict[str, Any]:
        """Send one request and wait for its answer."""
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params, **extra})
        return (await self.answers({request_id}))[request_id]


@pytest_asyncio.fixture
async def raw(tiny_models: TinyModels, tmp_path: Path) -> AsyncIterator[RawClient]:
    """The real server on the tiny model, initialized, with one document open."""
    with (tmp_path / "server.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lsp_server",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        client = RawClient(process)
        try:
            options = {"modelPath": str(tiny_models.qwen), "threads": 1}
            init = {
                "processId": None,
                "rootUri": tmp_path.as_uri(),
                "capabilities": {},
                "initializationOptions": options,
            }
            assert "result" in await client.request("initialize", init, 0)
            await client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            document = {"uri": URI, "languageId": "python", "version": 1, "text": "def f():\n    return \n"}
            await client.send(
                {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": document}}
            )
            yield client
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


def bad_requests() -> list[tuple[str, Any, str]]:
    """(method, params, what the error must name): the kinds of bad params the issue measured, 30 requests."""
    cases = []
    for method, (valid, position) in VALID.items():
        field = ".".join(position.split(".")[:2])  # params.position, params.range
        for params, named in [
            (None, "params: expected"),
            (1, "params: expected"),
            ("x", "params.textDocument"),
            ([], "params.textDocument"),
            ({"textDocument": 5}, "params.textDocument"),
            ({"textDocument": {"uri": URI}}, f"{field}: missing"),
        ]:
            cases.append((method, params, named))
        for change, named in [
            ({"line": -1}, "line"),
            ({"character": "x"}, "character"),
            ({"line": 2**31}, "line"),
            ({"line": 2**70}, "line"),
        ]:
            params = json.loads(json.dumps(valid))  # a deep copy
            *parents, last = position.split(".")[1:]
            target = params
            for key in parents:
                target = target[key]
            target[last] = {**target[last], **change}
            cases.append((method, params, f"{position}.{named}"))
    return cases


async def test_every_bad_request_is_answered_with_invalid_params(raw: RawClient) -> None:
    cases = bad_requests()
    for request_id, (method, params, _) in enumerate(cases, start=1):
        await raw.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    answers = await raw.answers(set(range(1, len(cases) + 1)))
    for request_id, (method, params, named) in enumerate(cases, start=1):
        error = answers[request_id].get("error")
        assert error is not None, (method, params, answers[request_id])
        assert error["code"] == -32602 and named in error["message"], (method, params, error)

    result = await raw.request("textDocument/inlineCompletion", VALID["textDocument/inlineCompletion"][0], 100)
    assert result["result"]["items"][0]["insertText"] == FIM_SCRIPT.split("\n")[0]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "tabwise/status", "params": "\xff"}', -32700),  # not UTF-8
        (b"[1, 2]", -32600),  # JSON, but not a JSON-RPC message
        (b'{"id": 7, "method": "tabwise/status"}', -32600),
    ],
)
async def test_an_unreadable_body_is_answered_with_id_null(raw: RawClient, body: bytes, code: int) -> None:
    await raw.send_body(body)
    answer = (await raw.answers({None}))[None]
    assert answer["error"]["code"] == code and answer["id"] is None, answer
    status = await raw.request("tabwise/status", {}, 1)
    assert "state" in status["result"]


async def test_other_requests_with_odd_params_still_answer(raw: RawClient) -> None:
    for request_id, params in enumerate([None, 1, "x", [], {"x": {"y": [1]}}], start=1):
        answer = await raw.request("tabwise/status", params, request_id)
        assert "state" in answer["result"], answer
    await raw.send({"jsonrpc": "2.0", "id": 10, "method": "tabwise/status"})  # JSON-RPC: params may be omitted
    assert "state" in (await raw.answers({10}))[10]["result"]

    explain = "workspace/executeCommand"
    answer = await raw.request(explain, None, 11)
    assert answer["error"]["code"] == -32602 and "params" in answer["error"]["message"], answer
    answer = await raw.request(explain, {"command": "tabwise.explain", "arguments": [URI, {"start": 3}]}, 12)
    assert "error" in answer, answer
    answer = await raw.request(explain, {"command": "tabwise.explain", "arguments": "x"}, 13)
    assert "error" in answer, answer
    answer = await raw.request("tabwise/status", {}, 14, jsonrpc="1.0")
    assert answer["error"]["code"] == -32600 and "jsonrpc" in answer["error"]["message"], answer


async def test_requests_after_shutdown_are_refused(raw: RawClient) -> None:
    assert (await raw.request("shutdown", None, 1))["result"] is None
    answer = await raw.request("textDocument/inlineCompletion", VALID["textDocument/inlineCompletion"][0], 2)
    assert answer["error"]["code"] == -32600, answer  # LSP: InvalidRequest after shutdown
    await raw.send({"jsonrpc": "2.0", "method": "exit"})
    assert await asyncio.wait_for(raw.process.wait(), READ_TIMEOUT_S) == 0
