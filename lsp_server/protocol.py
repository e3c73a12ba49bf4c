"""JSON-RPC for the language server: every request the client sends gets an answer.

pygls 2.1.1 structures each message into its LSP type while parsing it (a `json.loads` object hook).
When a request does not fit its type, pygls logs JsonRpcInvalidParams and drops it, id and all, and the
client waits forever. Here such a request becomes a `Refusal`, answered with InvalidParams whose message
names each bad field as the client spelled it (`params.position.line: ...`). A body that is not JSON gets
ParseError, and JSON that is no JSON-RPC message gets InvalidRequest, both with id null (JSON-RPC 2.0: the
id of an unreadable message is null). Notifications and responses are never answered, as the protocol says.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from lsprotocol import types
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCRequestMessage, RPCRequest

log = logging.getLogger(__name__)

# lsprotocol's range validators say which field they check: "Position.line should be in range [0:...], ..."
VALIDATOR_MESSAGE = re.compile(r"[A-Z]\w*\.(?P<field>\w+) (?P<reason>should .+?)\.?")
Problem = tuple[str, str]  # (the field's path as sent, e.g. "params.position.line"; what is wrong with it)


@attrs.frozen
class Refusal:
    """A request that cannot be handled, and the error that answers it."""

    id: int | str | None  # the request's id; None where the id itself is unreadable
    code: int  # a JSON-RPC error code (types.ErrorCodes)
    message: str  # what is wrong, for the client's log


class TabwiseProtocol(LanguageServerProtocol):
    """pygls's LSP protocol, except that no request goes unanswered."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        """A request that does not fit its LSP type becomes a Refusal, where pygls would raise and drop it."""
        if not is_request(data):
            return super().structure_message(data)  # nested objects, notifications, responses: as pygls does
        method = data["method"]
        request_type = self.get_message_type(method) if isinstance(method, str) else None
        if request_type is None:  # a custom method such as tabwise/status: JSON-RPC lets its params be omitted
            request_type, data = JsonRPCRequestMessage, {"params": None, **data}
        try:
            request = self._converter.structure(data, request_type)
        except Exception as exc:  # mostly cattrs's ClassValidationError; lsprotocol's own hooks raise others
            return refusal(data, field_problems(exc))
        if request.jsonrpc != self.VERSION:
            return refusal(data, [("jsonrpc", f'expected "{self.VERSION}"')])
        return request

    def handle_message(self, message: Any) -> None:
        """Answer what pygls would drop without a word; hand everything else to pygls."""
        if isinstance(message, Refusal):
            self.answer_error(message.id, message.code, message.message)
        elif not hasattr(message, "jsonrpc"):  # valid JSON, but not an object with "jsonrpc"
            self.answer_error(None, types.ErrorCodes.InvalidRequest, "not a JSON-RPC 2.0 message")
        elif self._shutdown and isinstance(message, RPCRequest):  # LSP: requests after shutdown are errors
            self.answer_error(message.id, types.ErrorCodes.InvalidRequest, "the server is shutting down")
        else:
            super().handle_message(message)

    def answer_unparsable(self, error: Exception) -> bool:
        """Answer ParseError if `error` says a message body is not JSON; False (nothing sent) otherwise."""
        if not isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            return False
        self.answer_error(None, types.ErrorCodes.ParseError, f"the message is not JSON: {error}")
        return True

    def answer_error(self, request_id: int | str | None, code: int, message: str) -> None:
        """Send an error response, written out by hand: lsprotocol's converter would drop a null id."""
        log.warning("answering request %r with error %d: %s", request_id, code, message)
        self._send_data({"jsonrpc": self.VERSION, "id": request_id, "error": {"code": code, "message": message}})


def is_request(data: dict[str, Any]) -> bool:
    """Whether pygls would structure `data` as a request (its own test, in `structure_message`)."""
    return "jsonrpc" in data and "id" in data and "method" in data and "error" not in data


def refusal(data: dict[str, Any], problems: list[Problem]) -> Refusal:
    """The answer to a bad request: InvalidParams if only its params are wrong, else InvalidRequest."""
    request_id = data["id"]
    if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
        request_id = None
    only_params = all(path == "params" or path.startswith(("params.", "params[")) for path, _ in problems)
    code = types.ErrorCodes.InvalidParams if only_params else types.ErrorCodes.InvalidRequest
    return Refusal(request_id, code, "; ".join(f"{path or 'the request'}: {reason}" for path, reason in problems))


def field_problems(exc: BaseException, path: str = "", expected: Any = None) -> list[Problem]:
    """Each bad field under a cattrs structuring error, with its path in the client's (camelCase) names."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        problems = [
            problem for sub, note in with_notes for problem in field_problems(sub, child(path, note), note.type)
        ]
        return problems + [problem for sub in without for problem in field_problems(sub, path)]
    if isinstance(exc, KeyError):
        return [(path, "missing")]
    if expected is not None:
        return [(path, f"expected {type_name(expected)}")]
    if (checked := VALIDATOR_MESSAGE.fullmatch(str(exc))) is not None:
        return [(child(path, checked["field"]), checked["reason"])]
    return [(path, str(exc))]


def child(path: str, step: str | AttributeValidationNote | IterableValidationNote) -> str:
    """The path of a field (a name or an attribute note) or of an item (an index note) under `path`."""
    if isinstance(step, IterableValidationNote):  # notes are strings too: test them first
        return f"{path}[{step.index!r}]"
    name = camel_case(step.name if isinstance(step, AttributeValidationNote) else step)
    return f"{path}.{name}" if path else name


def type_name(expected: Any) -> str:
    """InlineCompletionParams, int, Union[int, str]: the type a field should have had."""
    return expected.__name__ if isinstance(expected, type) else str(expected).replace("typing.", "")


def camel_case(name: str) -> str:
    """text_document -> textDocument, as lsprotocol names fields on the wire (from_ -> from)."""
    head, *rest = name.removesuffix("_").split("_")
    return head + "".join(part.title() for part in rest)
