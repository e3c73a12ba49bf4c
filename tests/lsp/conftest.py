"""A real LSP client (pytest-lsp) over stdio against `python -m lsp_server` on tiny real GGUFs.

The server starts the tabwise service on demand; every test has its own (a private runtime directory),
stopped after the test.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import ENDLESS, ENDLESS_WINDOW, TinyModels, generating
from tests.processes import private_service_env

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "lsp_server"])


@pytest.fixture(autouse=True)
def service_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own tabwise service: the server (a child, it inherits the environment) starts it there."""
    with private_service_env(monkeypatch) as runtime:
        yield runtime


async def start(client: LanguageClient, model: Path, root: Path, **options: object) -> None:
    """Initialize as VS Code does, with the model and one thread (a busy 2-core machine)."""
    client.initialize_result = await client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="work")],
            initialization_options={"modelPath": str(model), "threads": 1, **options},
        )
    )


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tiny_models: TinyModels, tmp_path: Path):
    await start(lsp_client, tiny_models.qwen, tmp_path)
    yield
    await lsp_client.shutdown_session()


# The endless model writes until it is stopped (tests.conftest.ENDLESS).
ENDLESS_OPTIONS = {"timeBudgetMs": 600_000, "maxTokens": ENDLESS, "contextWindow": ENDLESS_WINDOW}


@pytest_lsp.fixture(config=SERVER)
async def endless_client(lsp_client: LanguageClient, tiny_models: TinyModels, tmp_path: Path):
    await start(lsp_client, tiny_models.endless, tmp_path, **ENDLESS_OPTIONS)
    yield
    await lsp_client.shutdown_session()


def open_document(client: LanguageClient, uri: str, text: str, language: str = "python") -> None:
    """textDocument/didOpen."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text))
    )


def insert_text(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    """textDocument/didChange inserting `text` at a position (a key, or a suggestion accepted with Tab)."""
    at = types.Position(line, character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)],
        )
    )


def inline_params(uri: str, line: int, character: int, **context: object) -> types.InlineCompletionParams:
    """An automatic inline completion request, as VS Code sends while typing."""
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic,
            **context,  # type: ignore[arg-type]
        ),
    )


async def idle_status(client: LanguageClient) -> Any:
    """The server's status once the model is loaded and nothing runs or waits."""
    for _ in range(600):
        status = await client.protocol.send_request_async("tabwise/status", {})
        if status.state == "ready" and not status.busy and not status.queued:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"never idle: {status}")


async def writing(client: LanguageClient, uri: str) -> None:
    """Until the engine is writing a completion for `uri` (not how fast: it writes until stopped)."""
    for _ in range(600):
        status = await client.protocol.send_request_async("tabwise/status", {})
        if generating(status.busy, [(slot.sequence, slot.tokens) for slot in status.kvSlots], uri):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not writing for {uri}: {status}")
