"""What travels between Jupyter clients and the server extension: request bodies in, JSON messages out.

Bodies are checked here, once, so handlers receive engine requests or a `BadBody` with a message that
says what to fix. The inline completion messages follow jupyter-ai 2.x's websocket protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from completion.context.notebook import Cell, notebook_request
from completion.service.client import ServiceClient, ServiceStream
from completion.types import ChatChunk, ChatResult, FimRequest, Suggestion

MAX_BODY_BYTES = 2_000_000  # a request larger than this is refused, not parsed
MAX_INT = 2**63 - 1  # integer fields beyond 64 bits are refused: no index or number is that large


class BadBody(ValueError):
    """A request body that cannot be served; the message is shown to the client as is."""


def parse_json(body: bytes | str) -> dict[str, Any]:
    """A JSON object from a request body or websocket message."""
    if len(body) > MAX_BODY_BYTES:
        raise BadBody(f"request too large: {len(body):,} bytes (at most {MAX_BODY_BYTES:,})")
    try:
        value = json.loads(body or b"null")
    except RecursionError as exc:  # the parser recurses once per `[` or `{`
        raise BadBody("the body is nested too deeply to parse") from exc
    except ValueError as exc:  # bad JSON, bytes that are not UTF-8, an integer of over 4,300 digits
        raise BadBody(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadBody("the body must be a JSON object")
    return value


def field(data: dict[str, Any], name: str, kind: type, default: Any = ..., *, required: bool = False) -> Any:
    """`data[name]`, checked against `kind`; missing gives `default` unless required."""
    if name not in data or data[name] is None:
        if required or default is ...:
            raise BadBody(f"missing field {name!r}")
        return default
    value = data[name]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise BadBody(f"field {name!r} must be {_kind_name(kind)}, not {type(value).__name__}")
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise BadBody(f"field {name!r} is out of range (at most {MAX_INT:,} either way)")
    if isinstance(value, str):
        _check_text(name, value)
    return value


def _check_text(name: str, value: str) -> None:
    """JSON's `\\ud800` escapes give strings that cannot be encoded (a lone surrogate); refuse them here,
    before the tokenizer, a header or a reply fails on them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadBody(f"field {name!r} is not valid Unicode text: {exc.reason} at character {exc.start}") from exc


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", bool: "true or false", dict: "an object"}.get(
        kind, kind.__name__
    )


def fim_request(data: dict[str, Any], document: str | None = None, root: str = "") -> FimRequest:
    """A completion request: `prefix`/`suffix` of the current cell or file, optional notebook `cells`
    (each `{"kind": "code"|"markdown", "text": ...}`) with `cell_index` the current one; `root` is the
    folder `path` is relative to (absolute), where other modules are read from for context."""
    request = FimRequest(
        prefix=field(data, "prefix", str, required=True),
        suffix=field(data, "suffix", str, ""),
        path=field(data, "path", str, "") or "untitled",
        language=field(data, "language", str, "") or "python",
        document=document,
        root=root,
    )
    cells = field(data, "cells", list, [])
    if not cells:
        return request
    index = field(data, "cell_index", int, required=True)
    parsed = []
    for position, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise BadBody("each cell must be an object with 'kind' and 'text'")
        try:
            parsed.append(Cell(field(cell, "kind", str, "code"), field(cell, "text", str, required=True)))
        except BadBody as exc:
            raise BadBody(f"cell {position}: {exc}") from exc
    if not 0 <= index < len(parsed):
        raise BadBody(f"cell_index {index} is not in a notebook of {len(parsed)} cells")
    return notebook_request(parsed, index, request)


def open_chat(route: str, data: dict[str, Any]) -> Callable[[ServiceClient], ServiceStream]:
    """What opens the answer stream for an `ask` (`question`, `context`) or `explain` (`code`, `language`,
    `path`) body, checked now (BadBody); the one reading of these bodies, for the server's routes and a
    kernel without a server alike."""
    if route == "explain":
        code = field(data, "code", str, required=True)
        language = field(data, "language", str, "python")
        path = field(data, "path", str, "") or "notebook"
        return lambda service: service.explain(code, language, path)
    question, context = field(data, "question", str, required=True), field(data, "context", str, "")
    return lambda service: service.ask(question, context)


def suggestion_json(suggestion: Suggestion) -> dict[str, Any]:
    """A finished completion."""
    timings = suggestion.timings
    return {
        "text": suggestion.text,
        "stop_reason": suggestion.stop_reason.value,
        "timings": {
            "prompt_tokens": timings.prompt_tokens,
            "reused_tokens": timings.reused_tokens,
            "generated_tokens": timings.generated_tokens,
            "total_ms": round(timings.total_ms, 1),
        },
    }


def chunk_line(chunk: ChatChunk) -> dict[str, Any]:
    """One streamed piece of an answer (`kind`: "answer" or "reasoning")."""
    return {"type": "token", "kind": chunk.kind.value, "text": chunk.text}


def done_line(result: ChatResult) -> dict[str, Any]:
    """The last line of a stream: the whole answer, the reasoning apart."""
    return {
        "type": "done",
        "answer": result.answer,
        "reasoning": result.reasoning,
        "stop_reason": result.stop_reason.value,
    }


def error_line(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}


# -- jupyter-ai 2.x inline completion messages ------------------------------------------------------


def inline_reply(number: int, text: str | None, error: str | None = None, streaming: bool = False) -> dict[str, Any]:
    """The answer to request `number`: one item (or none), or an error."""
    items = [] if text is None else [{"insertText": text, "isIncomplete": streaming, "token": str(number)}]
    reply: dict[str, Any] = {"type": "inline_completion", "reply_to": number, "list": {"items": items}}
    if error is not None:
        reply["error"] = {"type": "error", "title": error, "traceback": ""}
    return reply


def inline_chunk(number: int, text: str, done: bool) -> dict[str, Any]:
    """A streamed update of request `number`'s item: the whole text so far."""
    return {
        "type": "stream",
        "reply_to": number,
        "done": done,
        "response": {"insertText": text, "isIncomplete": not done, "token": str(number)},
    }


@dataclass(frozen=True)
class InlineMessage:
    """A websocket message from the client: a completion request, or a cancel of one."""

    kind: str  # "request", "cancel", or "warm" (the place the user moved to, evaluated ahead)
    number: int
    stream: bool = False
    data: dict[str, Any] | None = None  # the request fields (prefix, suffix, path, language, cells...)


def parse_inline(message: str | bytes) -> InlineMessage:
    """A websocket message; `{"type": "cancel", "number": N}` cancels request N; `{"type": "warm", ...}` with a
    request's fields reports where the user is (a cell they moved to), to be evaluated ahead."""
    data = parse_json(message)
    number = field(data, "number", int, required=True)
    if data.get("type") == "cancel":
        return InlineMessage("cancel", number)
    if data.get("type") == "warm":  # the user moved to a cell: a request's fields, for a warm-up; no reply
        return InlineMessage("warm", number, data=data)
    return InlineMessage("request", number, bool(field(data, "stream", bool, False)), data)
