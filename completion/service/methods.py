"""The service's methods: parse the params, one engine call, convert the result (see protocol.py).

Each method makes its engine call before its first `await`: requests start in the order they arrived,
so an "edited" is applied before the "complete" sent after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from completion.chat.stream import ChatStream
from completion.config import EngineConfig
from completion.engine import Engine
from completion.errors import RequestError, TabwiseError
from completion.schedule.worker import Job
from completion.service.configs import ClientConfigs
from completion.service.documents import OpenDocuments
from completion.service.protocol import (
    PROTOCOL_VERSION,
    AskParams,
    CancelParams,
    ClosedParams,
    EditedParams,
    ExplainParams,
    OpenedParams,
    converter,
    structure_error,
)
from completion.types import ChatRequest, FimRequest

T = TypeVar("T")
log = logging.getLogger(__name__)


class Host(Protocol):
    """What methods need of the service around them."""

    engine: Engine
    configs: ClientConfigs  # each connection's settings (configure applies over the service's own)
    documents: OpenDocuments

    def clients(self) -> int: ...


class Caller(Protocol):
    """What methods need of the connection a request came on."""

    number: int  # the connection's id, for its open documents and its settings
    client: str  # the kind of front end it said it is ("lsp", "jupyter", ...), for other front ends' warnings

    async def send_chunk(self, id: int | str, chunk: dict[str, Any]) -> None: ...

    def cancel(self, id: int | str) -> bool: ...


@dataclass(frozen=True)
class Call:
    """One request being answered."""

    host: Host
    caller: Caller
    id: int | str
    params: dict[str, Any]

    def parse(self, kind: type[T]) -> T:
        """The params as `kind`; RequestError naming the bad fields."""
        try:
            return converter.structure(self.params, kind)
        except Exception as exc:  # cattrs raises several kinds; each says which field is wrong
            raise RequestError(f"bad params: {structure_error(exc)}") from None

    @property
    def config(self) -> EngineConfig:
        """The settings this connection's requests run on: the engine's, with its own limits."""
        return self.host.configs.served(self.caller.number)

    def limited(self, request: FimRequest) -> FimRequest:
        """`request` with this connection's limits where it sets none of its own."""
        config = self.config
        return replace(
            request,
            max_tokens=request.max_tokens or config.max_tokens,
            time_budget_ms=request.time_budget_ms or config.time_budget_ms,
            context_tokens=request.context_tokens or config.context_tokens,
        )


async def wait_job(job: Job[T]) -> T:
    """The job's result; the request being cancelled (or its client leaving) cancels the job."""
    try:
        return await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancel("cancelled by the client")
        raise


async def stream_chat(call: Call, stream: ChatStream) -> Any:
    """Send the stream's chunks as they come, then its result; the request being cancelled (or its client
    leaving) cancels the generation."""
    try:
        async for chunk in stream:
            await call.caller.send_chunk(call.id, converter.unstructure(chunk))
        return converter.unstructure(await asyncio.wrap_future(stream.future))
    except asyncio.CancelledError:
        stream.cancel("cancelled by the client")
        raise


async def complete(call: Call) -> Any:
    job = call.host.engine.submit_complete(call.limited(call.parse(FimRequest)))
    return converter.unstructure(await wait_job(job))


async def explain(call: Call) -> Any:
    params, limit = call.parse(ExplainParams), call.config.chat_max_tokens
    return await stream_chat(call, call.host.engine.explain(params.code, params.language, params.path, limit))


async def ask(call: Call) -> Any:
    params = call.parse(AskParams)
    return await stream_chat(call, call.host.engine.ask(params.question, params.context, call.config.chat_max_tokens))


async def chat(call: Call) -> Any:
    request = call.parse(ChatRequest)
    request = replace(request, max_tokens=request.max_tokens or call.config.chat_max_tokens)
    return await stream_chat(call, call.host.engine.chat(request))


async def cancel(call: Call) -> Any:
    return call.caller.cancel(call.parse(CancelParams).id)


async def status(call: Call) -> Any:
    summary = call.host.engine.status().summary()
    summary["settings_warning"] = call.host.configs.warning(call.caller.number)  # this front end's, if any
    summary["service"] = {
        "pid": os.getpid(),
        "version": PROTOCOL_VERSION,
        "clients": call.host.clients(),
        "documents": len(call.host.documents),
        "models_loaded": 1 if summary["state"] == "ready" else 0,  # one engine, one model, for every client
        "settings_from": call.host.configs.holder(),  # the front end whose model settings are in force
    }
    return summary


async def configure(call: Call) -> Any:
    configs, number = call.host.configs, call.caller.number
    settings = {**converter.unstructure(configs.base), **call.params}
    try:
        config = converter.structure(settings, EngineConfig)
    except Exception as exc:  # cattrs raises several kinds; each says which setting is wrong
        raise RequestError(f"bad settings: {structure_error(exc)}") from None
    job = configs.configure(number, call.caller.client, config)
    if job is not None:  # this connection holds the model settings: they are the engine's now
        await asyncio.shield(asyncio.wrap_future(job.future))  # a client leaving must not undo the change
    if config.preload:  # load the model now, not at the first request; answered once it is loaded
        await asyncio.to_thread(preload, call.host.engine)
    answer = configs.answer(number)
    if answer.warning:
        log.info("connection %d: %s", number, answer.warning)
    return answer.to_wire()


def preload(engine: Engine) -> None:
    """Load the model (waits); a failure is the engine's state, and the next request's error."""
    with contextlib.suppress(TabwiseError):
        engine.load()


async def opened(call: Call) -> Any:
    params = call.parse(OpenedParams)
    documents, number = call.host.documents, call.caller.number
    documents.opened(number, params, call.config.context_tokens)


async def edited(call: Call) -> Any:
    params = call.parse(EditedParams)
    documents, number = call.host.documents, call.caller.number
    documents.edited(number, replace(params, at=call.limited(params.at)) if params.at is not None else params)


async def closed(call: Call) -> Any:
    call.host.documents.closed(call.caller.number, call.parse(ClosedParams).document)  # path: as it was opened


METHODS: dict[str, Callable[[Call], Awaitable[Any]]] = {
    "complete": complete,
    "explain": explain,
    "ask": ask,
    "chat": chat,
    "cancel": cancel,
    "status": status,
    "configure": configure,
    "opened": opened,
    "edited": edited,
    "closed": closed,
}
