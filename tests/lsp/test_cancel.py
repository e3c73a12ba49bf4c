"""Supersession: a newer request for a document stops the model's work on the older one."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import inline_params, open_document


@pytest.mark.asyncio
async def test_newer_request_supersedes_the_older(endless_client: LanguageClient) -> None:
    uri = "file:///work/c.py"
    open_document(endless_client, uri, "x = \n")
    older = asyncio.ensure_future(endless_client.text_document_inline_completion_async(inline_params(uri, 0, 4)))
    await asyncio.sleep(1.0)
    endless_client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tabwise": {"maxTokens": 3}})
    )
    newer = await endless_client.text_document_inline_completion_async(inline_params(uri, 0, 4))
    first = await older
    assert first is not None and not first.items  # superseded: answered empty, not an error
    assert newer is not None and newer.items[0].insert_text == " ok ok ok"
