"""Memory of every tabwise process while three front ends use tabwise at once, before and after the
engine service, both measured in one run.

    python -m bench.memory [--before 12daaf7] [--json bench/results/memory.json]

The three front ends, started one after the other, each doing what a user's first request does:

- a language server (`python -m lsp_server`) driven over stdio by a small JSON-RPC client below:
  initialize with the default settings (the default model), open a .py file, one
  `textDocument/inlineCompletion`;
- a Jupyter server with the extension (a real `jupyter server` process as tests/jupyter/server.py starts
  it: loopback, a token, private JUPYTER_* and IPYTHONDIR folders): one `POST tabwise/complete` for a
  notebook cell;
- a terminal-style IPython kernel (jupyter_client's KernelManager, started independent, so without
  JPY_PARENT_PID: no Jupyter server is its parent): `%load_ext jupyter_ext`, then one `%%ask` cell.

"before" runs the code of the commit before the service (`git archive` of --before into a temporary
folder, put first on PYTHONPATH, and the processes' working folder elsewhere, so that its lsp_server,
jupyter_ext and completion are the ones imported): each front end loads its own model. "after" runs the
working tree: the front ends are clients of one tabwise service (`python -m completion.service`, started
by the first of them), which holds the model. Each run has a private TABWISE_RUNTIME_DIR (no other
service is found or disturbed) and everything it started, the service included, is stopped at its end.

For each tabwise process: RSS, PSS and USS (psutil's memory_full_info, from /proc/PID/smaps) in MiB, and
the totals; PSS adds up to what the processes really cost together (a shared page counts once, split
between its users), USS is what ending the process would free. The service's memory is also taken after
each front end's first request (1, 2 and 3 clients): each new client's requests get a KV slot of their
own (`kv_slots`, 3 by default), a llama.cpp context over the one loaded model, and the growth is its cost.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import psutil

from bench.processes import end, free_port, private_runtime, runtime_env, service_pid, services_for, stop_services

REPO = Path(__file__).resolve().parent.parent
BEFORE = "12daaf7"  # the commit before the service work: each front end loads its own model
REQUEST_S = 600.0  # a bound on any one request (a model loading first, on a loaded 2-core machine)
START_S = 120.0  # a bound on a process starting to answer
SETTLE_S = 3.0  # after a request, before memory is read (speculation and warm-up run after an answer)
MIB = 2**20
KEYS = ("rss", "pss", "uss", "gguf_rss", "gguf_pss")

SOURCE = Path(REPO / "examples/inventory.py").read_text(encoding="utf-8")  # ends in `    return`
CELLS = [
    {"kind": "code", "text": "import math\nradii = [1.0, 2.5, 4.0]"},
    {"kind": "code", "text": "def circle_area(radius):\n    return "},
]
QUESTION = "In one sentence: what does math.hypot(3, 4) return?"


# -- a small JSON-RPC client over stdio, for the language server --------------------------------------


class JsonRpc:
    """LSP framing (Content-Length headers) over a process's stdin/stdout; a reader thread files the
    responses by id and answers the server's own requests with null."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._in, self._out = process.stdin, process.stdout
        self._ids = iter(range(1, 1 << 30))
        self._pending: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self.notifications: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        with self._lock:
            self._in.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self._in.flush()

    def _read(self) -> None:
        try:
            while (message := read_message(self._out)) is not None:
                if "id" in message and "method" in message:  # the server asks something: nothing to give
                    self._write({"id": message["id"], "result": None})
                elif "id" in message:
                    future = self._pending.pop(message["id"], None)
                    if future is not None:
                        future.set_result(message)
                else:
                    self.notifications.append(message)
        finally:
            for future in self._pending.values():
                future.set_exception(EOFError("the language server closed its output"))

    def request(self, method: str, params: Any, timeout: float = REQUEST_S) -> Any:
        number = next(self._ids)
        future: Future[Any] = Future()
        self._pending[number] = future
        self._write({"id": number, "method": method, "params": params})
        reply = future.result(timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._write({"method": method, "params": params})


def read_message(stream: IO[bytes]) -> dict[str, Any] | None:
    """One framed message, or None at the end of the stream."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if not line.strip():
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        return None
    return json.loads(stream.read(length))


# -- the three front ends -------------------------------------------------------------------------------


@contextmanager
def language_server(env: dict[str, str], workspace: Path, log: Path) -> Iterator[tuple[int, str]]:
    """`python -m lsp_server`: initialize, open inventory.py, one inline completion at its last line's
    end; yields (pid, the suggestion). Shut down and ended afterwards."""
    with log.open("wb") as errors:
        command = [sys.executable, "-m", "lsp_server"]
        process = subprocess.Popen(command, cwd=workspace, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors)  # fmt: skip
    try:
        rpc = JsonRpc(process)
        rpc.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": workspace.as_uri(), "capabilities": {}, "initializationOptions": {}},
            START_S,
        )
        rpc.notify("initialized", {})
        uri = (workspace / "inventory.py").as_uri()
        item = {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
        rpc.notify("textDocument/didOpen", {"textDocument": item})
        lines = SOURCE.rstrip("\n").split("\n")
        position = {"line": len(lines) - 1, "character": len(lines[-1])}
        result = rpc.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}},
        )
        items = (result or {}).get("items", []) if isinstance(result, dict) else result or []
        text = items[0]["insertText"] if items else ""
        yield process.pid, text if isinstance(text, str) else text.get("value", "")
        # A server that does not shut down cleanly is ended below either way.
        with suppress(RuntimeError, TimeoutError, OSError, subprocess.TimeoutExpired):
            rpc.request("shutdown", None, 30)
            rpc.notify("exit", None)
            process.wait(15)
    finally:
        end(process)


@contextmanager
def jupyter_server(env: dict[str, str], workspace: Path, log: Path) -> Iterator[tuple[int, str]]:
    """A real `jupyter server` with the extension (as tests/jupyter/server.py starts it); one
    `POST tabwise/complete` for a notebook cell; yields (pid, the suggestion)."""
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}",
        "--ServerApp.jpserver_extensions={'jupyter_ext': True}",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=workspace, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {process.returncode}: see {log}")
            try:
                with urllib.request.urlopen(url + "api", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url}api did not answer within {START_S:.0f} s") from None
                time.sleep(0.5)
        body = {"prefix": CELLS[1]["text"], "suffix": "", "path": "analysis.ipynb", "cells": CELLS, "cell_index": 1}
        request = urllib.request.Request(
            url + "tabwise/complete",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=REQUEST_S) as response:
            answer = json.loads(response.read())
        yield process.pid, str(answer.get("text", answer))
    finally:
        end(process)


@contextmanager
def terminal_kernel(env: dict[str, str], workspace: Path, connection: Path, log: Path) -> Iterator[tuple[int, str]]:
    """An IPython kernel started as a terminal or VS Code would (KernelManager, independent: no
    JPY_PARENT_PID), `%load_ext jupyter_ext` and one `%%ask` cell; yields (pid, what the cell printed)."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3", connection_file=str(connection))
    with log.open("wb") as kernel_log:  # the kernel's own stdout and stderr (its banner, warnings)
        manager.start_kernel(cwd=str(workspace), env=env, independent=True, stdout=kernel_log, stderr=subprocess.STDOUT)
    client = None
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=START_S)
        check = "import jupyter_ext, os; print(jupyter_ext.__file__, os.environ.get('JPY_PARENT_PID'))"
        loaded = run_cell(client, "%load_ext jupyter_ext\n" + check, START_S)
        output = loaded + run_cell(client, f"%%ask\n{QUESTION}", REQUEST_S)
        provisioner: Any = manager.provisioner
        yield int(provisioner.process.pid), output
    finally:
        if client is not None:
            client.stop_channels()
        manager.shutdown_kernel(now=True)


def run_cell(client: Any, code: str, timeout: float) -> str:
    """Run `code` in the kernel; what it printed and displayed, as text."""
    pieces: list[str] = []
    shown = [""]  # the answer as displayed last (a streamed answer updates one display)

    def keep(message: dict[str, Any]) -> None:
        content = message["content"]
        if message["msg_type"] == "stream":
            pieces.append(content["text"])
        elif message["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            data = content.get("data", {})
            shown[0] = str(data.get("text/markdown") or data.get("text/plain") or "")
        elif message["msg_type"] == "error":
            pieces.append("\n".join(content["traceback"]))

    reply = client.execute_interactive(code, timeout=timeout, output_hook=keep)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"the cell failed: {''.join(pieces)[-2000:]}")
    return "".join(pieces) + shown[0]


# -- measuring -----------------------------------------------------------------------------------------


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS of a process in MiB (smaps-based), and the RSS and PSS of its mappings of GGUF
    files (the weights llama.cpp uses in place: page cache, shared by every process that maps them)."""
    process = psutil.Process(pid)
    info = process.memory_full_info()
    gguf = [m for m in process.memory_maps(grouped=True) if m.path.endswith(".gguf")]
    return {
        "rss": info.rss / MIB,
        "pss": info.pss / MIB,
        "uss": info.uss / MIB,
        "gguf_rss": sum(m.rss for m in gguf) / MIB,
        "gguf_pss": sum(m.pss for m in gguf) / MIB,
    }


def settle(runtime: Path) -> None:
    """Let the work that follows an answer (speculation, warm-up) run before memory is read: a few
    seconds, then until the service (if there is one) has nothing queued."""
    time.sleep(SETTLE_S)
    if service_pid(runtime) is None:
        return
    from completion.service.client import ServiceClient

    with ServiceClient("bench-memory", runtime) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = client.status().result(60)
            if not status.get("busy") and not status.get("queued"):
                return
            time.sleep(1)


def service_processes(runtime: Path) -> list[int]:
    """The service service.json names, and any other started for this runtime directory."""
    pids = {p.pid for p in services_for(runtime)}
    if (pid := service_pid(runtime)) is not None:
        pids.add(pid)
    return sorted(pids)


def run(label: str, pythonpath: Path | None, out: Path) -> dict[str, Any]:
    """The three front ends on one code base; memory after each one's first request."""
    report: dict[str, Any] = {"label": label, "steps": [], "answers": {}}
    with private_runtime(f"tw-mem-{label}-") as folder, ExitStack() as stack:
        runtime = folder / "run"
        workspace = folder / "workspace"
        workspace.mkdir()
        (workspace / "inventory.py").write_text(SOURCE, encoding="utf-8")
        dirs = {
            name: folder / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")
        }
        dirs["IPYTHONDIR"] = folder / "ipython"
        for path in dirs.values():
            path.mkdir()
        env = {**os.environ, **runtime_env(folder), **{name: str(path) for name, path in dirs.items()}}
        env.pop("JPY_PARENT_PID", None)
        env.pop("PYTHONPATH", None)
        if pythonpath is not None:
            env["PYTHONPATH"] = str(pythonpath)
        processes: dict[str, int] = {}

        def step(name: str, started: Callable[[], Any]) -> None:
            began = time.perf_counter()
            pid, answer = stack.enter_context(started())
            report["answers"][name] = {"text": answer[-1500:], "seconds": round(time.perf_counter() - began, 1)}
            print(f"  [{label}] {name}: {time.perf_counter() - began:.1f} s, answered {answer.strip()[-300:]!r}")
            processes[name] = pid
            settle(runtime)
            snapshot = {role: memory(p) for role, p in processes.items()}
            for number, p in enumerate(service_processes(runtime)):
                snapshot["tabwise service" + (f" #{number + 1}" if number else "")] = memory(p)
            report["steps"].append({"after": name, "clients": len(processes), "memory": snapshot})

        step("language server", lambda: language_server(env, workspace, out / f"{label}-lsp.log"))
        step("jupyter server", lambda: jupyter_server(env, workspace, out / f"{label}-jupyter.log"))
        step(
            "terminal kernel",
            lambda: terminal_kernel(
                env, workspace, dirs["JUPYTER_RUNTIME_DIR"] / "kernel-terminal.json", out / f"{label}-kernel.log"
            ),
        )
        service_log = runtime / "service.log"
        if service_log.exists():
            shutil.copy(service_log, out / f"{label}-service.log")
        stack.close()  # the front ends, in reverse order
        stop_services(runtime)
    return report


def before_tree(commit: str, folder: Path) -> Path:
    """The code of `commit` (git archive, no worktree), for PYTHONPATH."""
    archive = folder / "before.tar"
    with archive.open("wb") as output:
        subprocess.run(["git", "-C", str(REPO), "archive", commit], stdout=output, check=True, timeout=120)
    tree = folder / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    found = subprocess.run(
        [sys.executable, "-c", "import lsp_server, jupyter_ext, completion; print(completion.__file__)"],
        env={**os.environ, "PYTHONPATH": str(tree)}, cwd=folder, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert found.stdout.strip().startswith(str(tree)), f"the old code is not the one imported: {found.stdout}"
    return tree


def table(report: dict[str, Any]) -> list[str]:
    """The last snapshot as Markdown rows, with the totals."""
    final = report["steps"][-1]["memory"]
    rows = []
    for role, m in [*final.items(), ("**total**", total := {k: sum(m[k] for m in final.values()) for k in KEYS})]:
        rows.append(
            f"| {report['label']} | {role} | {m['rss']:.0f} | {m['pss']:.0f} | {m['uss']:.0f} | "
            f"{m['gguf_rss']:.0f} | {m['gguf_pss']:.0f} |"
        )
    report["total"] = total
    return rows


def show(results: dict[str, Any]) -> None:
    """The tables: every process at the end of each run, the ratios, the service as clients come."""
    print("\n| code | process | RSS MiB | PSS MiB | USS MiB | of RSS: GGUF pages | of PSS: GGUF pages |")
    print("|---|---|---|---|---|---|---|")
    for label in ("before", "after"):
        if label in results:
            print("\n".join(table(results[label])))
    for label in ("before", "after"):
        if label in results:  # what the machine holds for them: private memory, and the weights file's pages once
            final = results[label]["steps"][-1]["memory"].values()
            results[label]["held_once"] = results[label]["total"]["uss"] + max(m["gguf_rss"] for m in final)
            print(f"{label}: private memory + one copy of the GGUF's pages: {results[label]['held_once']:.0f} MiB")
    if "before" in results:
        b, a = results["before"], results["after"]
        ratios = {key: a["total"][key] / b["total"][key] for key in ("rss", "pss", "uss")}
        print(
            f"after / before: RSS x{ratios['rss']:.2f}, PSS x{ratios['pss']:.2f}, USS x{ratios['uss']:.2f}, "
            f"private + weights file once x{a['held_once'] / b['held_once']:.2f}"
        )
    print("\nthe service as clients come (after):")
    last = None
    for snapshot in results["after"]["steps"]:
        service = snapshot["memory"].get("tabwise service")
        if service:
            growth = f" (+{service['uss'] - last:.0f} USS)" if last is not None else ""
            print(
                f"  {snapshot['clients']} client(s), after the {snapshot['after']}'s request: "
                f"RSS {service['rss']:.0f}, PSS {service['pss']:.0f}, USS {service['uss']:.0f} MiB{growth}"
            )
            last = service["uss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit to measure as 'before' (default %(default)s)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--show", type=Path, help="only print the tables of an earlier run's --json")
    args = parser.parse_args()
    if args.show:
        show(json.loads(args.show.read_text()))
        return
    results: dict[str, Any] = {"before_commit": args.before}
    with tempfile.TemporaryDirectory(prefix="tw-mem-") as scratch:
        logs = args.logs or Path(scratch) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if not args.skip_before:
            tree = before_tree(args.before, Path(scratch))
            results["before"] = run("before", tree, logs)
        results["after"] = run("after", None, logs)
    show(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
