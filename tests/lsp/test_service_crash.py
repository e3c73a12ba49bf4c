"""The service crashes during a generation: the language server stays up, answers, and goes on.

The service is killed (SIGSEGV as llama.cpp crashes, SIGKILL as the OOM killer does) while the endless
model writes; the pending request is answered, the user is told once, the next request works on a new
service, and the documents opened before the crash are context there again. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import after_space
from tests.lsp.conftest import idle_status, inline_params, open_document, writing

pytestmark = pytest.mark.asyncio
WAIT_S = 60.0  # bound on each wait: a service start and a model load on a busy machine
# A module open in the editor and never saved: only the editor (and so the service) knows it.
HELPERS = "".join(
    f"def scale_{name}(value: float, factor: float = {n}.5, *, clamp: bool = False) -> float:\n"
    f'    """Scale a {name} measurement by the factor, clamped to the unit range when asked."""\n'
    f"    return min(value * factor, 1.0) if clamp else value * factor\n\n\n"
    for n, name in enumerate(["length", "width", "height", "depth", "weight", "volume"])
)
USES = "from {module} import scale_length, scale_width, scale_height\n\nsize = scale_length(2.0) + "


async def service_status(client: LanguageClient, old_pid: int | None = None) -> Any:
    """The status once a service (another than `old_pid`) answers with its model loaded and nothing running."""
    status = None
    for _ in range(int(WAIT_S / 0.1)):
        status = await client.protocol.send_request_async("tabwise/status", {})
        pid = status.service.pid
        if pid is not None and pid != old_pid and status.state == "ready" and not status.busy and not status.queued:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"no service answered: {status}")


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGKILL], ids=["SIGSEGV", "SIGKILL"])
async def test_a_service_crash_during_a_generation(
    endless_client: LanguageClient, tmp_path: Path, signum: signal.Signals
) -> None:
    client = endless_client
    uri = {name: (tmp_path / f"{name}.py").as_uri() for name in ("helpers", "main", "plain", "busy")}
    open_document(client, uri["helpers"], HELPERS)  # unsaved: there is no helpers.py on disk
    open_document(client, uri["main"], USES.format(module="helpers"))
    open_document(client, uri["plain"], USES.format(module="nowhere"))  # the same, importing nothing known
    open_document(client, uri["busy"], "x = \n")
    old_pid = (await service_status(client)).service.pid

    pending = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri["busy"], 0, 4)))
    await writing(client, uri["busy"])  # the endless model writes " ok" until it is stopped
    os.kill(old_pid, signum)
    answer = await asyncio.wait_for(pending, WAIT_S)
    assert answer is not None and not answer.items  # answered, empty
    told = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert any(f"(pid {old_pid}) was killed by {signum.name}" in m for m in told), told
    assert client._server is not None and client._server.returncode is None  # the server lives on

    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tabwise": {"maxTokens": 3}})
    )
    status = await service_status(client, old_pid)  # a new service, started by the server's client
    assert status.service.documents == 4, status  # the documents opened before the crash were sent again
    line = USES.split("\n")[-1]
    plain = await client.text_document_inline_completion_async(inline_params(uri["plain"], 2, len(line)))
    assert plain is not None and plain.items[0].insert_text == after_space(3)  # the next completion works
    without = (await idle_status(client)).lastEvaluatedTokens
    main = await client.text_document_inline_completion_async(inline_params(uri["main"], 2, len(line)))
    assert main is not None and main.items[0].insert_text == after_space(3)
    with_helpers = (await idle_status(client)).lastEvaluatedTokens
    print(f"prompt tokens evaluated: {without} importing nothing known, {with_helpers} importing helpers.py")
    # The unsaved module reached the new service: its definitions are in main.py's prompt, not in plain.py's.
    assert with_helpers > without + 60, (without, with_helpers)
    assert len([m for m in client.messages if m.type == types.MessageType.Error]) == len(told)  # told once


async def test_three_crashes_in_a_minute_are_reported_and_the_server_goes_on(client: LanguageClient) -> None:
    uri = "file:///work/calc.py"
    open_document(client, uri, "def add(a, b):\n    return \n")
    states: set[str] = set()
    pid = None
    for _ in range(3):
        pid = (await service_status(client, pid)).service.pid
        os.kill(pid, signal.SIGKILL)
        for _ in range(int(WAIT_S / 0.1)):  # until the server's client saw the crash
            states.add(state := (await client.protocol.send_request_async("tabwise/status", {})).state)
            if state != "ready":
                break
            await asyncio.sleep(0.1)
    for _ in range(int(WAIT_S / 0.1)):
        status = await client.protocol.send_request_async("tabwise/status", {})
        if status.state == "unavailable":
            break
        states.add(status.state)
        await asyncio.sleep(0.1)
    assert status.state == "unavailable" and "crashed 3 times within a minute" in status.error, status
    assert "restarting" in states, states  # between the crashes, while a new service starts
    for _ in range(2):  # the server still answers, empty, and says why once
        result = await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
        assert result is not None and not result.items
    told = [m.message for m in client.messages if "crashed 3 times" in m.message]
    assert len(told) == 1 and "tabwise serve" in told[0], told
