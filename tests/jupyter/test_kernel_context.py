"""Completions that know the kernel: a real Jupyter server, a real kernel with pandas and numpy, and the real
service on a tiny GGUF whose backend records each prompt (tests/jupyter/recording_service.py), so the
assertions are on the prompt the engine built from the server's request."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from completion.service.rundir import RunDir, read_info
from completion.weights.models import default_model_path
from tests.conftest import HOSTILE_CELL, TinyModels
from tests.jupyter.recording_service import read_prompts
from tests.jupyter.server import RunningServer, jupyter_server
from tests.processes import private_service, running, service_env

pytestmark = pytest.mark.timeout(300)
NOTEBOOK = "analysis.ipynb"
CSV = "region,zebra_quota,unit_price\nnorth,3,1.5\nsouth,4,2.25\neast,5,0.75\n"
LOAD = 'import pandas as pd\nimport numpy as np\ndf = pd.read_csv("sales.csv")\nX = np.zeros((4, 3))'
SUMMARY_LINE = "df: DataFrame 3 rows: region str, zebra_quota int64, unit_price float64"
WAIT_S = 60.0  # for the kernel and the server to catch up (a condition polled, not a timing asserted)


@dataclass
class Notebook:
    """A notebook session the server started (its kernel), a client of that kernel, the recorded prompts."""

    server: RunningServer
    kernel_id: str
    kernel: BlockingKernelClient
    prompts: Path

    def run(self, code: str) -> list[dict[str, Any]]:
        """Run a cell as the user would (it counts, it is in the history); the IOPub messages it caused."""
        seen: list[dict[str, Any]] = []
        reply = self.kernel.execute_interactive(code, timeout=WAIT_S, output_hook=seen.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        return seen

    def complete(self, prefix: str, cells: list[str] | None = None, path: str = NOTEBOOK) -> str:
        """A completion at the end of a new last cell, as JupyterLab asks for it; the prompt it became."""
        cells = [*(cells or []), prefix]
        body = {"prefix": prefix, "suffix": "", "path": path, "language": "python", "cell_index": len(cells) - 1}
        body["cells"] = [{"kind": "code", "text": text} for text in cells]
        before = len(read_prompts(self.prompts))
        self.server.call("tabwise/complete", body)
        return request_prompt(read_prompts(self.prompts)[before:], prefix)

    def summary(self) -> str | None:
        return self.server.get(f"tabwise/status?path={NOTEBOOK}")["kernel_summary"]

    def wait_for_summary(self, holding: str) -> str:
        """The server's summary of this kernel once it holds `holding`. The notebook's first request starts
        the watching (it is sent until there is a summary); after that each cell run refreshes it."""
        deadline = time.monotonic() + WAIT_S
        while holding not in (summary := self.summary() or ""):
            assert time.monotonic() < deadline, f"no summary with {holding!r}: {summary!r}"
            if not summary:
                self.server.call("tabwise/complete", {"prefix": "", "path": NOTEBOOK})
            time.sleep(0.2)
        return summary

    def state(self) -> str:
        return self.server.get(f"api/kernels/{self.kernel_id}")["execution_state"]


def request_prompt(prompts: list[str], prefix: str) -> str:
    """The prompt of a request at the end of `prefix` among those recorded (not a speculation after one)."""
    found = [prompt for prompt in prompts if prompt.endswith(f"{prefix}<|fim_suffix|><|fim_middle|>")]
    assert found, prompts
    return found[0]


@contextmanager
def recording_service(folder: Path) -> Iterator[tuple[Path, Path]]:
    """The real service, recording prompts, in a private runtime directory: (runtime dir, prompts file)."""
    folder.mkdir(parents=True, exist_ok=True)
    prompts = folder / "prompts.jsonl"
    with private_service() as rundir:
        env = {**os.environ, **service_env(rundir)}
        command = [sys.executable, "-m", "tests.jupyter.recording_service", str(prompts)]
        with running(command, env=env, cwd=Path(__file__).parents[2]):
            deadline = time.monotonic() + WAIT_S
            while read_info(RunDir(rundir)) is None:
                assert time.monotonic() < deadline, "the recording service did not start"
                time.sleep(0.1)
            yield rundir, prompts


@contextmanager
def notebook(tmp_path: Path, *options: str) -> Iterator[Notebook]:
    """A Jupyter server with a notebook session (its kernel started by the server, cwd the root) over the
    recording service, and a client of the kernel."""
    with recording_service(tmp_path / "service") as (rundir, prompts), jupyter_server(
        tmp_path / "root", *options, service=rundir
    ) as server:  # fmt: skip
        (tmp_path / "root" / "sales.csv").write_text(CSV)
        body = {"path": NOTEBOOK, "name": NOTEBOOK, "type": "notebook", "kernel": {"name": "python3"}}
        kernel_id = server.call("api/sessions", body)["kernel"]["id"]
        client = BlockingKernelClient()
        client.load_connection_file(str(server.runtime_dir / f"kernel-{kernel_id}.json"))
        client.start_channels()
        try:
            client.wait_for_ready(timeout=WAIT_S)
            yield Notebook(server, kernel_id, client, prompts)
        finally:
            client.stop_channels()


def tiny(models: TinyModels) -> tuple[str, ...]:
    return (f"--TabwiseExtension.model_path={models.qwen}", "--TabwiseExtension.threads=1")


def test_a_completion_at_df_gets_the_csv_columns_in_its_prompt(tiny_models: TinyModels, tmp_path: Path) -> None:
    with notebook(tmp_path, *tiny(tiny_models)) as nb:
        nb.run(LOAD)
        summary = nb.wait_for_summary("df: DataFrame")
        prompt = nb.complete('df["', [LOAD])
        other = nb.complete('df["', [LOAD], path="no-kernel.ipynb")  # no running kernel: as before
    assert SUMMARY_LINE in summary and "X: ndarray shape (4, 3) float64" in summary, summary
    assert "pd:" not in summary and "np:" not in summary  # modules are not variables
    assert f"# {SUMMARY_LINE}\n" in prompt, prompt
    assert prompt.index("# Variables in the running kernel:") < prompt.index("# %%\nimport pandas")  # above the cells
    assert "Variables in the running kernel" not in other and 'df = pd.read_csv("sales.csv")' in other


def test_the_inline_websocket_gets_the_summary_too(tiny_models: TinyModels, tmp_path: Path) -> None:
    with notebook(tmp_path, *tiny(tiny_models)) as nb:
        nb.run(LOAD)
        nb.wait_for_summary("df: DataFrame")
        before = len(read_prompts(nb.prompts))
        reply = asyncio.run(inline_request(nb.server, LOAD))
        prompt = request_prompt(read_prompts(nb.prompts)[before:], "df[")
    assert reply["type"] == "inline_completion" and "error" not in reply, reply
    assert f"# {SUMMARY_LINE}\n" in prompt, prompt


async def inline_request(server: RunningServer, cell: str) -> dict[str, Any]:
    url = server.url.replace("http", "ws") + "tabwise/inline"
    socket = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {server.token}"}))
    cells = [{"kind": "code", "text": cell}, {"kind": "code", "text": "df["}]
    request = {"number": 1, "prefix": "df[", "suffix": "", "path": NOTEBOOK, "cells": cells, "cell_index": 1}
    socket.write_message(json.dumps(request))
    reply = json.loads(await asyncio.wait_for(socket.read_message(), WAIT_S) or "{}")
    socket.close()
    return reply


HOSTILE = """
class Hostile:
    def __repr__(self):
        open({touched!r}, "a").write("repr ")
        raise RuntimeError("repr ran")
    __str__ = __repr__
    def __getattr__(self, name):
        open({touched!r}, "a").write("getattr ")
        raise RuntimeError("getattr ran")
    @property
    def columns(self):
        open({touched!r}, "a").write("property ")
        raise RuntimeError("property ran")
    def __len__(self):
        open({touched!r}, "a").write("len ")
        return 1
hostile = Hostile()
shown = [hostile]
"""


def test_hostile_objects_are_summarised_without_their_code_and_no_trace_is_left(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    touched = tmp_path / "touched.txt"
    with notebook(tmp_path, *tiny(tiny_models)) as nb:
        nb.run(LOAD)
        nb.run("df")  # Out[2], and _
        nb.run(HOSTILE.format(touched=str(touched)))
        before = state_of(nb)
        summary = nb.wait_for_summary("hostile: Hostile")
        prompt = nb.complete('df["', [LOAD])
        nb.run("late = 1")  # a cell run: the summary is made again after it
        summary_after = nb.wait_for_summary("late: int 1")
        after = state_of(nb)
    assert "hostile: Hostile" in summary and "shown: list 1 items, first Hostile" in summary, summary
    assert not touched.exists(), touched.read_text()
    assert "# hostile: Hostile\n" in prompt, prompt
    assert "late: int 1" in summary_after
    # The summaries left no trace: the state cells saw the counts and entries of the cells run, nothing more
    assert before["count"] == before["inputs"] == 5, before  # In[0] is "", then the 4 cells run so far
    assert after["count"] == before["count"] + 2, (before, after)  # "late = 1" and the state cell
    assert after["inputs"] == before["inputs"] + 2 and after["outputs"] == before["outputs"] == [2]
    assert before["last"] == after["last"] == "DataFrame"
    assert after["messages"] == before["messages"] == ["stream"]  # only the state cell's own print


TRAPS = """
import builtins as _builtins


def _trap(name):
    real = getattr(_builtins, name)

    def trap(*args, **kwargs):
        _touch(name)
        return real(*args, **kwargs)

    return trap


class _Cells(list):
    def __iter__(self):
        _touch("In")
        return super().__iter__()


In = _Cells(In)  # %%ask reads recent cells from IPython's own history, not from this name
globals().update({name: _trap(name) for name in ("__import__", "str", "repr", "len", "type", "getattr", "isinstance")})
trapped = 1
"""
HOSTILE_LINES = [  # tests/hostile_notebook.py's variables as the summary and `{name}` show them
    "extension_frame: DataFrame 2 rows: a RecordingArray, b float64",
    "extension_columns: DataFrame (pandas)",
    "zoned: Series 2 rows, datetime64[us, Zone], name None",
    "titled: ndarray shape (3,) {a int32, b float64}",
    "keyed: Keyed",
    "big: int (about 6021 digits)",
    "nested_keys: dict 2 keys {(((((...),),),),): int 1, 'plain': int 2}",
]


def test_a_hostile_notebook_gets_a_line_per_variable_and_none_of_its_code_runs(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    """Extension arrays, time zones, dtype titles, keys hashing like the names looked up, huge values, an `In`
    of its own, and `__import__`, `str`, `repr`, `len`, `type`, `getattr`, `isinstance` of the notebook's
    own: each notes in `touched` any call of it, and the summary and `%%ask {name}` make none."""
    touched = tmp_path / "touched.txt"
    with notebook(tmp_path, *tiny(tiny_models)) as nb:
        nb.run("%load_ext jupyter_ext")
        nb.run(LOAD)
        nb.run(f"_touched = {str(touched)!r}\n" + HOSTILE_CELL.read_text())
        nb.run(TRAPS)
        summary = nb.wait_for_summary("trapped: int 1")
        before = len(read_prompts(nb.prompts))
        nb.run("%%ask\nWhat are {extension_frame} and {zoned} and {big}?")
        asked = [prompt for prompt in read_prompts(nb.prompts)[before:] if "What are" in prompt]
    assert not touched.exists(), touched.read_text()
    for line in [SUMMARY_LINE, *HOSTILE_LINES]:
        assert line in summary.split("\n"), summary
    question = "What are DataFrame 2 rows: a RecordingArray, b float64 and Series 2 rows, datetime64[us, Zone], name"
    assert asked and f"{question} None and int (about 6021 digits)?" in asked[0], asked


def state_of(nb: Notebook) -> dict[str, Any]:
    """The kernel's execution count, In, Out and _ as the state cell sees them, and the kinds of output it
    caused (a summary in between would show in the counts or as extra output)."""
    seen = nb.run(
        "import json as _json\n"
        "print(_json.dumps({'count': get_ipython().execution_count, 'inputs': len(In), 'outputs': sorted(Out),"
        " 'last': type(_).__name__}))"
    )
    stream = [m for m in seen if m["msg_type"] == "stream"]
    state = json.loads(stream[0]["content"]["text"])
    state["messages"] = [m["msg_type"] for m in seen if m["msg_type"] not in ("status", "execute_input")]
    return state


def test_a_busy_kernel_does_not_delay_a_completion(tiny_models: TinyModels, tmp_path: Path) -> None:
    with notebook(tmp_path, *tiny(tiny_models)) as nb:
        nb.run(LOAD)
        nb.wait_for_summary("df: DataFrame")
        nb.kernel.execute("import time\ntime.sleep(30)\nlater = 1")
        wait_until(lambda: nb.state() == "busy")
        prompt = nb.complete('df["', [LOAD])  # the summary refresh queues behind the cell: not waited for
        still_busy = nb.state()
        nb.server.call(f"api/kernels/{nb.kernel_id}/interrupt", {})
    assert still_busy == "busy"  # the answer came while the 30 s cell was running
    assert f"# {SUMMARY_LINE}\n" in prompt  # with the last summary


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


@pytest.mark.real_model
def test_the_default_model_completes_a_real_column(tmp_path: Path) -> None:
    if not default_model_path().exists():
        pytest.fail("the default model is missing: run `tabwise model fetch` (make test does)")
    # No time budget (on a loaded machine two tokens can be seconds apart, and the budget would show the
    # column's name half written, `zebra`), and a few tokens: what is asserted is which name the model picks.
    options = ("--TabwiseExtension.time_budget_ms=600000", "--TabwiseExtension.max_tokens=8")
    with notebook(tmp_path, "--TabwiseExtension.threads=2", *options) as nb:
        nb.run(LOAD)
        nb.wait_for_summary("df: DataFrame")
        answer = nb.server.call(
            "tabwise/complete",
            {"prefix": 'df["', "suffix": "", "path": NOTEBOOK, "cells": [{"kind": "code", "text": LOAD},
             {"kind": "code", "text": 'df["'}], "cell_index": 1},
        )  # fmt: skip
    assert answer["text"].split('"')[0] in ("region", "zebra_quota", "unit_price"), answer


def test_ask_is_told_the_variables_and_status_shows_what_the_model_is_told(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    with notebook(tmp_path, *tiny(tiny_models)) as nb:
        nb.run("%load_ext jupyter_ext")
        nb.run(LOAD + "\ntotal = 41")
        ghost = nb.wait_for_summary("total: int 41")
        before = len(read_prompts(nb.prompts))
        nb.run("%%ask\nWhich column of df has prices? And what is {total} plus one?")
        asked = [prompt for prompt in read_prompts(nb.prompts)[before:] if "plus one" in prompt]
        status = "".join(markdown(message) for message in nb.run("%ask status"))
    assert asked and SUMMARY_LINE in asked[0] and "what is 41 plus one?" in asked[0], asked
    assert "Ghost text in this notebook was last told" in status and ghost in status, status
    assert "`%%ask` is told now" not in status  # the same summary: nothing changed since the last cell


def markdown(message: dict[str, Any]) -> str:
    return str(message.get("content", {}).get("data", {}).get("text/markdown", ""))
