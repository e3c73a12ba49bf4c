"""An editor and a Jupyter server at the same time: one service, one model, both served; with other model
settings, the first one's hold and the second is told."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import ENDLESS_TOKEN, FIM_SCRIPT, TinyModels
from tests.jupyter.server import RunningServer, jupyter_server
from tests.lsp.conftest import SERVER, inline_params, open_document, start

pytestmark = pytest.mark.asyncio
WAIT_TRIES = 600  # polls 0.05 s apart: 30 s and more on a busy machine


async def test_an_editor_and_a_jupyter_server_share_one_service(
    client: LanguageClient, service_dir: Path, tiny_models: TinyModels, tmp_path: Path
) -> None:
    open_document(client, "file:///work/add.py", "def add(a, b):\n    return \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///work/add.py", 1, 11))
    assert result is not None and result.items[0].insert_text == FIM_SCRIPT.split("\n")[0]
    model = f"--TabwiseExtension.model_path={tiny_models.qwen}"
    with jupyter_server(tmp_path / "jupyter", model, "--TabwiseExtension.threads=1", service=service_dir) as server:
        answer = server.call("tabwise/complete", {"prefix": "def add(a, b):\n    return ", "suffix": ""})
        assert answer["text"] == FIM_SCRIPT.split("\n")[0]
        jupyter = server.get("tabwise/status")["service"]
        editor = (await client.protocol.send_request_async("tabwise/status", {})).service
        assert jupyter["pid"] == editor.pid  # the same service process for both
        assert jupyter["clients"] == 2 and jupyter["models_loaded"] == 1


@dataclass(frozen=True)
class FirstJupyter:
    """A Jupyter server that configured the service first, and how to stop it before the test ends."""

    server: RunningServer
    stop: Callable[[], None]


@pytest.fixture
def jupyter_first(service_dir: Path, tiny_models: TinyModels, tmp_path: Path) -> Iterator[FirstJupyter]:
    """A Jupyter server on the qwen model that configured the service before any editor."""
    with ExitStack() as stack:
        model = f"--TabwiseExtension.model_path={tiny_models.qwen}"
        server = stack.enter_context(
            jupyter_server(tmp_path / "jupyter", model, "--TabwiseExtension.threads=1", service=service_dir)
        )
        server.get("tabwise/status")  # answered after the server's configure: the service has its settings
        yield FirstJupyter(server, stack.close)


@pytest_lsp.fixture(config=SERVER)
async def editor_after_jupyter(
    lsp_client: LanguageClient, jupyter_first: FirstJupyter, tiny_models: TinyModels, tmp_path: Path
):
    """An editor on the endless model, started after the Jupyter server."""
    await start(lsp_client, tiny_models.endless, tmp_path)
    yield
    await lsp_client.shutdown_session()


async def wait_for(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `check` until it returns something true (bounded)."""
    for _ in range(WAIT_TRIES):
        if value := await check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never came")


async def lsp_status(client: LanguageClient) -> Any:
    return await client.protocol.send_request_async("tabwise/status", {})


async def test_an_editor_after_a_jupyter_server_with_another_model_is_told_and_gets_it_when_jupyter_leaves(
    editor_after_jupyter: LanguageClient, jupyter_first: FirstJupyter, tiny_models: TinyModels
) -> None:
    client = editor_after_jupyter
    assert jupyter_first.server.get("tabwise/status")["service"]["settings_from"] == "jupyter (connection 1)"
    open_document(client, "file:///work/add.py", "def add(a, b):\n    return \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///work/add.py", 1, 11))
    assert result is not None and result.items[0].insert_text == FIM_SCRIPT.split("\n")[0]  # Jupyter's model

    async def told() -> list[str]:
        messages = client.messages
        return [m.message for m in messages if m.type == types.MessageType.Warning and "jupyter (conn" in m.message]

    warning = (await wait_for(told, "the warning"))[0]
    assert "model_path" in warning and str(tiny_models.endless) in warning and "TABWISE_RUNTIME_DIR" in warning
    status = await lsp_status(client)
    assert status.loads == 1 and status.settingsWarning == warning.removeprefix("tabwise: ")

    jupyter_first.stop()  # Jupyter stops: the editor's model applies

    async def handed_over() -> bool:
        return (await lsp_status(client)).service.settingsFrom == "lsp (connection 2)"

    await wait_for(handed_over, "the editor's settings")
    open_document(client, "file:///work/b.py", "x = \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///work/b.py", 0, 4))
    assert result is not None and result.items[0].insert_text.strip().startswith(ENDLESS_TOKEN.strip())
    assert len(await told()) == 1  # shown once
    assert (await lsp_status(client)).loads == 2


async def test_a_jupyter_server_after_an_editor_says_why_in_its_status_and_log_and_keeps_its_limits(
    endless_client: LanguageClient, service_dir: Path, tiny_models: TinyModels, tmp_path: Path
) -> None:
    assert (await lsp_status(endless_client)).service.settingsFrom == "lsp (connection 1)"
    options = (f"--TabwiseExtension.model_path={tiny_models.qwen}", "--TabwiseExtension.threads=1")
    with jupyter_server(tmp_path, *options, "--TabwiseExtension.max_tokens=2", service=service_dir) as server:
        warning = server.get("tabwise/status")["settings_warning"]
        assert "lsp (connection 1)" in warning and str(tiny_models.qwen) in warning
        answer = server.call("tabwise/complete", {"prefix": "x = ", "suffix": ""})
        assert answer["text"].strip() == (ENDLESS_TOKEN * 2).strip()  # the editor's model, Jupyter's own limit
        assert server.get("tabwise/status")["loads"] == 1

        async def logged() -> bool:
            return warning in (tmp_path / "server.log").read_text()

        await wait_for(logged, "the warning in the Jupyter server's log")
