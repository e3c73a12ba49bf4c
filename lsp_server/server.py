"""The tabwise language server: inline completion, a completion fallback, and explain.

Handlers are thin: find the document, make one engine call, convert. The `answers` decorator is the
single error boundary: a bad request gets a proper LSP error, an engine problem is shown to the user
once (not on every keystroke) and answered with an empty result, and the server keeps serving.
Messages that cannot be read never reach a handler: `lsp_server.protocol` answers those.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from completion.engine import Engine
from completion.errors import Cancelled, RequestError, TabwiseError
from completion.languages import language_of
from completion.types import ChunkKind, FimRequest
from completion.workspace import Workspace
from lsp_server.convert import (
    BadRequest,
    after_insert,
    cell_request,
    check_position,
    check_text,
    completion_list,
    inline_list,
    text_request,
    uri_path,
)
from lsp_server.protocol import TabwiseProtocol, camel_case
from lsp_server.settings import Settings, parse_settings

if TYPE_CHECKING:
    from pygls.server import ServerErrors  # pygls declares it for type checkers only

log = logging.getLogger(__name__)
EXPLAIN_COMMAND = "tabwise.explain"
STATUS_REQUEST = "tabwise/status"  # a custom request: the engine's state, for status bars
R = TypeVar("R")


class TabwiseServer(LanguageServer):
    """A pygls server that owns one engine."""

    protocol: TabwiseProtocol

    def __init__(self) -> None:
        notebooks = types.NotebookDocumentSyncOptions(
            notebook_selector=[
                types.NotebookDocumentFilterWithCells(cells=[types.NotebookCellLanguage(language="python")])
            ]
        )
        super().__init__("tabwise", "0.1.0", notebook_document_sync=notebooks, protocol_cls=TabwiseProtocol)
        self.settings = Settings()  # the client's settings, validated
        self.engine: Engine | None = None  # created at initialize, with the client's settings
        self.root: Path | None = None  # the workspace folder, for relative paths and other files
        self.shown_errors: set[str] = set()  # messages already shown, so each is shown once

    def report_server_error(self, error: Exception, source: ServerErrors) -> None:
        """pygls's hook for a message it could not read: a body that is not JSON gets ParseError."""
        if not self.protocol.answer_unparsable(error):
            super().report_server_error(error, source)

    def require_engine(self) -> Engine:
        """The engine; RequestError before initialize."""
        if self.engine is None:
            raise RequestError("the server is not initialized")
        return self.engine

    def tell_once(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """window/showMessage, but each distinct message only once per session."""
        if message not in self.shown_errors:
            self.shown_errors.add(message)
            self.window_show_message(types.ShowMessageParams(type=kind, message=f"tabwise: {message}"))

    def text_document(self, uri: str) -> TextDocument:
        """An open document; BadRequest for one the client never opened (pygls would read the disk)."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            raise BadRequest(f"{uri} is not open")
        return document

    def request_at(
        self, uri: str, position: types.Position, selected: types.SelectedCompletionInfo | None = None
    ) -> FimRequest:
        """The completion request for a cursor, in a text document or a notebook cell."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        if notebook is not None and selected is None:
            cells = [(cell, self.text_document(cell.document)) for cell in notebook.cells]
            index = next(i for i, (cell, _) in enumerate(cells) if unquote(cell.document) == unquote(uri))
            return cell_request(notebook, cells, index, position, self.root)
        return text_request(self.text_document(uri), position, self.root, selected)

    def disabled(self, language: str) -> bool:
        """True where the user turned completions off for the language."""
        return language in self.settings.disabled_languages

    def edit_request(self, document: TextDocument, change: types.TextDocumentContentChangeEvent) -> FimRequest | None:
        """The request at the cursor after `change`, for the engine to warm; None where that place is
        unknown (a full change) or completions are off."""
        if not isinstance(change, types.TextDocumentContentChangePartial):
            return None
        try:
            request = text_request(document, after_insert(change.range.start, change.text), self.root)
        except BadRequest:
            return None  # a change that does not fit the document: nothing to warm
        return None if self.disabled(request.language) else request


server = TabwiseServer()


def answers(empty: Callable[[], R]) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """The error boundary for a handler: bad requests become InvalidParams, engine errors `empty()`."""

    def wrap(handler: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(handler)  # keeps the signature: pygls structures command arguments from it
        async def guarded(ls: TabwiseServer, *params: Any) -> R:
            try:
                return await handler(ls, *params)
            except BadRequest as exc:
                raise JsonRpcInvalidParams(str(exc)) from exc
            except TabwiseError as exc:
                if not isinstance(exc, Cancelled):  # superseded: the newer request answers
                    ls.tell_once(str(exc))
                return empty()

        return guarded

    return wrap


@server.feature(types.INITIALIZE)
def initialize(ls: TabwiseServer, params: types.InitializeParams) -> None:
    ls.settings, problems = parse_settings(params.initialization_options)
    folders = params.workspace_folders or []
    root_uri = folders[0].uri if folders else params.root_uri
    if root_uri and urlparse(root_uri).scheme == "file":
        ls.root = Path(unquote(urlparse(root_uri).path))
    ls.engine = Engine(ls.settings.engine_config(), workspace=Workspace(ls.root))
    for problem in problems:
        ls.tell_once(problem, types.MessageType.Warning)


@server.feature(types.INITIALIZED)
async def initialized(ls: TabwiseServer, params: types.InitializedParams) -> None:
    if ls.settings.preload:
        await load_with_progress(ls)


async def load_with_progress(ls: TabwiseServer) -> None:
    """Load the model, reporting $/progress; a failure is shown once and retried on the next request."""
    engine = ls.require_engine()
    token = str(uuid.uuid4())
    supported = bool(ls.client_capabilities.window and ls.client_capabilities.window.work_done_progress)
    if supported:
        await ls.work_done_progress.create_async(token)
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="tabwise: loading the model"))
    message = "stopped"
    try:
        info = await asyncio.get_running_loop().run_in_executor(None, engine.load)
        message = f"{info.name} ready ({'GPU' if info.gpu_layers else 'CPU'}, {info.load_ms / 1000:.1f} s)"
    except TabwiseError as exc:
        message = str(exc)
        ls.tell_once(message)
    finally:
        if supported:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
@answers(lambda: types.InlineCompletionList(items=[]))
async def inline_completion(ls: TabwiseServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    selected = params.context.selected_completion_info if params.context else None
    request = ls.request_at(params.text_document.uri, params.position, selected)
    if ls.disabled(request.language):
        return types.InlineCompletionList(items=[])
    suggestion = await ls.require_engine().complete_async(request)
    return inline_list(suggestion, params.position, selected)


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))
@answers(lambda: types.CompletionList(is_incomplete=True, items=[]))
async def completion(ls: TabwiseServer, params: types.CompletionParams) -> types.CompletionList:
    request = ls.request_at(params.text_document.uri, params.position)
    if ls.disabled(request.language):
        return types.CompletionList(is_incomplete=False, items=[])
    return completion_list(await ls.require_engine().complete_async(request))


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.Empty])
)
def code_action(ls: TabwiseServer, params: types.CodeActionParams) -> list[types.Command]:
    """ "Explain with tabwise" on a selection: a bare Command, which every client reads unambiguously."""
    if params.range.start == params.range.end:
        return []  # explain acts on a selection
    arguments = [params.text_document.uri, params.range]
    return [types.Command(title="Explain with tabwise", command=EXPLAIN_COMMAND, arguments=arguments)]


@server.command(EXPLAIN_COMMAND)
@answers(lambda: "")
async def explain(ls: TabwiseServer, uri: str, selection: types.Range) -> str:
    """Explain the code in [uri, range]: the answer streams as $/progress and returns as Markdown."""
    document = ls.text_document(uri)
    check_text(document)
    check_position(document, selection.start)
    check_position(document, selection.end)
    code = document.source[document.offset_at_position(selection.start) : document.offset_at_position(selection.end)]
    path = uri_path(document.uri, ls.root)
    stream = ls.require_engine().explain(code, document.language_id or "", path)
    token = str(uuid.uuid4())
    await ls.work_done_progress.create_async(token)
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="tabwise: explaining", cancellable=True))
    answer: list[str] = []
    loop = asyncio.get_running_loop()
    chunks = iter(stream)
    try:
        while (chunk := await loop.run_in_executor(None, next, chunks, None)) is not None:
            if chunk.kind is ChunkKind.ANSWER:
                answer.append(chunk.text)
                ls.work_done_progress.report(token, types.WorkDoneProgressReport(message="".join(answer)))
    except asyncio.CancelledError:
        stream.cancel()
        raise
    finally:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
    return stream.result().answer


@server.feature(STATUS_REQUEST)
def status(ls: TabwiseServer, params: object) -> dict[str, Any]:
    """The engine's state for a status bar: loading or ready, the model, the last latency."""
    summary = ls.require_engine().status().summary()
    return {camel_case(key): value for key, value in summary.items()}


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: TabwiseServer, params: types.DidChangeConfigurationParams) -> None:
    ls.settings, problems = parse_settings(params.settings, ls.settings)
    for problem in problems:
        ls.tell_once(problem, types.MessageType.Warning)
    engine = ls.require_engine()
    engine.reconfigure(ls.settings.engine_config(engine.config))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: TabwiseServer, params: types.DidOpenTextDocumentParams) -> None:
    """The engine takes the text as context and warms the end of the file (where code is most often added)."""
    item, path = params.text_document, uri_path(params.text_document.uri, ls.root)
    language = item.language_id or language_of(path)
    if ls.engine is not None:
        ls.engine.document_opened(item.uri, path, item.text, language, warm=not ls.disabled(language))


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: TabwiseServer, params: types.DidChangeTextDocumentParams) -> None:
    """The engine takes the new text and warms the place of the edit as its warm-up policy says."""
    document = ls.workspace.text_documents.get(unquote(params.text_document.uri))
    if document is not None and ls.engine is not None and params.content_changes:
        change = params.content_changes[-1]  # pygls applied them all: positions refer to the text now
        line = change.range.start.line if isinstance(change, types.TextDocumentContentChangePartial) else None
        path = uri_path(document.uri, ls.root)
        ls.engine.document_edited(document.uri, path, document.source, line, ls.edit_request(document, change))


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: TabwiseServer, params: types.DidCloseTextDocumentParams) -> None:
    """The engine forgets the document; the file on disk is context again."""
    if ls.engine is not None:
        ls.engine.document_closed(params.text_document.uri, uri_path(params.text_document.uri, ls.root))


@server.feature(types.SHUTDOWN)
def shutdown(ls: TabwiseServer, params: None) -> None:
    if ls.engine is not None:
        ls.engine.close()


def main(argv: list[str] | None = None) -> None:
    """Run over stdio (default) or TCP (`--tcp HOST:PORT`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="tabwise lsp", description="Run the tabwise language server.")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # stderr; pygls logs every message at INFO
    logging.getLogger("completion").setLevel(logging.INFO)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io(sys.stdin.buffer, private_stdout())


def private_stdout() -> BinaryIO:
    """The protocol's own copy of stdout; file descriptor 1 then points at stderr.

    llama-cpp-python silences llama.cpp by pointing descriptors 1 and 2 at /dev/null while it loads a
    model, for the whole process: a response written to stdout meanwhile would be lost and its request
    would never be answered. Native code printing to stdout would corrupt the stream as well.
    """
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol
