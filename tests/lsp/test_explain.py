"""Explain: a code action on a selection, and the tabwise.explain command streaming as progress."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import CHAT_SCRIPT
from tests.lsp.conftest import open_document

pytestmark = pytest.mark.asyncio
URI = "file:///work/add.py"
SELECTION = types.Range(types.Position(0, 0), types.Position(1, 16))


async def test_code_action_offers_explain_for_a_selection(client: LanguageClient) -> None:
    open_document(client, URI, "def add(a, b):\n    return a + b\n")
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=SELECTION,
        context=types.CodeActionContext(diagnostics=[]),
    )
    actions = await client.text_document_code_action_async(params)
    assert actions is not None and len(actions) == 1
    action = actions[0]
    assert isinstance(action, types.Command) and action.title == "Explain with tabwise"
    assert action.command == "tabwise.explain" and action.arguments is not None
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=action.command, arguments=list(action.arguments))
    )
    assert answer == CHAT_SCRIPT  # the action's own arguments run the command
    empty = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(types.Position(0, 3), types.Position(0, 3)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert not empty


async def test_explain_streams_progress_and_returns_markdown(client: LanguageClient) -> None:
    open_document(client, URI, "def add(a, b):\n    return a + b\n")
    arguments = [URI, {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 16}}]
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tabwise.explain", arguments=arguments)
    )
    assert answer == CHAT_SCRIPT
    reports = [
        value
        for values in client.progress_reports.values()
        for value in values
        if isinstance(value, types.WorkDoneProgressReport)
    ]
    assert reports and reports[-1].message == CHAT_SCRIPT  # the text grew report by report
    assert len(reports) > 1 and all(CHAT_SCRIPT.startswith(r.message or "") for r in reports)
