"""HTTP and websocket handlers: each a few lines over the service client, every one authenticated and
authorized by Jupyter.

Authorization is Jupyter's own: every route asks the server's Authorizer about the `tabwise` resource
(`read` for the status, `write` for the POST routes, `execute` for the websocket) before it reads a
body or asks the service, so an Authorizer that denies gets 403 and nothing else. A kernel's variables
(a status's summary, a completion's notes) are only for a user it lets `execute` on `kernels`.

One error boundary, `handle_request_and_catch`, wraps every route and websocket message; `failure()`
maps what went wrong: bad bodies and requests become 400, a missing or broken model 503 with what to
do, a service that stopped (crashed, killed), cannot be reached or did not answer in time, or a remote
backend's inference server that cannot, 503 with what happened, and nothing else escapes as a
traceback. Each handler only says how to tell its client (`tell_failure`): the HTTP routes raise an
HTTP error; a stream that has begun ends with an error line; the websocket replies to the request.
Streams are newline-delimited JSON. A client that goes away (or a kernel interrupt that closes the
connection) cancels its stream or completion in the engine; a newer completion for a notebook
supersedes the older, which is answered empty.

JupyterLab asks for a completion as the user types in a cell, so each completion request is also the
report of an edit there (`report_typing`): the engine's typing rhythm and warm-up policy see notebooks
as they see editors. Requests carry the server's root folder, so a notebook's sibling modules are context,
and, from a notebook with a running kernel, the kernel's variables as notes (`kernel_context`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web, websocket
from tornado.iostream import StreamClosedError

from completion.errors import (
    BackendUnavailable,
    Cancelled,
    ModelFileError,
    ModelLoadError,
    RequestError,
    TabwiseError,
)
from completion.service.client import ServiceClient, ServiceStream
from completion.service.errors import (
    ServiceLost,
    ServiceStartError,
    ServiceTimeout,
    ServiceUnavailable,
    ServiceVersionError,
)
from completion.types import FimRequest, StopReason, Suggestion
from jupyter_ext import wire
from jupyter_ext.kernel_context import KernelSummaries

log = logging.getLogger(__name__)
AUTH_RESOURCE = "tabwise"  # what the server's Authorizer is asked about, for every route
SERVICE_DOWN = (ServiceLost, ServiceUnavailable, ServiceStartError, ServiceVersionError, ServiceTimeout)  # 503
CANCELLED = (Cancelled, concurrent.futures.CancelledError)  # by the client, or superseded by a newer request
FAILURES = (wire.BadBody, TabwiseError, concurrent.futures.CancelledError)  # what the boundary tells clients
Tell = Callable[[BaseException, int, str], None]  # tells a client what went wrong: the error, its status, message


def failure(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and the message for what went wrong: the one mapping, for every route and the websocket."""
    if isinstance(exc, (wire.BadBody, RequestError)):
        return 400, str(exc)
    if isinstance(exc, (ModelFileError, ModelLoadError)):
        return 503, f"no model to answer with: {exc}"
    if isinstance(exc, BackendUnavailable):  # the shared inference server: its URL and what is wrong
        return 503, str(exc)
    if isinstance(exc, SERVICE_DOWN):
        return 503, str(exc)
    if isinstance(exc, CANCELLED):
        return 409, f"cancelled: {exc}" if str(exc) else "cancelled"
    return 500, str(exc)


@contextlib.contextmanager
def handle_request_and_catch(tell: Tell) -> Iterator[None]:
    """The front end's one error boundary: a failure (see `failure`) is told to the client by `tell`, with
    a status and a message that say what happened or what to do. Anything else is a bug and escapes
    (Jupyter logs it and answers 500)."""
    try:
        yield
    except FAILURES as exc:
        code, message = failure(exc)
        tell(exc, code, message)


class ServiceHandlerMixin(ExtensionHandlerMixin):
    """The server's one client of the tabwise service, and the folder requests are relative to."""

    @property
    def service(self) -> ServiceClient:
        return self.settings["tabwise_service"]

    async def ready(self) -> ServiceClient:
        """The client once the service took this server's settings (and, with preload, loaded the model), so
        that no request runs on other settings; a failure to configure is the request's own to report."""
        with contextlib.suppress(TabwiseError):
            await asyncio.wrap_future(self.settings["tabwise_configured"])
        return self.service

    @property
    def root(self) -> str:
        """The Jupyter server's root_dir, absolute: where a notebook's sibling modules are read from."""
        return self.settings["tabwise_root"]

    async def kernels(self) -> KernelSummaries | None:
        """The summaries of notebooks' kernels, if this user may have them: a summary is what a kernel holds,
        made by running code in it, so Jupyter's `execute` on `kernels` is asked first (None: no kernels)."""
        kernels: KernelSummaries | None = self.settings.get("tabwise_kernels")
        handler: Any = self  # a JupyterHandler: its Authorizer and user
        allowed = kernels is not None and await ensure_async(
            handler.authorizer.is_authorized(handler, handler.current_user, "execute", "kernels")
        )
        return kernels if allowed else None

    async def with_kernel_notes(self, request: FimRequest) -> FimRequest:
        """`request` with the variables of its notebook's running kernel as notes (none without one)."""
        notes = await kernels.notes(request.path) if (kernels := await self.kernels()) is not None else ""
        return replace(request, notes=notes) if notes else request


class TabwiseHandler(ServiceHandlerMixin, APIHandler):
    """Shared by the HTTP routes: the service, the streams in flight, and the error boundary."""

    auth_resource = AUTH_RESOURCE

    @property
    def streams(self) -> dict[str, ServiceStream]:
        """Streams in flight by id, so that `cancel` can reach them."""
        return self.settings["tabwise_streams"]

    def tell_failure(self, exc: BaseException, code: int, message: str) -> None:
        """What went wrong, as the HTTP error the route answers."""
        raise web.HTTPError(code, message) from exc


Route = TypeVar("Route", bound=Callable[..., Awaitable[None]])


def api_route(method: Route) -> Route:
    """A route's method behind Jupyter's authentication, then its Authorizer (the `tabwise` resource, the
    action by HTTP method), then the error boundary; so no route can leave one out."""

    @functools.wraps(method)
    async def guarded(self: TabwiseHandler) -> None:
        with handle_request_and_catch(self.tell_failure):
            await method(self)

    return web.authenticated(authorized(guarded))  # type: ignore[return-value]


def report_typing(service: ServiceClient, request: FimRequest) -> None:
    """Tell the engine the user typed where `request` is: the notebook (or file) as one text, the edit on
    the cursor's line (0-based), and `request` as the place to warm. Not waited for: the service applies
    it before the completion sent after it."""
    document, text = request.document or request.path, request.prefix + request.suffix
    service.edited(document, request.path, text, request.prefix.count("\n"), request, root=request.root)


class StatusHandler(TabwiseHandler):
    @api_route
    async def get(self) -> None:
        """The model, where it runs, the queue, and the service (its pid, its clients); with `?path=` a
        notebook's, the last summary of its kernel's variables that completions there were given."""
        status = await asyncio.wrap_future(self.service.status())
        path = self.get_query_argument("path", None)
        if path is not None and (kernels := await self.kernels()) is not None:
            status["kernel_summary"] = kernels.last(path)
        self.finish(status)


class CompleteHandler(TabwiseHandler):
    """One completion for a prefix/suffix (with the notebook's other cells as context). A newer request for
    the same notebook supersedes it, which is answered empty (as the LSP server answers); a client that
    goes away cancels it in the engine."""

    pending: concurrent.futures.Future[Suggestion] | None = None  # the request in the service
    gone = False  # the client closed the connection

    @api_route
    async def post(self) -> None:
        request = wire.fim_request(wire.parse_json(self.request.body), root=self.root)
        request = replace(await self.with_kernel_notes(request), document=http_document(self.root, request.path))
        service = await self.ready()
        report_typing(service, request)
        self.pending = service.complete(request)
        if self.gone:  # it went away while the request was being prepared
            self.pending.cancel()
        answer = asyncio.wrap_future(self.pending)
        await asyncio.wait([answer])  # not `await answer`: ending cancelled is an answer here
        if answer.cancelled() or isinstance(answer.exception(), Cancelled):
            suggestion = Suggestion("", StopReason.CANCELLED)  # superseded, or the client is gone (nobody reads it)
        else:
            suggestion = answer.result()
        self.finish(wire.suggestion_json(suggestion))

    def on_connection_close(self) -> None:
        self.gone = True
        if self.pending is not None:
            self.pending.cancel()
        super().on_connection_close()


def http_document(root: str, path: str) -> str:
    """The engine's identity for a notebook (or file) asked about over HTTP: the same for every request
    there, so the newest supersedes the others; the root tells apart servers that share the service."""
    return f"jupyter-http:{root}/{path}"


class ChatStreamHandler(TabwiseHandler):
    """Streams an answer as newline-delimited JSON: tokens, then `done` (or `error`)."""

    route: str  # "ask" or "explain": which body it reads (wire.open_chat)
    stream: ServiceStream | None = None
    begun = False  # the status and the first lines are sent: a failure now is the stream's last line

    @api_route
    async def post(self) -> None:
        data = wire.parse_json(self.request.body)
        stream_id = wire.field(data, "id", str, "") or str(uuid.uuid4())
        open_stream = wire.open_chat(self.route, data)  # the body is checked before waiting for the service
        self.stream = open_stream(await self.ready())
        self.streams[stream_id] = self.stream
        try:
            await self.relay(self.stream, stream_id)
        except StreamClosedError:
            log.info("stream %s: the client went away; generation cancelled", stream_id)
        finally:
            self.stream.cancel()
            self.streams.pop(stream_id, None)
        if not self._finished:
            self.finish()

    async def relay(self, stream: ServiceStream, stream_id: str) -> None:
        """Send the answer's lines as they come, then `done` with the whole answer. A failure before its
        first token (a bad request, no service) is still an HTTP error; after it, the last line says what
        happened (cancelled, the service stopped), see `tell_failure`."""
        chunks = aiter(stream)
        first = await anext(chunks, None)
        if first is None:
            stream.result()  # raises the failure, for the error boundary
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("X-Tabwise-Stream", stream_id)
        self.begun = True
        if first is not None:
            await self.send_line(wire.chunk_line(first))
        async for chunk in chunks:
            await self.send_line(wire.chunk_line(chunk))
        await self.send_line(wire.done_line(stream.result()))

    async def send_line(self, message: dict[str, Any]) -> None:
        self.write(json.dumps(message) + "\n")
        await self.flush()

    def tell_failure(self, exc: BaseException, code: int, message: str) -> None:
        """An HTTP error until the stream has begun; then its last line (sent as the response finishes,
        quietly if the client is gone)."""
        if not self.begun:
            super().tell_failure(exc, code, message)
        self.write(json.dumps(wire.error_line(message)) + "\n")

    def on_connection_close(self) -> None:
        """The client closed the connection (a kernel interrupt does): stop generating at once."""
        if self.stream is not None:
            self.stream.cancel()
        super().on_connection_close()


class AskHandler(ChatStreamHandler):
    route = "ask"


class ExplainHandler(ChatStreamHandler):
    route = "explain"


class CancelHandler(TabwiseHandler):
    @api_route
    async def post(self) -> None:
        """Cancel the stream with this id (given by the client, or from the X-Tabwise-Stream header)."""
        stream_id = wire.field(wire.parse_json(self.request.body), "id", str, required=True)
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.cancel()
        self.finish({"cancelled": stream is not None})


class InlineCompletionHandler(WebSocketMixin, websocket.WebSocketHandler, ServiceHandlerMixin, JupyterHandler):
    """jupyter-ai 2.x's inline completion websocket: numbered requests, streamed items, errors, cancel."""

    auth_resource = AUTH_RESOURCE
    jobs: dict[int, asyncio.Task[None]]
    document: str  # this connection's identity in the service (unique among all its clients): one user's cursor
    path: str | None  # the notebook (or file) of its last request, once there was one

    @ws_authenticated
    @authorized("execute")  # as Jupyter's kernel and event websockets: a request is `execute` on the resource
    async def get(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # authorized() is untyped
        self.jobs, self.document, self.path = {}, f"jupyter-ws-{uuid.uuid4().hex}", None
        await super().get(*args, **kwargs)

    def on_message(self, message: str | bytes) -> None:
        with handle_request_and_catch(self.tell_unreadable):
            parsed = wire.parse_inline(message)
            if parsed.kind == "cancel":
                if (task := self.jobs.pop(parsed.number, None)) is not None:
                    task.cancel()  # cancels the request in the service
                return
            work = self.warm(parsed) if parsed.kind == "warm" else self.answer(parsed)
            self.jobs[parsed.number] = asyncio.ensure_future(work)

    def tell_unreadable(self, exc: BaseException, code: int, message: str) -> None:
        """A message that is no request: an error for request -1 (it has no number of its own to answer)."""
        self.write_message(wire.inline_reply(-1, None, message))

    async def warm(self, message: wire.InlineMessage) -> None:
        """The user is at a new place (a cell they moved to): tell the engine, whose warm-up policy evaluates
        the prompt there ahead of the first request. No reply; a bad one is only logged."""
        try:
            with handle_request_and_catch(functools.partial(self.tell_not_warmed, message)):
                request = wire.fim_request(message.data or {}, document=self.document, root=self.root)
                request = await self.with_kernel_notes(request)  # as the request after it will have them
                report_typing(await self.ready(), request)
                self.path = request.path
        finally:
            self.jobs.pop(message.number, None)

    def tell_not_warmed(self, message: wire.InlineMessage, exc: BaseException, code: int, why: str) -> None:
        """A warm-up has no reply: why it was not sent is only logged."""
        log.debug("warm-up %s not sent: %s", message.number, why)

    async def answer(self, message: wire.InlineMessage) -> None:
        """Complete request `number`; streamed requests get the item first, then its final text."""
        number = message.number
        try:
            with handle_request_and_catch(functools.partial(self.tell_failure, message)):
                request = wire.fim_request(message.data or {}, document=self.document, root=self.root)
                request = await self.with_kernel_notes(request)
                service = await self.ready()
                report_typing(service, request)
                self.path = request.path
                if message.stream:
                    self.write_message(wire.inline_reply(number, "", streaming=True))
                suggestion = await asyncio.wrap_future(service.complete(request))
                if message.stream:
                    self.write_message(wire.inline_chunk(number, suggestion.text, done=True))
                else:
                    self.write_message(wire.inline_reply(number, suggestion.text))
        except websocket.WebSocketClosedError:
            log.debug("inline request %s: the client closed the connection before the answer", number)
        finally:
            self.jobs.pop(number, None)

    def tell_failure(self, message: wire.InlineMessage, exc: BaseException, code: int, why: str) -> None:
        """Request `message` failed: its error. A cancelled one (superseded, or cancelled by the client) has
        none: a streamed one gets its end, empty."""
        if not isinstance(exc, CANCELLED):
            self.write_message(wire.inline_reply(message.number, None, why))
        elif message.stream:
            self.write_message(wire.inline_chunk(message.number, "", done=True))

    def on_close(self) -> None:
        """A closed connection cancels everything it asked for, and the engine forgets its document."""
        for task in self.jobs.values():
            task.cancel()
        self.jobs.clear()
        if self.path is not None:
            self.service.closed(self.document, self.path, root=self.root)
