"""`tabwise lsp` is a thin client: llama.cpp and the model live in the service, not in the server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import FIM_SCRIPT, TinyModels
from tests.lsp.conftest import inline_params, open_document, start

pytestmark = pytest.mark.asyncio
TABWISE = Path(sys.executable).parent / "tabwise"  # the console script, as editors run it
RSS_LIMIT_MB = 300  # generous: what matters is that no model, nor llama.cpp, is in this process


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[str(TABWISE), "lsp"]))
async def tabwise_lsp(lsp_client: LanguageClient, tiny_models: TinyModels, tmp_path: Path):
    await start(lsp_client, tiny_models.qwen, tmp_path)
    yield
    await lsp_client.shutdown_session()


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB (VmRSS of /proc/<pid>/status)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def test_the_server_has_no_llama_and_little_memory(tabwise_lsp: LanguageClient) -> None:
    uri = "file:///work/calc.py"
    open_document(tabwise_lsp, uri, "def add(a, b):\n    return \n")
    result = await tabwise_lsp.text_document_inline_completion_async(inline_params(uri, 1, 11))
    assert result is not None and result.items[0].insert_text == FIM_SCRIPT.split("\n")[0]  # the model answered
    assert tabwise_lsp._server is not None
    server_pid = tabwise_lsp._server.pid
    service_pid = (await tabwise_lsp.protocol.send_request_async("tabwise/status", {})).service.pid
    assert service_pid != server_pid
    assert "llama" in Path(f"/proc/{service_pid}/maps").read_text()  # where the model is: the check can see it
    assert "llama" not in Path(f"/proc/{server_pid}/maps").read_text()
    server, service = rss_mb(server_pid), rss_mb(service_pid)
    print(f"RSS: tabwise lsp {server:.0f} MB, the service (tiny model) {service:.0f} MB")
    assert server < RSS_LIMIT_MB, server
