"""textDocument/inlineCompletion: VS Code's ghost text."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import FIM_SCRIPT
from tests.lsp.conftest import inline_params, insert_text, open_document

pytestmark = pytest.mark.asyncio


async def test_capability_is_advertised(client: LanguageClient) -> None:
    capabilities = client.initialize_result.capabilities  # type: ignore[attr-defined]
    assert capabilities.inline_completion_provider is not None
    assert capabilities.completion_provider is not None
    assert capabilities.code_action_provider is not None
    assert list(capabilities.execute_command_provider.commands) == ["tabwise.explain"]
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental


async def test_ghost_text_at_the_cursor(client: LanguageClient) -> None:
    open_document(client, "file:///work/calc.py", "def add(a, b):\n    return \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///work/calc.py", 1, 11))
    assert result is not None and len(result.items) == 1
    item = result.items[0]
    assert item.insert_text == FIM_SCRIPT.split("\n")[0]
    assert item.range == types.Range(types.Position(1, 11), types.Position(1, 11))


async def test_edits_are_followed_incrementally(client: LanguageClient) -> None:
    uri = "file:///work/calc.py"
    open_document(client, uri, "x = 1\n")
    insert_text(client, uri, 2, 1, 0, "total = compute(")
    # After the edit the cursor sits before nothing: a completion is asked for and answered.
    result = await client.text_document_inline_completion_async(inline_params(uri, 1, 16))
    assert result is not None and result.items
    # Text after the cursor that is not a closing bracket: nothing fits, nothing is offered.
    result = await client.text_document_inline_completion_async(inline_params(uri, 0, 2))
    assert result is not None and not result.items


async def test_selected_completion_item_is_honoured(client: LanguageClient) -> None:
    uri = "file:///work/sel.py"
    open_document(client, uri, "import os\nos.pa\n")
    selected = types.SelectedCompletionInfo(range=types.Range(types.Position(1, 3), types.Position(1, 5)), text="path")
    result = await client.text_document_inline_completion_async(
        inline_params(uri, 1, 5, selected_completion_info=selected)
    )
    assert result is not None and len(result.items) == 1
    assert result.items[0].range == selected.range
    assert result.items[0].insert_text.startswith("path")


async def test_notebook_cells_give_each_other_context(client: LanguageClient) -> None:
    notebook = "file:///work/analysis.ipynb"
    cells = [("cell1", "import math\nradius = 2"), ("cell2", "area = ")]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=notebook,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind=types.NotebookCellKind.Code, document=f"{notebook}#{name}")
                    for name, _ in cells
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(uri=f"{notebook}#{name}", language_id="python", version=1, text=text)
                for name, text in cells
            ],
        )
    )
    result = await client.text_document_inline_completion_async(inline_params(f"{notebook}#cell2", 0, 7))
    assert result is not None and result.items and result.items[0].insert_text == FIM_SCRIPT.split("\n")[0]
