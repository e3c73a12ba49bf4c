"""The tabwise language server: inline completion, a completion fallback, and explain.

A thin client of the tabwise engine service (completion.service): this process never loads a model nor
imports llama.cpp. It reports the documents the editor opens and edits to the service (relative to the
workspace folder, its `root`) and forwards requests there; the service is found or started on demand,
and restarted by the client when it crashes.

Handlers are thin: find the document, make one service call, convert. The `answers` decorator is the
single error boundary: a bad request gets a proper LSP error; an engine or service problem (the service
crashed, a model is missing) is shown to the user once per distinct message (not on every keystroke) and
answered with an empty result, and the server keeps serving. Messages that cannot be read never reach a
handler: `lsp_server.protocol` answers those.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from completion.errors import Cancelled, RequestError, TabwiseError
from completion.languages import language_of
from completion.service.client import ServiceClient
from completion.service.configs import Configured
from completion.service.errors import ServiceLost, ServiceUnavailable
from completion.settings import Settings, engine_settings
from completion.types import ChunkKind, FimRequest
from lsp_server.convert import (
    BadRequest,
    after_insert,
    cell_request,
    check_position,
    check_text,
    completion_list,
    inline_list,
    notebook_text,
    root_text,
    text_request,
    uri_path,
)
from lsp_server.protocol import TabwiseProtocol, camel_case
from lsp_server.settings import limit, parse_settings

if TYPE_CHECKING:
    from pygls.server import ServerErrors  # pygls declares it for type checkers only

log = logging.getLogger(__name__)
EXPLAIN_COMMAND = "tabwise.explain"
STATUS_REQUEST = "tabwise/status"  # a custom request: the service's state, for status bars
STATUS_WAIT_S = 1.0  # a status the service has not given by then is "starting" (it is being started)
PRELOAD_WAIT_S = 300.0  # how long the load progress waits for the model (the real one: seconds to a minute)
R = TypeVar("R")


class TabwiseServer(LanguageServer):
    """A pygls server that reaches the engine through one ServiceClient."""

    protocol: TabwiseProtocol

    def __init__(self) -> None:
        notebooks = types.NotebookDocumentSyncOptions(
            notebook_selector=[
                types.NotebookDocumentFilterWithCells(cells=[types.NotebookCellLanguage(language="python")])
            ]
        )
        super().__init__("tabwise", "0.1.0", notebook_document_sync=notebooks, protocol_cls=TabwiseProtocol)
        self.settings = Settings()  # the client's settings, validated
        self.service: ServiceClient | None = None  # created at initialize; connects (or starts one) lazily
        self.no_service = "the server is not initialized"  # why there is no service client, while there is none
        self.service_seen = False  # a service answered a status once: one that does not answer now is restarting
        self.root: Path | None = None  # the workspace folder (absolute), for relative paths and other files
        self.shown_errors: set[str] = set()  # messages already shown, so each is shown once
        self.reports: set[asyncio.Task[None]] = set()  # tasks that show a service call's failure, kept alive

    def report_server_error(self, error: Exception, source: ServerErrors) -> None:
        """pygls's hook for a message it could not read: a body that is not JSON gets ParseError."""
        if not self.protocol.answer_unparsable(error):
            super().report_server_error(error, source)

    def require_service(self) -> ServiceClient:
        """The service client; RequestError before initialize (or when it could not be made)."""
        if self.service is None:
            raise RequestError(self.no_service)
        return self.service

    def tell_once(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """window/showMessage, but each distinct message only once per session; an inference server's
        failures are one message whatever their cause (refused, then reset, then timed out...)."""
        key = message.split(" is unavailable (", 1)[0]  # "the inference server at URL"
        if key not in self.shown_errors:
            self.shown_errors.add(key)
            self.window_show_message(types.ShowMessageParams(type=kind, message=f"tabwise: {message}"))

    def report(self, future: concurrent.futures.Future[R], warning: Callable[[R], str | None] = lambda _: None) -> None:
        """Show once what a service call that no request waits for failed with (a configure, say), or the
        `warning` its answer carries."""

        async def wait() -> None:
            try:
                answer = await asyncio.wrap_future(future)
            except Cancelled:
                return  # replaced by a newer call: that one reports
            except TabwiseError as exc:
                self.tell_once(str(exc))
                return
            if (message := warning(answer)) is not None:
                self.tell_once(message, types.MessageType.Warning)

        task = asyncio.ensure_future(wait())
        self.reports.add(task)
        task.add_done_callback(self.reports.discard)

    def configure(self) -> concurrent.futures.Future[Configured]:
        """Send the settings to the service (the client sends them again to a restarted one); shows once
        why the service keeps another front end's model settings, if it does."""
        future = self.require_service().configure(engine_settings(self.settings))
        self.report(future, lambda configured: configured.warning)
        return future

    def text_document(self, uri: str) -> TextDocument:
        """An open document; BadRequest for one the client never opened (pygls would read the disk)."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            raise BadRequest(f"{uri} is not open")
        return document

    def request_at(
        self, uri: str, position: types.Position, selected: types.SelectedCompletionInfo | None = None
    ) -> FimRequest:
        """The completion request for a cursor, in a text document or a notebook cell, with this client's
        limits (the service is shared: its own settings may be another client's)."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        if notebook is not None and selected is None:
            cells = self.notebook_cells(notebook)
            index = next(i for i, (cell, _) in enumerate(cells) if unquote(cell.document) == unquote(uri))
            request = cell_request(notebook, cells, index, position, self.root)
        else:
            request = text_request(self.text_document(uri), position, self.root, selected)
        return limit(self.settings, request)

    def notebook_cells(self, notebook: types.NotebookDocument) -> list[tuple[types.NotebookCell, TextDocument]]:
        """A notebook's cells with their text documents, in order."""
        return [(cell, self.text_document(cell.document)) for cell in notebook.cells]

    def notebook_source(self, uri: str) -> str | None:
        """A notebook's whole text as the engine sees it; None for one that is not open (or lacks a cell)."""
        notebook = self.workspace.get_notebook_document(notebook_uri=uri)
        try:
            return notebook_text(self.notebook_cells(notebook)) if notebook is not None else None
        except BadRequest:
            return None

    def disabled(self, language: str) -> bool:
        """True where the user turned completions off for the language."""
        return language in self.settings.disabled_languages

    def edit_request(self, uri: str, change: types.TextDocumentContentChangeEvent) -> FimRequest | None:
        """The request at the cursor after `change`, for the engine to warm; None where that place is
        unknown (a full change) or completions are off."""
        if not isinstance(change, types.TextDocumentContentChangePartial):
            return None
        try:
            request = self.request_at(uri, after_insert(change.range.start, change.text))
        except BadRequest:
            return None  # a change that does not fit the document: nothing to warm
        return None if self.disabled(request.language) else request

    def path_of(self, uri: str) -> str:
        """A document's path as the engine sees it: relative to the workspace folder."""
        return uri_path(uri, self.root)


server = TabwiseServer()


def answers(empty: Callable[[], R]) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """The error boundary for a handler: bad requests become InvalidParams; engine and service errors
    (ServiceLost when the service crashed) are shown once and answered with `empty()`."""

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
        ls.root = Path(unquote(urlparse(root_uri).path)).absolute()
    for problem in problems:
        ls.tell_once(problem, types.MessageType.Warning)
    try:
        ls.service = ServiceClient("lsp")  # connects on its own thread: the event loop never waits for it
    except TabwiseError as exc:  # e.g. a runtime directory others can read
        ls.no_service = str(exc)
        ls.tell_once(ls.no_service)
        return
    ls.configure()  # the first message to the service: documents and requests follow it


@server.feature(types.INITIALIZED)
async def initialized(ls: TabwiseServer, params: types.InitializedParams) -> None:
    if ls.settings.preload and ls.service is not None:
        await load_with_progress(ls)


async def load_with_progress(ls: TabwiseServer) -> None:
    """Report $/progress while the service loads the model (configure's `preload` makes it load now)."""
    token = str(uuid.uuid4())
    supported = bool(ls.client_capabilities.window and ls.client_capabilities.window.work_done_progress)
    if supported:
        await ls.work_done_progress.create_async(token)
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="tabwise: loading the model"))
    message = "stopped"
    try:
        status = await loaded_status(ls)
        if status.get("error"):
            message = str(status["error"])
            ls.tell_once(message)
        elif status.get("state") == "ready":
            message = f"{status.get('model')} ready ({status.get('device')})"
    finally:
        if supported:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


async def loaded_status(ls: TabwiseServer) -> dict[str, Any]:
    """The service's status once its model is loaded or failed to load (or PRELOAD_WAIT_S passed)."""
    deadline = time.monotonic() + PRELOAD_WAIT_S
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await service_status(ls)
        if status.get("state") in ("ready", "error", "unavailable") or status.get("error"):
            break
        await asyncio.sleep(0.1)
    return status


async def service_status(ls: TabwiseServer) -> dict[str, Any]:
    """The service's status summary (see completion.service.protocol), or what the client knows while the
    service is starting, restarting after a crash, or given up."""
    try:
        summary = await asyncio.wait_for(asyncio.wrap_future(ls.require_service().status()), STATUS_WAIT_S)
        ls.service_seen = True
        return summary
    except asyncio.TimeoutError:  # the client is starting a service: a first one, or one after a crash
        return {"state": "restarting" if ls.service_seen else "starting", "error": None, "service": {"pid": None}}
    except ServiceUnavailable as exc:  # crashed too often: the client stopped restarting it
        return {"state": "unavailable", "error": str(exc), "service": {"pid": None}}
    except ServiceLost as exc:
        return {"state": "restarting", "error": None, "message": str(exc), "service": {"pid": None}}
    except TabwiseError as exc:  # it could not be started, or answered an error
        return {"state": "error", "error": str(exc), "service": {"pid": None}}


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
@answers(lambda: types.InlineCompletionList(items=[]))
async def inline_completion(ls: TabwiseServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    selected = params.context.selected_completion_info if params.context else None
    request = ls.request_at(params.text_document.uri, params.position, selected)
    if ls.disabled(request.language):
        return types.InlineCompletionList(items=[])
    suggestion = await asyncio.wrap_future(ls.require_service().complete(request))  # cancelling cancels it there
    return inline_list(suggestion, params.position, selected)


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))
@answers(lambda: types.CompletionList(is_incomplete=True, items=[]))
async def completion(ls: TabwiseServer, params: types.CompletionParams) -> types.CompletionList:
    request = ls.request_at(params.text_document.uri, params.position)
    if ls.disabled(request.language):
        return types.CompletionList(is_incomplete=False, items=[])
    return completion_list(await asyncio.wrap_future(ls.require_service().complete(request)))


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
    stream = ls.require_service().explain(code, document.language_id or "", ls.path_of(document.uri))
    token = str(uuid.uuid4())
    await ls.work_done_progress.create_async(token)
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="tabwise: explaining", cancellable=True))
    answer: list[str] = []
    try:
        async for chunk in stream:  # a cancelled request stops the stream, and the generation with it
            if chunk.kind is ChunkKind.ANSWER:
                answer.append(chunk.text)
                ls.work_done_progress.report(token, types.WorkDoneProgressReport(message="".join(answer)))
    finally:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
    return stream.result().answer  # finished: raises the request's error, if it had one


@server.feature(STATUS_REQUEST)
async def status(ls: TabwiseServer, params: object) -> dict[str, Any]:
    """The service's state for a status bar: loading or ready, the model, the last latency; "starting",
    "restarting" (after a crash) or "unavailable" (crashed too often) while there is no service to ask."""
    if ls.service is None:
        return {"state": "error", "error": ls.no_service}
    return camel_keys(await service_status(ls))


def camel_keys(summary: dict[str, Any]) -> dict[str, Any]:
    """A status summary with camelCase keys, as LSP clients expect (nested ones too)."""
    return {camel_case(k): camel_keys(v) if isinstance(v, dict) else v for k, v in summary.items()}


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: TabwiseServer, params: types.DidChangeConfigurationParams) -> None:
    ls.settings, problems = parse_settings(params.settings, ls.settings)
    for problem in problems:
        ls.tell_once(problem, types.MessageType.Warning)
    if ls.service is not None:
        ls.configure()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: TabwiseServer, params: types.DidOpenTextDocumentParams) -> None:
    """The engine takes the text as context and warms the end of the file (where code is most often added)."""
    item, path = params.text_document, ls.path_of(params.text_document.uri)
    language = item.language_id or language_of(path)
    if ls.service is not None:
        ls.service.opened(item.uri, path, item.text, language, not ls.disabled(language), root_text(ls.root))


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: TabwiseServer, params: types.DidChangeTextDocumentParams) -> None:
    """The engine takes the new text and warms the place of the edit as its warm-up policy says."""
    document = ls.workspace.text_documents.get(unquote(params.text_document.uri))
    if document is not None and ls.service is not None and params.content_changes:
        change = params.content_changes[-1]  # pygls applied them all: positions refer to the text now
        line = change.range.start.line if isinstance(change, types.TextDocumentContentChangePartial) else None
        at = ls.edit_request(document.uri, change)
        ls.service.edited(document.uri, ls.path_of(document.uri), document.source, line, at, root_text(ls.root))


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: TabwiseServer, params: types.DidCloseTextDocumentParams) -> None:
    """The engine forgets the document; the file on disk is context again."""
    uri = params.text_document.uri
    if ls.service is not None:
        ls.service.closed(uri, ls.path_of(uri), root_text(ls.root))


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: TabwiseServer, params: types.DidOpenNotebookDocumentParams) -> None:
    """A notebook is one document to the engine: its cells in percent format, its end warmed."""
    uri, text = params.notebook_document.uri, ls.notebook_source(params.notebook_document.uri)
    if text is not None and ls.service is not None:
        ls.service.opened(uri, ls.path_of(uri), text, "python", not ls.disabled("python"), root_text(ls.root))


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: TabwiseServer, params: types.DidChangeNotebookDocumentParams) -> None:
    """The notebook's text now; the place of a cell's edit is warmed as for a text document."""
    uri, text = params.notebook_document.uri, ls.notebook_source(params.notebook_document.uri)
    if text is None or ls.service is None:
        return
    edits = params.change.cells.text_content if params.change.cells else None
    at = ls.edit_request(edits[-1].document.uri, edits[-1].changes[-1]) if edits and edits[-1].changes else None
    ls.service.edited(uri, ls.path_of(uri), text, None, at, root_text(ls.root))


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: TabwiseServer, params: types.DidCloseNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    if ls.service is not None:
        ls.service.closed(uri, ls.path_of(uri), root_text(ls.root))


@server.feature(types.SHUTDOWN)
def shutdown(ls: TabwiseServer, params: None) -> None:
    """Disconnect from the service (which exits once no client is left for a while)."""
    if ls.service is not None:
        ls.service.close()


def private_stdout() -> BinaryIO:
    """The protocol's own copy of stdout; file descriptor 1 then points at stderr.

    Anything that prints to stdout (a library, native code) would corrupt the protocol stream; the model
    runs in the service, but a stray print here must not cost a request its answer either.
    """
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol
