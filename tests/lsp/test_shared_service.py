"""An editor and a Jupyter server at the same time: one service, one model, both served."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_lsp import LanguageClient

from tests.conftest import FIM_SCRIPT, TinyModels
from tests.jupyter.server import jupyter_server
from tests.lsp.conftest import inline_params, open_document

pytestmark = pytest.mark.asyncio


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
