"""textDocument/completion: the fallback for editors without inline completion."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import FIM_SCRIPT
from tests.lsp.conftest import open_document

pytestmark = pytest.mark.asyncio


async def test_suggestion_as_one_item(client: LanguageClient) -> None:
    open_document(client, "file:///work/top.py", "x = 1\n")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///work/top.py"), position=types.Position(1, 0)
        )
    )
    assert isinstance(result, types.CompletionList) and len(result.items) == 1
    item = result.items[0]
    assert item.insert_text == FIM_SCRIPT  # the whole block
    assert item.label == FIM_SCRIPT.split("\n")[0]  # its first line as the label
    assert result.is_incomplete


async def test_disabled_language_gets_nothing(client: LanguageClient) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tabwise": {"disabledLanguages": ["python"]}})
    )
    open_document(client, "file:///work/off.py", "x = 1\n")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///work/off.py"), position=types.Position(1, 0)
        )
    )
    assert isinstance(result, types.CompletionList) and not result.items
