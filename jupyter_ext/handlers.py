"""HTTP and websocket handlers: every one authenticated by Jupyter, each a few lines over the engine.

`TabwiseHandler` is the single error boundary: bad bodies and requests become 400, a missing or broken
model 503 with what to do, and nothing else escapes as a traceback. Streams are newline-delimited JSON;
a client that goes away (or a kernel interrupt that closes the connection) cancels the generation.

JupyterLab asks for a completion as the user types in a cell, so each completion request is also the
report of an edit there (`report_typing`): the engine's typing rhythm and warm-up policy see notebooks
as they see editors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web, websocket
from tornado.iostream import StreamClosedError

from completion.engine import Engine
from completion.errors import Cancelled, ModelFileError, ModelLoadError, RequestError, TabwiseError
from completion.stream import ChatStream
from completion.types import FimRequest
from jupyter_ext import wire

log = logging.getLogger(__name__)


class EngineHandlerMixin(ExtensionHandlerMixin):
    """The server's one engine, for every handler."""

    @property
    def engine(self) -> Engine:
        return self.settings["tabwise_engine"]


class TabwiseHandler(EngineHandlerMixin, APIHandler):
    """Shared by the HTTP routes: the engine, the streams in flight, and the error boundary."""

    @property
    def streams(self) -> dict[str, ChatStream]:
        """Streams in flight by id, so that `cancel` can reach them."""
        return self.settings["tabwise_streams"]


def report_typing(engine: Engine, request: FimRequest) -> None:
    """Tell the engine the user typed where `request` is: the notebook (or file) as one text, the edit on
    the cursor's line (0-based), and `request` as the place to warm."""
    document, text = request.document or request.path, request.prefix + request.suffix
    engine.document_edited(document, request.path, text, request.prefix.count("\n"), request)


@contextmanager
def http_errors() -> Iterator[None]:
    """Engine and body errors as HTTP errors with a message that says what to do."""
    try:
        yield
    except (wire.BadBody, RequestError) as exc:
        raise web.HTTPError(400, str(exc)) from exc
    except (ModelFileError, ModelLoadError) as exc:
        raise web.HTTPError(503, f"no model to answer with: {exc}") from exc
    except Cancelled as exc:
        raise web.HTTPError(409, f"cancelled: {exc}") from exc


class StatusHandler(TabwiseHandler):
    @web.authenticated
    async def get(self) -> None:
        """The model, where it runs, and the queue."""
        self.finish(self.engine.status().summary())


class CompleteHandler(TabwiseHandler):
    @web.authenticated
    async def post(self) -> None:
        """One completion for a prefix/suffix (with the notebook's other cells as context)."""
        with http_errors():
            request = wire.fim_request(wire.parse_json(self.request.body))
            report_typing(self.engine, request)
            suggestion = await self.engine.complete_async(request)
        self.finish(wire.suggestion_json(suggestion))


class ChatStreamHandler(TabwiseHandler):
    """Streams an answer as newline-delimited JSON: tokens, then `done` (or `error`)."""

    route: str  # "ask" or "explain": which body it reads (wire.open_chat)
    stream: ChatStream | None = None

    @web.authenticated
    async def post(self) -> None:
        with http_errors():
            data = wire.parse_json(self.request.body)
            stream_id = wire.field(data, "id", str, "") or str(uuid.uuid4())
            self.stream = wire.open_chat(self.engine, self.route, data)
        self.streams[stream_id] = self.stream
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("X-Tabwise-Stream", stream_id)
        chunks = iter(self.stream)
        loop = asyncio.get_running_loop()
        try:
            while (chunk := await loop.run_in_executor(None, next, chunks, None)) is not None:
                await self.send_line(wire.chunk_line(chunk))
            try:
                await self.send_line(wire.done_line(self.stream.result()))
            except TabwiseError as exc:
                await self.send_line(wire.error_line(str(exc)))
        except StreamClosedError:
            log.info("stream %s: the client went away; generation cancelled", stream_id)
        finally:
            self.stream.cancel()
            self.streams.pop(stream_id, None)
        if not self._finished:
            self.finish()

    async def send_line(self, message: dict[str, Any]) -> None:
        self.write(json.dumps(message) + "\n")
        await self.flush()

    def on_connection_close(self) -> None:
        """The client closed the connection (a kernel interrupt does): stop generating at once."""
        if self.stream is not None:
            self.stream.cancel()


class AskHandler(ChatStreamHandler):
    route = "ask"


class ExplainHandler(ChatStreamHandler):
    route = "explain"


class CancelHandler(TabwiseHandler):
    @web.authenticated
    async def post(self) -> None:
        """Cancel the stream with this id (given by the client, or from the X-Tabwise-Stream header)."""
        with http_errors():
            stream_id = wire.field(wire.parse_json(self.request.body), "id", str, required=True)
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.cancel()
        self.finish({"cancelled": stream is not None})


class InlineCompletionHandler(WebSocketMixin, websocket.WebSocketHandler, EngineHandlerMixin, JupyterHandler):
    """jupyter-ai 2.x's inline completion websocket: numbered requests, streamed items, errors, cancel."""

    jobs: dict[int, asyncio.Task[None]]
    document: str  # this connection's identity for the engine: one user's cursor, from cell to cell
    path: str | None  # the notebook (or file) of its last request, once there was one

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.jobs, self.document, self.path = {}, f"ws-{id(self)}", None
        await super().get(*args, **kwargs)

    def on_message(self, message: str | bytes) -> None:
        try:
            parsed = wire.parse_inline(message)
        except wire.BadBody as exc:
            self.write_message(wire.inline_reply(-1, None, str(exc)))
            return
        if parsed.kind == "cancel":
            if (task := self.jobs.pop(parsed.number, None)) is not None:
                task.cancel()
            return
        self.jobs[parsed.number] = asyncio.ensure_future(self.answer(parsed))

    async def answer(self, message: wire.InlineMessage) -> None:
        """Complete request `number`; streamed requests get the item first, then its final text."""
        number = message.number
        try:
            request = wire.fim_request(message.data or {}, document=self.document)
            report_typing(self.engine, request)
            self.path = request.path
            if message.stream:
                self.write_message(wire.inline_reply(number, "", streaming=True))
            suggestion = await self.engine.complete_async(request)
            if message.stream:
                self.write_message(wire.inline_chunk(number, suggestion.text, done=True))
            else:
                self.write_message(wire.inline_reply(number, suggestion.text))
        except asyncio.CancelledError:
            raise
        except (wire.BadBody, TabwiseError) as exc:
            if not isinstance(exc, Cancelled):
                self.write_message(wire.inline_reply(number, None, str(exc)))
            elif message.stream:
                self.write_message(wire.inline_chunk(number, "", done=True))
        except websocket.WebSocketClosedError:
            log.debug("inline request %s: the client closed the connection before the answer", number)
        finally:
            self.jobs.pop(number, None)

    def on_close(self) -> None:
        """A closed connection cancels everything it asked for, and the engine forgets its document."""
        for task in self.jobs.values():
            task.cancel()
        self.jobs.clear()
        if self.path is not None:
            self.engine.document_closed(self.document, self.path)
