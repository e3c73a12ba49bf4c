"""Bad input gets a proper LSP error or an empty result, and the server keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import FIM_SCRIPT
from tests.lsp.conftest import SERVER, inline_params, open_document, start

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("uri", "text", "line", "character", "message"),
    [
        ("file:///work/never-opened.py", None, 0, 0, "is not open"),
        ("file:///work/a.py", "x = 1\n", 9, 0, "line 9 is outside"),
        ("file:///work/a.py", "x = 1\n", 0, 99, "character 99 is outside"),
        ("file:///work/blob.py", "\x00\x01binary", 0, 1, "looks binary"),
    ],
)
async def test_bad_requests_are_errors_and_the_server_goes_on(
    client: LanguageClient, uri: str, text: str | None, line: int, character: int, message: str
) -> None:
    if text is not None:
        open_document(client, uri, text)
    with pytest.raises(JsonRpcException, match=message):
        await client.text_document_inline_completion_async(inline_params(uri, line, character))
    open_document(client, "file:///work/ok.py", "def f():\n    return \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///work/ok.py", 1, 11))
    assert result is not None and result.items[0].insert_text == FIM_SCRIPT.split("\n")[0]


async def test_malformed_explain_arguments(client: LanguageClient) -> None:
    open_document(client, "file:///work/a.py", "x = 1\n")
    for arguments in (["file:///work/a.py"], ["file:///work/a.py", {"start": 3}], [5, 6]):
        with pytest.raises(JsonRpcException):
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="tabwise.explain", arguments=arguments)
            )


async def test_huge_document_is_refused_with_an_empty_answer(client: LanguageClient) -> None:
    open_document(client, "file:///work/huge.py", "x = 1\n" * 400_000)
    result = await client.text_document_inline_completion_async(inline_params("file:///work/huge.py", 400_000, 0))
    assert result is not None and not result.items
    assert any("too large" in m.message for m in client.messages)


async def test_bad_settings_are_reported_and_ignored(client: LanguageClient) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tabwise": {"maxTokens": "many", "contextTokens": -5}})
    )
    open_document(client, "file:///work/ok.py", "def f():\n    return \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///work/ok.py", 1, 11))
    assert result is not None and result.items  # the old settings hold
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("maxTokens" in w for w in warnings) and any("contextTokens" in w for w in warnings)


@pytest_lsp.fixture(config=SERVER)
async def no_model_client(lsp_client: LanguageClient, tmp_path: Path):
    await start(lsp_client, tmp_path / "missing.gguf", tmp_path)
    yield
    await lsp_client.shutdown_session()


async def test_missing_model_is_told_once_not_per_keystroke(no_model_client: LanguageClient) -> None:
    open_document(no_model_client, "file:///work/a.py", "x = 1\n")
    for _ in range(3):
        result = await no_model_client.text_document_inline_completion_async(inline_params("file:///work/a.py", 1, 0))
        assert result is not None and not result.items
    errors = [m.message for m in no_model_client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and "no model file" in errors[0] and "tabwise model fetch" in errors[0]
