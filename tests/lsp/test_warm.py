"""Getting ahead of the user: warm-up on open, and the debounce hint from the typing rhythm."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import FIM_SCRIPT
from tests.lsp.conftest import idle_status, inline_params, insert_text, open_document


@pytest.mark.asyncio
async def test_opening_a_file_warms_the_first_suggestion(client: LanguageClient) -> None:
    uri = "file:///work/big.py"
    body = "".join(f"value_{n} = {n} * {n}\n" for n in range(80)) + "def add(a, b):\n    return "
    open_document(client, uri, body)
    await idle_status(client)  # the warm-up ran (the model loads first)
    lines = body.split("\n")
    result = await client.text_document_inline_completion_async(inline_params(uri, len(lines) - 1, len(lines[-1])))
    assert result is not None and result.items[0].insert_text == FIM_SCRIPT.split("\n")[0]
    status = await idle_status(client)
    assert status.lastEvaluatedTokens <= 1, status  # without the warm-up: the whole prompt, 800+ tokens


@pytest.mark.asyncio
async def test_an_edit_somewhere_new_is_warmed_at_once_not_after_a_pause(client: LanguageClient) -> None:
    uri = "file:///work/long.py"
    lines = [f"value_{n} = {n} * {n}" for n in range(400)]  # far more than the budget: windows differ by place
    open_document(client, uri, "\n".join(lines) + "\n")
    await idle_status(client)  # the end of the file is warm
    typed = "total = "
    insert_text(client, uri, 2, 199, len(lines[199]), "\n")  # Enter at the end of line 199
    for column, char in enumerate(typed):  # typing without a pause: only the first edit there can warm
        await asyncio.sleep(0.1)
        insert_text(client, uri, column + 3, 200, column, char)
    result = await client.text_document_inline_completion_async(inline_params(uri, 200, len(typed)))
    assert result is not None and result.items
    status = await idle_status(client)
    assert status.lastEvaluatedTokens < 250, status  # what was typed and the suffix; unwarmed: ~1,000 tokens


@pytest.mark.asyncio
async def test_status_gives_a_debounce_hint_from_the_typing_rhythm(client: LanguageClient) -> None:
    uri = "file:///work/typed.py"
    open_document(client, uri, "")
    before = await idle_status(client)
    for column in range(12):  # a fast typist: a key every few milliseconds
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=column + 2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(0, column), types.Position(0, column)), text="x"
                    )
                ],
            )
        )
        await asyncio.sleep(0.005)
    after = await idle_status(client)
    assert before.debounceMs == 150 and after.debounceMs < before.debounceMs, (before, after)
