"""The protocol stream survives llama.cpp: every request is answered while the model loads."""

from __future__ import annotations

import asyncio

import pytest
from pytest_lsp import LanguageClient


@pytest.mark.asyncio
async def test_requests_during_model_load_are_answered(client: LanguageClient) -> None:
    # llama-cpp-python points stdout at /dev/null while it loads; the server's protocol has its own copy.
    states = []
    for _ in range(3000):  # about a minute at most
        status = await asyncio.wait_for(client.protocol.send_request_async("tabwise/status", {}), 10)
        states.append(status.state)
        if status.state == "ready":
            break
        await asyncio.sleep(0.02)
    assert states[-1] == "ready" and "loading" in states, states
