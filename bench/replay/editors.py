"""tabwise as the simulated user meets it: the real language server over stdio (the service it starts in a
private runtime directory), or an Engine in this process sent what the server sends the service (the
baseline for the service's cost). Both wait for the model to be loaded before the typing starts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from bench.processes import private_runtime, runtime_env, stop_services
from bench.replay.measure import REQUEST_S, Measure, replay
from bench.replay.tasks import PACKAGE, Task
from bench.replay.trace import TraceLog
from completion.service.rundir import RunDir
from completion.service.server import LOG_LEVEL_ENV
from completion.types import FimRequest


@dataclasses.dataclass
class EditorTypist(ABC):
    """A document in an editor: the cursor's position (LSP: 0-based line, UTF-16 column) and version; keys
    and accepts are edits at the cursor that a subclass sends (`_change`), after which they move on."""

    line: int
    column: int = 0
    version: int = 1

    def moved(self, text: str) -> None:
        from lsp_server.convert import after_insert

        after = after_insert(self.position(), text)
        self.line, self.column, self.version = after.line, after.character, self.version + 1

    def position(self) -> Any:
        from lsprotocol import types

        return types.Position(self.line, self.column)

    @abstractmethod
    def _change(self, text: str) -> None:
        """Send the edit that inserts `text` at the cursor (then call moved)."""

    async def type(self, text: str, key_s: float) -> None:
        for char in text:
            self._change(char)
            await asyncio.sleep(key_s)

    async def accept(self, text: str) -> None:
        self._change(text)

    def answered(self) -> dict[str, Any]:
        return {}  # the in-process engine's debug lines are not collected


class LspTypist(EditorTypist):
    """The real language server: didChange per key (and one per accept), inlineCompletion to ask."""

    def __init__(self, client: Any, uri: str, line: int, trace: TraceLog) -> None:
        super().__init__(line)
        self.client, self.uri, self.trace = client, uri, trace

    def _change(self, text: str) -> None:
        from lsprotocol import types

        position = self.position()
        self.moved(text)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri),
                [types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text=text)],
            )
        )

    async def ask(self) -> tuple[str, int]:
        from lsprotocol import types

        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=self.position(),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
        result = await asyncio.wait_for(self.client.text_document_inline_completion_async(params), REQUEST_S)
        status = await asyncio.wait_for(self.client.protocol.send_request_async("tabwise/status", {}), REQUEST_S)
        suggestion = result.items[0].insert_text if result and result.items else ""
        return (suggestion if isinstance(suggestion, str) else suggestion.value), int(status.lastEvaluatedTokens)

    def answered(self) -> dict[str, Any]:
        return self.trace.next_answered()


def run_tabwise(
    tasks_: list[Task], threads: int, measure: Measure, code: Path | None = None, workspace: bool = False
) -> Measure:
    """The language server, with the service it starts in a private runtime directory (stopped after);
    adds to `measure`. With `code` (a folder of tabwise's sources, another commit's worktree), the server
    and its service run that code, driven by this replay. With `workspace`, each task's file is opened in
    a copy of its package as the workspace folder (its other files on disk, the typed body not)."""
    with private_runtime("tw-replay-") as folder:
        project = _package_copy(folder / "project") if workspace else None
        try:
            run = _run_tabwise(tasks_, threads, measure, folder, code, project)
            return asyncio.run(asyncio.wait_for(run, 3 * 3600))
        finally:
            stop_services(folder / "run")


def _package_copy(project: Path) -> Path:
    """A project folder holding a copy of the tasks' package (jinja2), marked as a project root."""
    shutil.copytree(PACKAGE, project / PACKAGE.name)
    (project / "pyproject.toml").write_text('[project]\nname = "replay"\n', encoding="utf-8")
    return project


def _document(project: Path | None, number: int, task: Task, text: str) -> str:
    """The task's document, holding `text` (the task without the body the user types back): its own file in
    `project`, written so (no context read from disk holds the body), else a file that is nowhere on disk."""
    if project is None:
        return f"file:///replay/task{number}.py"
    path = project / PACKAGE.name / task.name.split(":", 1)[0]
    path.write_text(text, encoding="utf-8")
    return path.as_uri()


async def _run_tabwise(
    tasks_: list[Task], threads: int, measure: Measure, folder: Path, code: Path | None, project: Path | None
) -> Measure:
    """Each task in a document of its own, opened just before it is typed into and closed after (two tasks
    may be in the same file of the workspace); how each request was answered is read from the service's
    debug lines."""
    from lsprotocol import types

    client = await _started(threads, folder, code, project)
    trace = TraceLog(RunDir(folder / "run").log)
    trace.skip()
    for number, task in enumerate(tasks_):
        text = task.before + task.after
        uri = _document(project, number, task, text)
        item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        await replay(task, LspTypist(client, uri, task.before.count("\n"), trace), measure)
        closed = types.TextDocumentIdentifier(uri=uri)
        client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=closed))
    await asyncio.wait_for(client.shutdown_async(None), 30)
    client.exit(None)
    await asyncio.wait_for(client.stop(), 30)
    return measure


async def _started(threads: int, folder: Path, code: Path | None, project: Path | None) -> Any:
    """A language server (from `code` if given) initialized with the user's defaults (only `threads` set),
    its model loaded, its service logging a line per completion."""
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("typing-replay", "1")
    env = {**os.environ, **runtime_env(folder), LOG_LEVEL_ENV: "debug"}
    if code is not None:
        env["PYTHONPATH"] = str(code.resolve())
    await client.start_io(sys.executable, "-m", "lsp_server", env=env, cwd=str(folder))
    options = {"threads": threads}  # everything else as a user gets it
    root = project.as_uri() if project else None
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options=options, root_uri=root
    )
    await asyncio.wait_for(client.initialize_async(params), REQUEST_S)
    client.initialized(types.InitializedParams())
    deadline = time.monotonic() + REQUEST_S
    while time.monotonic() < deadline:  # the model loaded before the typing starts, as for the in-process run
        status = await asyncio.wait_for(client.protocol.send_request_async("tabwise/status", {}), REQUEST_S)
        if status.state == "ready":
            break
        if status.error:
            raise RuntimeError(f"the language server's service failed: {status.error}")
        await asyncio.sleep(0.2)
    return client


class EngineTypist(EditorTypist):
    """An Engine in this process, sent what the language server sends the service: per edit
    document_edited with the request at the cursor after it (what the warm-up evaluates), and to ask,
    complete with the server's limits on the request (its settings' defaults)."""

    def __init__(self, engine: Any, uri: str, path: str, task: Task) -> None:
        from pygls.workspace import TextDocument

        super().__init__(task.before.count("\n"))
        self.engine, self.uri, self.path = engine, uri, path
        self.document = TextDocument(uri, task.before + task.after, version=1, language_id="python")
        engine.document_opened(uri, path, self.document.source, "python", True, "")

    def _at(self) -> FimRequest:
        from lsp_server.convert import text_request

        request = text_request(self.document, self.position(), None)  # no workspace folder, as in the LSP run
        config = self.engine.config
        return dataclasses.replace(request, max_tokens=config.max_tokens, time_budget_ms=config.time_budget_ms)

    def _change(self, text: str) -> None:
        from lsprotocol import types

        position, line = self.position(), self.line
        self.document.apply_change(
            types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text=text)
        )
        self.moved(text)
        self.engine.document_edited(self.uri, self.path, self.document.source, line, self._at(), "")

    async def ask(self) -> tuple[str, int]:
        suggestion = self.engine.complete(self._at(), REQUEST_S)
        return suggestion.text, self.engine.status().last_evaluated_tokens


def run_in_process(tasks_: list[Task], threads: int, measure: Measure, config: Any = None) -> Measure:
    """The same user with an Engine in this process (EngineTypist), as the language server ran it before
    the service; adds to `measure`. `config` (an EngineConfig) replaces the server's settings, e.g. for a
    remote backend (bench/team.py)."""
    from completion.config import EngineConfig
    from completion.engine import Engine

    config = config or EngineConfig(n_threads=threads, preload=True)  # what the server's configure gives the service
    engine = Engine(config)
    try:
        engine.load(REQUEST_S)
        for number, task in enumerate(tasks_):
            typist = EngineTypist(engine, f"file:///replay/task{number}.py", f"task{number}.py", task)
            asyncio.run(replay(task, typist, measure))
            engine.document_closed(typist.uri, typist.path)
        return measure
    finally:
        engine.close()
