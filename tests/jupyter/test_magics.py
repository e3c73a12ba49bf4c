"""A real kernel (nbclient) runs notebooks with %%ask against a real Jupyter server that it finds itself."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from completion.service.rundir import RunDir, read_info
from jupyter_ext.magics import fill_placeholders, first_code_block
from tests.conftest import CHAT_SCRIPT, ENDLESS, ENDLESS_WINDOW, HostileNotebook, TinyModels
from tests.jupyter.server import RunningServer, jupyter_server
from tests.processes import serving

pytestmark = pytest.mark.timeout(300)


def run_notebook(server: RunningServer, sources: list[str], kernel: str = "python3", **options: Any) -> Any:
    """Execute the cells in order in a new kernel that the server starts; the executed notebook."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(notebook, km=server.start_kernel(kernel), allow_errors=True, **options).execute()
    return notebook


def markdown(cell: Any) -> list[str]:
    return [out["data"]["text/markdown"] for out in cell.outputs if "text/markdown" in out.get("data", {})]


def text(cell: Any) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out["output_type"] == "stream")


def test_ask_explain_fix_and_status_through_the_server(tiny_models: TinyModels, tmp_path: Path) -> None:
    options = (f"--TabwiseExtension.model_path={tiny_models.qwen}", "--TabwiseExtension.threads=1")
    payloads: dict[int, list[dict[str, Any]]] = {}

    def keep_payload(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        payloads[cell_index] = execute_reply["content"].get("payload", [])

    with jupyter_server(tmp_path, *options) as server:
        notebook = run_notebook(
            server,
            [
                "%load_ext jupyter_ext",
                "total = 41",
                "%%ask\nWhat is {total} plus one?",
                "%ask explain",
                "1 / 0",
                "%ask fix",
                "%ask status",
                "%%ask -f code\nWrite it as code.",
            ],
            timeout=120,
            on_cell_executed=keep_payload,
        )
        status = server.get("tabwise/status")
    cells = notebook.cells
    for index in (2, 3, 5):
        assert markdown(cells[index]) == [CHAT_SCRIPT], (index, cells[index].outputs)
    assert "ZeroDivisionError" in str(cells[4].outputs)
    assert "the Jupyter server at http://127.0.0.1" in markdown(cells[6])[0]
    assert all("service directly" not in text(cell) for cell in cells)  # asked through the server
    assert status["state"] == "ready" and status["last_outcome"] == "done"
    offered = [p for p in payloads[7] if p["source"] == "set_next_input"]  # -f code: the answer as a new cell
    assert [(p["text"], p["replace"]) for p in offered] == [(CHAT_SCRIPT, False)]
    assert not any(p["source"] == "set_next_input" for p in payloads[2])  # a plain %%ask offers no cell


@contextmanager
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    """An HTTP proxy on loopback that forwards nothing: its URL, and each request it received (with the
    Authorization it carried)."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def record(self) -> None:
            received.append(f"{self.command} {self.path} {self.headers.get('Authorization', '')}")
            self.send_error(502, "this proxy forwards nothing")

        do_GET = do_POST = do_CONNECT = record

        def log_message(self, *args: Any) -> None:
            """Quiet: what it saw is in `received`."""

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(proxy):
        yield f"http://127.0.0.1:{proxy.server_port}", received


def proxied_python_kernel(data_dir: Path, proxy: str) -> str:
    """A Python kernel spec with `proxy` in its environment for every URL, loopback too (no `no_proxy`), as
    a user's shell may set it; the server's own environment stays as it is. Its name."""
    env = {name: proxy for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")}
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (proxied)",
        "language": "python",
        "env": env | {"no_proxy": "", "NO_PROXY": ""},
    }
    (data_dir / "kernels" / "proxied").mkdir(parents=True)
    (data_dir / "kernels" / "proxied" / "kernel.json").write_text(json.dumps(spec))
    return "proxied"


SHOW_PROXY = "import os; print(os.environ['http_proxy'])"


def test_the_kernel_asks_its_server_directly_not_through_a_proxy(tiny_models: TinyModels, tmp_path: Path) -> None:
    """The token, the question and the cells go to the server only, whatever proxy the kernel's
    environment names."""
    options = (f"--TabwiseExtension.model_path={tiny_models.qwen}", "--TabwiseExtension.threads=1")
    with recording_proxy() as (proxy, received):
        kernel = proxied_python_kernel(tmp_path / "jupyter_data_dir", proxy)
        with jupyter_server(tmp_path, *options) as server:
            sources = ["%load_ext jupyter_ext", SHOW_PROXY, "%%ask\nHi?", "%ask status"]
            notebook = run_notebook(server, sources, kernel, timeout=120)
    seen, ask, status = notebook.cells[1:]
    assert received == []
    assert text(seen).strip() == proxy  # the kernel had the proxy in its environment
    assert markdown(ask) == [CHAT_SCRIPT]
    assert "the Jupyter server at http://127.0.0.1" in markdown(status)[0]
    assert all("service directly" not in text(cell) for cell in notebook.cells)  # asked through the server


def test_interrupt_stops_the_generation_in_the_server(tiny_models: TinyModels, tmp_path: Path) -> None:
    with jupyter_server(
        tmp_path, f"--TabwiseExtension.model_path={tiny_models.endless}", "--TabwiseExtension.threads=1",
        f"--TabwiseExtension.answer_tokens={ENDLESS}", f"--TabwiseExtension.context_window={ENDLESS_WINDOW}",
    ) as server:  # fmt: skip
        notebook = run_notebook(  # the answer goes on until it is stopped: the interrupt comes while it streams
            server,
            ["%load_ext jupyter_ext", "%%ask\nSay ok forever."],
            timeout=15,
            interrupt_on_timeout=True,
        )
        ask = notebook.cells[1]
        assert "KeyboardInterrupt" in str(ask.outputs)
        assert any("(stopped)" in shown and " ok ok" in shown for shown in markdown(ask))
        for _ in range(100):
            status = server.get("tabwise/status")
            if not status["busy"]:
                break
            time.sleep(0.1)
        assert not status["busy"] and status["last_outcome"] == "cancelled", status


def test_placeholders_take_the_users_values_and_nothing_runs() -> None:
    namespace = {"rows": [1, 2], "name": "x" * 5000}
    filled = fill_placeholders("Sum {rows}; {missing} stays; {rows.__class__} is no name; {name}", namespace)
    assert filled.startswith("Sum [1, 2]; {missing} stays; {rows.__class__} is no name; xxx")
    assert len(filled) < 2100


def test_placeholders_run_none_of_the_notebooks_code(hostile_notebook: HostileNotebook) -> None:
    shown = {  # a placeholder -> what it becomes: the summary's reading, never the value's str()
        "extension_frame": "DataFrame 2 rows: a RecordingArray, b float64",
        "zoned": "Series 2 rows, datetime64[us, Zone], name None",
        "titled": "ndarray shape (3,) {a int32, b float64}",
        "keyed": "Keyed",
        "pretender": "DataFrame (pandas)",
        "labelled": "def labelled(*, label)",
        "big": "int (about 6021 digits)",
        "nested_keys": "{(((((...,),),),),): 1, 'plain': 2}",
        "huge": "x" * 2000 + " …",
    }
    filled = fill_placeholders(" | ".join(f"{{{name}}}" for name in shown), hostile_notebook.namespace)
    assert not hostile_notebook.touched.exists(), hostile_notebook.touched.read_text()
    assert filled.split(" | ") == list(shown.values())


def test_first_code_block() -> None:
    assert first_code_block("Here:\n```python\nprint(1)\n```\nDone.") == "print(1)"
    assert first_code_block("print(2)") == "print(2)"


def test_without_a_server_the_kernel_asks_the_service_and_says_so_once(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch, service_dir: Path
) -> None:
    monkeypatch.setenv("TABWISE_MODEL", str(tiny_models.qwen))  # the kernel inherits it, and the service it starts
    sources = ("%load_ext jupyter_ext", "%%ask\nHi?", "%%ask\nAgain?", "%ask status", LOADED)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(notebook, kernel_name="python3", timeout=120, allow_errors=True).execute()
    first, second, status, loaded = notebook.cells[1:]
    assert "asking the tabwise service directly, no Jupyter server" in text(first)
    assert text(second) == ""  # said once
    assert markdown(first) == markdown(second) == [CHAT_SCRIPT]
    info = read_info(RunDir(service_dir))
    assert info is not None
    assert f"the tabwise service in {service_dir} (service pid {info.pid})" in markdown(status)[0]
    assert text(loaded).strip() == "False"  # the model ran in the service, not in the kernel


LOADED = "import sys; print(any(name.startswith('llama_cpp') for name in sys.modules))"


def test_local_asks_the_service_not_the_server(tiny_models: TinyModels, tmp_path: Path) -> None:
    options = (f"--TabwiseExtension.model_path={tiny_models.qwen}", "--TabwiseExtension.threads=1")
    with jupyter_server(tmp_path, *options) as server:
        # the status through the server first: it comes after the server's configure, so the model is set
        sources = ["%load_ext jupyter_ext", "%ask status", "%%ask --local\nHi?", "%ask --local status", LOADED]
        notebook = run_notebook(server, sources, timeout=120)
        pid = server.get("tabwise/status")["service"]["pid"]
    through_server, local, direct, loaded = notebook.cells[1:]
    assert "asking the tabwise service directly, as asked (--local)" in text(local)
    assert markdown(local) == [CHAT_SCRIPT]
    assert "the Jupyter server at http://127.0.0.1" in markdown(through_server)[0]
    assert f"(service pid {pid})" in markdown(through_server)[0] and f"(service pid {pid})" in markdown(direct)[0]
    assert text(loaded).strip() == "False"
