"""The protocol between front ends and the tabwise engine service, version 2: the one place it is defined.

Transport
    A Unix-domain stream socket, `service.sock` in the runtime directory (see `rundir`): mode 0600 in a
    directory of mode 0700 owned by the user, so only the user can connect. No TCP.

Framing
    Newline-delimited JSON: every message is one JSON object on one line, UTF-8, ending in "\\n". A line
    longer than MAX_LINE_BYTES (8 MiB) is refused with an error and skipped; the connection goes on. The
    error names the request's id when the line begins with it ({"id": 7, ...}, as clients write them);
    a client refuses to send a longer message itself. A message nested too deeply to read, or holding a
    lone surrogate (a "\\ud800" escape that is no Unicode text), is refused the same way.

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
    Clients give every request a deadline (see client.py); one whose deadline passes is cancelled.
    Requests run concurrently; each runs its engine call in the order the requests arrived, so a
    document's "edited" is applied before a "complete" sent after it.
    Error kinds: RequestError (bad method or params), ModelFileError, ModelLoadError, Cancelled
    (cancelled or superseded), ProtocolError (not a message), InternalError (a bug in the service; see
    its log), and the names of other completion.errors classes.
    Before closing on a clean stop the service sends {"bye": "why"}; a drop without it is a crash.

Methods (params -> result); engine types are the dataclasses of completion.types, field for field
    complete   FimRequest                          -> Suggestion   (a newer one for its document supersedes it)
    explain    {code, language?, path?}            -> chunks, then ChatResult
    ask        {question, context?}                -> chunks, then ChatResult
    chat       ChatRequest                         -> chunks, then ChatResult
    cancel     {id}                                -> bool (whether it was pending); it answers Cancelled
    ping       {}                                  -> true, at once, whatever the engine is doing: a client
                                                      that waits for answers and hears nothing pings, and
                                                      replaces a service that does not answer that either
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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter

from completion.types import FimRequest

PROTOCOL_VERSION = 2  # 2: configure's answer carries a warning; settings are per client
MAX_LINE_BYTES = 8 * 2**20  # a whole large document fits; anything bigger is refused, not buffered


ID_PREFIX_BYTES = 256  # a request's id is read from this much of a line that cannot be read whole
_LEADING_ID = re.compile(rb'\s*\{\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*[,}]')
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # a surrogate escape: text needs it paired, and in order


@dataclass(frozen=True)
class TooLong:
    """Marks a line that exceeded MAX_LINE_BYTES (its bytes were dropped)."""

    id: int | str | None = None  # the request's, when the line begins with it (see leading_id)


TOO_LONG = TooLong()


def leading_id(line: bytes) -> int | str | None:
    """The id a line begins with ({"id": 7, ...}), for an error answer to a line that cannot be read
    whole (too long, too deep, not text); None when it does not begin with one."""
    match = _LEADING_ID.match(line[:ID_PREFIX_BYTES])
    if match is None:
        return None
    try:
        value = json.loads(match.group(1))
        if isinstance(value, str):
            value.encode()  # a lone surrogate could not be sent back
    except (UnicodeError, ValueError):
        return None
    return value if isinstance(value, (int, str)) else None


class LineSplitter:
    """Bytes in, complete lines out; a line over the cap is dropped and reported once as TooLong."""

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
                    out.append(TooLong(leading_id(bytes(self._buffer[:ID_PREFIX_BYTES]))))
                    self._buffer.clear()
                    self._skipping = True
            if end >= 0:
                if not self._skipping:
                    out.append(bytes(self._buffer))
                self._buffer.clear()
                self._skipping = False
        return out


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line; ValueError for what no line can carry (a lone surrogate, nesting too deep)."""
    try:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    except UnicodeEncodeError as exc:
        raise ValueError(f"a string holds {_surrogate(exc)}, which is not text UTF-8 can carry") from None
    except RecursionError:
        raise ValueError("it is nested too deeply to write as JSON") from None
    except (TypeError, ValueError) as exc:  # a value JSON has no form for, or a circular reference
        raise ValueError(f"it cannot be written as JSON: {exc}") from None


def decode(line: bytes) -> dict[str, Any]:
    """One line as a message; ValueError says what is wrong with it."""
    try:
        text = line.decode()
        message = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    if not isinstance(message, dict):
        raise ValueError(f"a message is a JSON object, not {type(message).__name__}")
    if _SURROGATE.search(text):  # rare (escaped emoji); a pair decodes to one character, a lone one stays
        encode(message)  # ValueError names it
    return message


class Unreadable(ValueError):
    """A line that is not a message, and the id it begins with (None: none), for the error answer."""

    def __init__(self, why: str, id: int | str | None) -> None:
        super().__init__(why)
        self.id = id


def read(line: bytes | TooLong) -> dict[str, Any]:
    """A line from the splitter as a message; Unreadable (with the id where it can be read) if it is none."""
    if isinstance(line, TooLong):
        raise Unreadable(f"message longer than {MAX_LINE_BYTES:,} bytes; refused", line.id)
    try:
        return decode(line)
    except ValueError as exc:
        raise Unreadable(str(exc), leading_id(line)) from None


def _surrogate(exc: UnicodeEncodeError) -> str:
    """The lone surrogate(s) an encoding failed on, as their escapes: "a lone surrogate (\\ud800)"."""
    return f"a lone surrogate ({exc.object[exc.start : exc.end].encode('unicode_escape').decode()})"


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


# The params of the methods whose params are no engine type, declared once: clients build their requests
# from them and the service reads requests into them, both through the converter below.


@dataclass(frozen=True)
class ExplainParams:
    code: str
    language: str = ""
    path: str = "untitled"


@dataclass(frozen=True)
class AskParams:
    question: str
    context: str = ""


@dataclass(frozen=True)
class CancelParams:
    id: int | str


@dataclass(frozen=True)
class OpenedParams:
    document: str  # the front end's identity for it, as in FimRequest.document
    path: str  # workspace-relative, "/"-separated, as in FimRequest.path
    text: str
    language: str = ""  # as in FimRequest ("": from the path)
    warm: bool = True  # evaluate a prompt at its end at once (False: completions are off there)
    root: str = ""  # the workspace folder `path` is relative to, as in FimRequest.root


@dataclass(frozen=True)
class EditedParams:
    document: str
    path: str
    text: str  # all of it, after the edit
    line: int | None  # 0-based, where the edit was; None when unknown (a full change)
    at: FimRequest | None = None  # the completion request at the cursor after the edit, to warm
    root: str = ""


@dataclass(frozen=True)
class ClosedParams:
    document: str
    path: str = ""
    root: str = ""


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
