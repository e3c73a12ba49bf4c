"""Every request is answered while the service starts and loads the model."""

from __future__ import annotations

import asyncio

import pytest
from pytest_lsp import LanguageClient


@pytest.mark.asyncio
async def test_requests_during_model_load_are_answered(client: LanguageClient) -> None:
    # The server answers from what it knows ("starting") until the service it started answers itself.
    states = []
    for _ in range(3000):  # about a minute at most
        status = await asyncio.wait_for(client.protocol.send_request_async("tabwise/status", {}), 10)
        states.append(status.state)
        if status.state == "ready":
            break
        await asyncio.sleep(0.02)
    assert states[-1] == "ready" and "loading" in states, states
