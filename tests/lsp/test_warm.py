"""Warm-up: opening a file evaluates its prompt ahead, so the first suggestion re-evaluates almost nothing."""

from __future__ import annotations

import pytest
from pytest_lsp import LanguageClient

from tests.conftest import FIM_SCRIPT
from tests.lsp.conftest import idle_status, inline_params, open_document


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
