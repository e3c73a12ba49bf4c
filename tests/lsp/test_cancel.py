"""Supersession: a newer request for a document stops the model's work on the older one."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import after_space
from tests.lsp.conftest import idle_status, inline_params, open_document, writing


@pytest.mark.asyncio
async def test_newer_request_supersedes_the_older(endless_client: LanguageClient) -> None:
    uri = "file:///work/c.py"
    open_document(endless_client, uri, "x = \ny = \n")
    older = asyncio.ensure_future(endless_client.text_document_inline_completion_async(inline_params(uri, 0, 4)))
    await writing(endless_client, uri)  # the older is being answered, and would be until it is stopped
    endless_client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tabwise": {"maxTokens": 3}})
    )
    # The cursor moved: not on the path of what the older is writing (there it would follow it, not end it).
    newer = await endless_client.text_document_inline_completion_async(inline_params(uri, 1, 4))
    first = await older
    assert first is not None and not first.items  # superseded: answered empty, not an error
    assert newer is not None and newer.items[0].insert_text == after_space(3)


@pytest.mark.asyncio
async def test_cancel_request_stops_the_model(endless_client: LanguageClient) -> None:
    uri = "file:///work/c.py"
    open_document(endless_client, uri, "x = \n")
    await idle_status(endless_client)  # loaded, and the warm-up of the opened file done
    pending = endless_client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 0, 4), msg_id="to-cancel"
    )
    await writing(endless_client, uri)  # the model writes " ok" until it is stopped
    endless_client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(pending), 30)
    status = await idle_status(endless_client)
    assert status.lastOutcome == "cancelled" and not status.busy, status
