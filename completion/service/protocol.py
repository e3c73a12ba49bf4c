"""The protocol between front ends and the tabwise engine service, version 2: the one place it is defined.

Transport
    A Unix-domain stream socket, `service.sock` in the runtime directory (see `rundir`): mode 0600 in a
    directory of mode 0700 owned by the user, so only the user can connect. No TCP.

Framing
    Newline-delimited JSON: every message is one JSON object on one line, UTF-8, ending in "\\n". A line
    longer than MAX_LINE_BYTES (8 MiB) is refused with an error and skipped; the connection goes on.

Handshake (first line each way)
    client:  {"hello": 2, "token": "<token from service.json>", "client": "lsp|jupyter|kernel|cli|test"}
    service: {"hello": 2, "pid": 1234, "service": "tabwise", "clients": 2}
    or, refused, then the service closes the connection:
             {"hello": 2, "error": {"kind": "version" | "token" | "ProtocolError", "message": "..."}}
    The token is compared in constant time. A client that meets another version says both versions and
    may start a service of its own under a private runtime directory (TABWISE_RUNTIME_DIR).

Requests and answers
    client:  {"id": 7, "method": "complete", "params": {...}}     id: an int or a string, unique among
                                                                   the connection's pending requests
    service: {"id": 7, "result": ...}                              exactly one answer per request, or
             {"id": 7, "error": {"kind": "RequestError", "message": "one line for the user"}}
    chat:    {"id": 7, "chunk": {"kind": "answer" | "reasoning", "text": "..."}}  zero or more, then the
             answer with the whole result
    A line that is not a valid message gets {"id": <its id or null>, "error": {"kind": "ProtocolError"}}.
    Requests run concurrently; each runs its engine call in the order the requests arrived, so a
    document's "edited" is applied before a "complete" sent after it.
    Error kinds: RequestError (bad method or params), ModelFileError, ModelLoadError, Cancelled
    (cancelled or superseded), ProtocolError (not a message), InternalError (a bug in the service; see
    its log), and the names of other completion.errors classes.
    Before closing on a clean stop the service sends {"bye": "why"}; a drop without it is a crash.

Methods (params -> result); engine types are the dataclasses of completion.types, field for field
    complete   FimRequest                          -> Suggestion   (a newer one for its document supersedes it)
    warm       FimRequest                          -> int (prompt tokens evaluated ahead; 0 if none)
    explain    {code, language?, path?}            -> chunks, then ChatResult
    ask        {question, context?}                -> chunks, then ChatResult
    chat       ChatRequest                         -> chunks, then ChatResult
    cancel     {id}                                -> bool (whether it was pending); it answers Cancelled
    status     {}                                  -> the engine's status summary + "settings_warning" (this
                                                      client's, as configure's) + "service": {pid, version,
                                                      clients, documents, models_loaded, settings_from}
    configure  {EngineConfig fields...}            -> the settings this client is served on (EngineConfig
                                                      fields) + "warning": null, or why some are not its
                                                      own. Applied over the settings the service started
                                                      with. Limits (config.CLIENT_FIELDS) are the client's
                                                      own, for its requests only; the model's settings are
                                                      those of the first client that configured while it
                                                      is connected (see configs.py). With preload true,
                                                      answered once the model is loaded (or failed to
                                                      load: the status says why).
    opened     {document, path, text, language?, warm?}  -> null   (a front end opened a document; warm:
                                                      evaluate a prompt at its end at once, default true)
    edited     {document, path, text, line, at?}   -> null   (text: all of it now; line: 0-based, where the
                                                      edit was, or null; at: the FimRequest at the cursor,
                                                      for the engine's warm-up policy)
    closed     {document, path}                    -> null   (also done for a client's documents when it
                                                              disconnects)
    A client's disconnect cancels its pending requests.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter

PROTOCOL_VERSION = 2  # 2: configure's answer carries a warning; settings are per client
MAX_LINE_BYTES = 8 * 2**20  # a whole large document fits; anything bigger is refused, not buffered
CLIENT_KINDS = ("lsp", "jupyter", "kernel", "cli", "test")
CHAT_METHODS = ("explain", "ask", "chat")  # their answers stream chunks before the result


class TooLong:
    """Marks a line that exceeded MAX_LINE_BYTES (its bytes were dropped)."""


TOO_LONG = TooLong()


class LineSplitter:
    """Bytes in, complete lines out; a line over the cap is dropped and reported once as TOO_LONG."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._skipping = False  # inside an overlong line: drop bytes up to its newline

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        """The lines completed by `data`, without their newlines."""
        out: list[bytes | TooLong] = []
        while data:
            end = data.find(b"\n")
            piece, data = (data, b"") if end < 0 else (data[:end], data[end + 1 :])
            if not self._skipping:
                self._buffer += piece
                if len(self._buffer) > self._limit:
                    self._buffer.clear()
                    self._skipping = True
                    out.append(TOO_LONG)
            if end >= 0:
                if not self._skipping:
                    out.append(bytes(self._buffer))
                self._buffer.clear()
                self._skipping = False
        return out


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One line as a message; ValueError says what is wrong with it."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ValueError(f"a message is a JSON object, not {type(message).__name__}")
    return message


def error(kind: str, message: str, id: int | str | None = None) -> dict[str, Any]:
    """An error answer to request `id` (None: a line that had no usable id)."""
    return {"id": id, "error": {"kind": kind, "message": message}}


def _strict(kind: type) -> Any:
    """A structure hook that takes only JSON values of `kind`, rather than cattrs' lenient str()/int()."""

    def structure(value: Any, target: Any) -> Any:
        if _is_enum(target):  # a str enum (StopReason) dispatches here, as a subclass of str
            return _enum_member(value, target)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def _is_enum(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, enum.Enum)


def _enum_member(value: Any, kind: type[enum.Enum]) -> enum.Enum:
    """The member of `kind` whose value is `value`; ValueError names the ones allowed."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"expected one of {', '.join(repr(m.value) for m in kind)}, got {value!r}") from None


def make_wire_converter() -> cattrs.Converter:
    """The one converter between engine dataclasses and JSON values: field for field, unknown keys refused."""
    converter = make_converter(forbid_extra_keys=True)
    for kind in (str, int, float, bool):
        converter.register_structure_hook(kind, _strict(kind))
    converter.register_structure_hook(Path, lambda value, _: Path(_strict(str)(value, str)))
    converter.register_unstructure_hook(Path, str)
    converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
    return converter


converter = make_wire_converter()


def structure_error(exc: Exception) -> str:
    """A cattrs failure as one line naming the fields, e.g. "expected str, got int @ $.prefix"."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)
