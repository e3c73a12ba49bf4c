"""The language server with its engine on a shared llama-server (real, on loopback, tiny scripted models):
suggestions, explanations, cancellation that stops the server, a server that goes away and comes back,
and a wrong key, each through a real LSP client over stdio."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import CHAT_SCRIPT, TinyModels
from tests.lsp.conftest import ENDLESS_OPTIONS, SERVER, idle_status, inline_params, open_document, start
from tests.servers import API_KEY, Server, decoding, endless_llama_server, llama_server, openai_server, wait_idle

pytestmark = pytest.mark.asyncio
URI = "file:///work/add.py"
TEXT = "def add(a, b):\n    return \n"


@pytest.fixture
def qwen_server(tiny_models: TinyModels, tmp_path: Path) -> Iterator[Server]:
    with llama_server(tiny_models.qwen, tmp_path) as server:
        yield server


@pytest.fixture
def endless_server(tiny_models: TinyModels, tmp_path: Path) -> Iterator[Server]:
    with endless_llama_server(tiny_models.endless, tmp_path) as server:
        yield server


def remote_options(server: Server, key_file: Path | None = None) -> dict[str, object]:
    return {"backend": "llama-server", "backendUrl": server.url, "apiKeyFile": str(key_file or server.key_file)}


@pytest_lsp.fixture(config=SERVER)
async def remote_client(lsp_client: LanguageClient, tiny_models: TinyModels, qwen_server: Server, tmp_path: Path):
    await start(lsp_client, tiny_models.qwen, tmp_path, **remote_options(qwen_server))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def openai_client(lsp_client: LanguageClient, tiny_models: TinyModels, tmp_path: Path):
    with openai_server(tiny_models.qwen, tmp_path) as server:
        options = {"backend": "openai", "backendUrl": server.url + "/v1", "apiKeyFile": str(server.key_file)}
        await start(lsp_client, tiny_models.qwen, tmp_path, **options)
        yield
        await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def endless_remote_client(
    lsp_client: LanguageClient, tiny_models: TinyModels, endless_server: Server, tmp_path: Path
):
    options = remote_options(endless_server)
    await start(lsp_client, tiny_models.endless, tmp_path, **{**ENDLESS_OPTIONS, **options})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def wrong_key_client(lsp_client: LanguageClient, tiny_models: TinyModels, qwen_server: Server, tmp_path: Path):
    wrong = tmp_path / "wrong-key"
    wrong.write_text("not-the-key\n")
    await start(lsp_client, tiny_models.qwen, tmp_path, **remote_options(qwen_server, wrong))
    yield
    await lsp_client.shutdown_session()


async def suggestion(client: LanguageClient, line: int, character: int) -> list[str]:
    answer = await client.text_document_inline_completion_async(inline_params(URI, line, character))
    assert answer is not None
    return [str(item.insert_text) for item in answer.items]


async def explanation(client: LanguageClient) -> object:
    """What tabwise.explain answers for the document's first two lines."""
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 11}}
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tabwise.explain", arguments=[URI, whole])
    )


def errors(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_a_suggestion_and_an_explanation(remote_client: LanguageClient, qwen_server: Server) -> None:
    open_document(remote_client, URI, TEXT)
    assert await suggestion(remote_client, 1, 11) == ["a + b"]
    assert await explanation(remote_client) == CHAT_SCRIPT
    status = await remote_client.protocol.send_request_async("tabwise/status", {})
    assert status.device == "llama-server" and status.server == qwen_server.url and status.model == "qwen"


async def test_an_openai_compatible_server(openai_client: LanguageClient) -> None:
    open_document(openai_client, URI, TEXT)
    assert await suggestion(openai_client, 1, 11) == ["a + b"]
    assert await explanation(openai_client) == CHAT_SCRIPT


async def test_cancel_stops_the_server(endless_remote_client: LanguageClient, endless_server: Server) -> None:
    open_document(endless_remote_client, URI, "x = \n")
    await idle_status(endless_remote_client)
    pending = endless_remote_client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(URI, 0, 4), msg_id="to-cancel"
    )
    for _ in range(300):  # until the server is writing " ok" (for as long as it is allowed: minutes)
        if decoding(endless_server):
            break
        await asyncio.sleep(0.05)
    assert decoding(endless_server)
    endless_remote_client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(pending), 30)
    await asyncio.to_thread(wait_idle, endless_server, 10)


async def test_a_server_that_goes_away_and_comes_back(remote_client: LanguageClient, qwen_server: Server) -> None:
    open_document(remote_client, URI, TEXT)
    assert await suggestion(remote_client, 1, 11) == ["a + b"]
    await asyncio.to_thread(qwen_server.stop)
    for column in (8, 9, 10):  # places the suggestion cache cannot answer
        assert await suggestion(remote_client, 1, column) == []  # empty, not an error
    told = errors(remote_client)
    assert len(told) == 1 and f"the inference server at {qwen_server.url} is unavailable" in told[0], told
    await asyncio.to_thread(qwen_server.restart)
    remote_client.text_document_did_change(  # a place the suggestion cache has never answered
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="def add(a, b):\n    total = \n")],
        )
    )
    for _ in range(100):
        await asyncio.sleep(0.2)  # the backoff window passes
        if await suggestion(remote_client, 1, 12) == ["a + b"]:
            break
    else:
        raise AssertionError("no suggestion after the server came back")
    assert len(errors(remote_client)) == 1  # told once


async def test_a_wrong_key(wrong_key_client: LanguageClient, qwen_server: Server) -> None:
    open_document(wrong_key_client, URI, TEXT)
    assert await suggestion(wrong_key_client, 1, 11) == []
    for _ in range(100):
        if errors(wrong_key_client):
            break
        await asyncio.sleep(0.05)
    told = errors(wrong_key_client)
    assert told and all("API key was refused" in m and qwen_server.url in m for m in told), told
    shown = [m.message for m in wrong_key_client.messages] + [m.message for m in wrong_key_client.log_messages]
    assert not any("not-the-key" in m or API_KEY in m for m in shown)
