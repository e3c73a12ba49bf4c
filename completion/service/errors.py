"""Errors of the service and its client, and the mapping between error kinds on the wire and classes."""

from __future__ import annotations

import completion.errors
from completion.errors import TabwiseError


class ServiceLost(TabwiseError):
    """The connection to the service dropped (it crashed, was killed, or stopped) with this request pending."""


class ServiceUnavailable(TabwiseError):
    """The service crashed (or stopped answering) too often: the client stopped restarting it."""


class ServiceTimeout(TabwiseError):
    """A request got no answer within its deadline (it is cancelled in the service), or could not be sent
    because the service takes in nothing (stopped, swapping, stuck)."""


class ServiceHung(TabwiseError):
    """The service runs but does not answer: it did not take the connection or the handshake in time."""

    def __init__(self, message: str, pid: int) -> None:
        super().__init__(message)
        self.pid = pid  # the process that does not answer, to be replaced


class ServiceStartError(TabwiseError):
    """The service could not be found or started (it exited at once, or did not answer in time)."""


class ServiceVersionError(TabwiseError):
    """The running service speaks another protocol version than this client."""


class ServiceRefused(TabwiseError):
    """The service refused the handshake (a wrong token)."""


class ProtocolError(TabwiseError):
    """A message was not valid under the protocol (not JSON, too long, no method)."""


class InternalError(TabwiseError):
    """The service failed in a way it did not foresee; its log has the traceback."""


def _kinds() -> dict[str, type[TabwiseError]]:
    """Every named error, by class name: these names are the wire's error kinds."""
    local = (ServiceLost, ServiceUnavailable, ServiceTimeout, ServiceStartError, ServiceVersionError, ServiceRefused)
    found = {**vars(completion.errors), **{cls.__name__: cls for cls in (*local, ProtocolError, InternalError)}}
    return {name: cls for name, cls in found.items() if isinstance(cls, type) and issubclass(cls, TabwiseError)}


ERROR_KINDS = _kinds()


def error_kind(exc: BaseException) -> str:
    """The wire kind of `exc`: its class name if it is a named tabwise error, else InternalError."""
    name = type(exc).__name__
    return name if ERROR_KINDS.get(name) is type(exc) else "InternalError"


def error_from_wire(body: object) -> TabwiseError:
    """The exception for an error answer's body {"kind", "message"}."""
    kind = body.get("kind") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    cls = ERROR_KINDS.get(kind, InternalError) if isinstance(kind, str) else ProtocolError
    return cls(str(message) if message is not None else f"the service answered an error without a message: {body}")
