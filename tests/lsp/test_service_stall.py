"""A tabwise service that stops answering (SIGSTOP) never freezes the language server: its loop answers
while a large document goes to the stopped service, the completion waiting on it is answered (empty) and
the user told what happened, and a new service answers the next one. Every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from completion.service import launch
from completion.service.connection import HUNG_AFTER_S
from tests.lsp.conftest import inline_params, insert_text, open_document
from tests.lsp.test_service_crash import service_status

pytestmark = pytest.mark.asyncio
WAIT_S = 60.0  # bound on each wait: a service start and a model load on a busy machine
BIG = "value = compute(1, 2)\n" * (1_500_000 // 22)  # 1.5 MB: several times what a socket buffer holds


async def test_a_stopped_service_does_not_freeze_the_language_server(client: LanguageClient, tmp_path: Path) -> None:
    small, big = (tmp_path / "calc.py").as_uri(), (tmp_path / "big.py").as_uri()
    open_document(client, small, "def add(a, b):\n    return \n")
    old = (await service_status(client)).service.pid
    os.kill(old, signal.SIGSTOP)
    open_document(client, big, BIG)
    for version in range(2, 5):
        insert_text(client, big, version, 0, 0, "#")
    lines = BIG.count("\n")
    pending = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(big, lines, 0)))
    for _ in range(3):  # the server's loop answers while its documents wait on the stopped service
        status = await asyncio.wait_for(client.protocol.send_request_async("tabwise/status", {}), WAIT_S)
        assert status.service.pid is None and not pending.done(), status
    answer = await asyncio.wait_for(pending, HUNG_AFTER_S + WAIT_S)
    assert answer is not None and not answer.items
    told = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert any(f"(pid {old}) stopped answering" in m for m in told), told
    new = (await service_status(client, old)).service.pid
    assert not launch.pid_alive(old) and new != old
    result = await client.text_document_inline_completion_async(inline_params(small, 1, 11))
    assert result is not None and result.items[0].insert_text == "a + b"
