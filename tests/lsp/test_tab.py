"""Tab on ghost text: the time budget limits what is shown, and the rest comes from the same generation."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from tests.conftest import TinyModels
from tests.lsp.conftest import SERVER, inline_params, insert_text, open_document, start

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(config=SERVER)
async def hasty_client(lsp_client: LanguageClient, tiny_models: TinyModels, tmp_path: Path):
    await start(lsp_client, tiny_models.qwen, tmp_path, timeBudgetMs=1)  # spent at once
    yield
    await lsp_client.shutdown_session()


async def test_tab_gets_the_rest_of_a_suggestion_the_budget_cut(hasty_client: LanguageClient) -> None:
    uri = "file:///work/script.py"
    open_document(hasty_client, uri, "y = 2\n")
    shown = await hasty_client.text_document_inline_completion_async(inline_params(uri, 1, 0))
    assert shown is not None and [item.insert_text for item in shown.items] == ["a + b"]  # the line that stands
    insert_text(hasty_client, uri, 2, 1, 0, "a + b")  # Tab: the editor inserts the suggestion
    rest = await hasty_client.text_document_inline_completion_async(inline_params(uri, 1, 5))
    assert rest is not None and len(rest.items) == 1
    # The rest of that generation (and, run on into it, what was prepared for after it: speculation).
    assert str(rest.items[0].insert_text).startswith("\n\nprint(add(1, 2))")
    status = await hasty_client.protocol.send_request_async("tabwise/status", {})
    assert status.lastEvaluatedTokens == 0  # no generation of its own: the rest was written on
