"""`tabwise lsp --tcp`: loopback only, and only a client that presents the token from the user's runtime
directory is served. The server runs as a real process; clients are raw sockets speaking LSP framing (the
hostile ones) and pygls's LanguageClient over TCP (the user's editor)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from lsp_server.tcp import AddressError, parse_address
from tests.conftest import FIM_SCRIPT, TinyModels
from tests.lsp.conftest import inline_params
from tests.processes import free_port, running

START_S = 60.0  # a busy machine starts Python and pygls in seconds; this only bounds a hung start
URI = "file:///work/calc.py"
TEXT = "def add(a, b):\n    return \n"


@contextmanager
def tcp_server(runtime: Path, stderr: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """`python -m lsp_server --tcp 127.0.0.1:PORT`, once it listens: the process, its port, its token file."""
    port = free_port()
    token_file = runtime / f"lsp-{port}.token"
    with (
        stderr.open("wb") as log,
        running([sys.executable, "-m", "lsp_server", "--tcp", f"127.0.0.1:{port}"], stderr=log) as process,
    ):
        deadline = time.monotonic() + START_S
        while not token_file.exists():
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, "the server wrote no token file"
            time.sleep(0.05)
        yield process, port, token_file


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def exchange(port: int, message: dict[str, Any] | bytes) -> list[dict[str, Any]]:
    """Send one message (or bytes) on a new connection; every message the server sends until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=START_S) as sock:
        sock.sendall(message if isinstance(message, bytes) else frame(message))
        data = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b"" (a timeout would raise)
            data += chunk
    answers = []
    while data:
        header, _, rest = data.partition(b"\r\n\r\n")
        length = int(header.split(b":")[1])
        answers.append(json.loads(rest[:length]))
        data = rest[length:]
    return answers


def initialize(request_id: int, root: str, options: dict[str, Any]) -> dict[str, Any]:
    params = {"processId": None, "rootUri": root, "capabilities": {}, "initializationOptions": options}
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


async def connect(port: int, root: Path, options: dict[str, Any]) -> LanguageClient:
    """The user's editor: a real LSP client over TCP, initialized."""
    client = LanguageClient("test-editor", "1")
    await client.start_tcp("127.0.0.1", port)
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=root.as_uri(), initialization_options=options
    )
    await asyncio.wait_for(client.initialize_async(params), START_S)
    client.initialized(types.InitializedParams())
    return client


async def leave(client: LanguageClient) -> None:
    await asyncio.wait_for(client.shutdown_async(None), START_S)
    client.exit(None)
    await client.stop()


@pytest.mark.asyncio
async def test_only_the_client_with_the_token_reaches_the_engine(
    tiny_models: TinyModels, service_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "api-key"
    secret.write_text("sk-the-users-own-key\n")
    with socket.socket() as trap, tcp_server(service_dir, tmp_path / "stderr") as (process, port, token_file):
        trap.bind(("127.0.0.1", 0))  # another user's "inference server": tabwise must never connect to it
        trap.listen(8)
        hostile = {
            "backend": "openai",
            "backendUrl": f"http://127.0.0.1:{trap.getsockname()[1]}/v1",
            "apiKeyFile": str(secret),
            "preload": True,
        }
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600
        editor = await connect(port, tmp_path, {"token": token, "modelPath": str(tiny_models.qwen), "threads": 1})

        # Another user connects while the editor works: every way in is refused and the connection closed.
        configure = {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": hostile}}
        [answer] = exchange(port, configure)
        assert answer["id"] is None and answer["error"]["code"] == types.ErrorCodes.ServerNotInitialized
        assert str(token_file) in answer["error"]["message"]
        for request_id, options in [(7, {**hostile, "token": "guessed"}), (8, hostile)]:
            [answer] = exchange(port, initialize(request_id, "file:///", options))
            assert answer["id"] == request_id and answer["error"]["code"] == types.LSPErrorCodes.RequestFailed
            assert "token" in answer["error"]["message"] and token not in answer["error"]["message"]

        # The editor's session is untouched: its settings, its model, its answers.
        editor.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=URI, language_id="python", version=1, text=TEXT))
        )
        result = await asyncio.wait_for(editor.text_document_inline_completion_async(inline_params(URI, 1, 11)), 120)
        assert result is not None and [item.insert_text for item in result.items] == [FIM_SCRIPT.split("\n")[0]]
        trap.setblocking(False)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nothing connected: the key file was never sent anywhere

        await leave(editor)
        assert process.wait(timeout=START_S) == 0  # its one client left: the server ends, its token with it
        assert not token_file.exists()
    assert token not in (tmp_path / "stderr").read_text()


@pytest.mark.asyncio
async def test_a_second_client_is_refused_while_one_is_connected(
    tiny_models: TinyModels, service_dir: Path, tmp_path: Path
) -> None:
    with tcp_server(service_dir, tmp_path / "stderr") as (_, port, token_file):
        token = token_file.read_text().strip()
        options = {"token": token, "modelPath": str(tiny_models.qwen), "threads": 1, "preload": False}
        editor = await connect(port, tmp_path, options)
        [answer] = exchange(port, initialize(1, tmp_path.as_uri(), {**options, "modelPath": "/elsewhere.gguf"}))
        assert answer["id"] == 1 and "another client is connected" in answer["error"]["message"]
        garbage = [
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            b"Content-Length: 100000000\r\n\r\n",
            b"Content-Length: 200000\r\n\r\n" + b"[" * 200_000,
            b"X" * 100_000 + b"\r\n",
        ]
        for data in garbage:
            [answer] = exchange(port, data)
            assert answer["id"] is None and "no LSP message" in answer["error"]["message"]
        status = await asyncio.wait_for(editor.protocol.send_request_async("tabwise/status", {}), START_S)
        assert status.state in ("starting", "unloaded", "loading", "ready")  # the first client is still served
        await leave(editor)


def test_a_non_loopback_address_needs_allow_remote(service_dir: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "lsp_server", "--tcp", f"0.0.0.0:{port}"], capture_output=True, timeout=START_S
    )
    assert done.returncode == 2
    assert b"0.0.0.0 is not a loopback address" in done.stderr and b"--allow-remote" in done.stderr


@pytest.mark.parametrize(
    ("text", "allow_remote", "expected"),
    [
        ("127.0.0.1:2087", False, ("127.0.0.1", 2087)),
        (":2087", False, ("127.0.0.1", 2087)),
        ("[::1]:2087", False, ("::1", 2087)),
        ("localhost:2087", False, ("localhost", 2087)),
        ("0.0.0.0:2087", True, ("0.0.0.0", 2087)),
        ("example.org:2087", True, ("example.org", 2087)),
    ],
)
def test_addresses(text: str, allow_remote: bool, expected: tuple[str, int]) -> None:
    assert parse_address(text, allow_remote) == expected


@pytest.mark.parametrize("text", ["0.0.0.0:2087", "[::]:2087", "192.168.1.4:2087", "example.org:2087", "host:x"])
def test_refused_addresses(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text, allow_remote=False)
