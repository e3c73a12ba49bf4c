"""How a kernel reaches the engine: through the Jupyter server that started it, else the tabwise service.

Either way the engine is the tabwise service's, one per user and machine, so the model is loaded once
for every notebook and editor and never in the kernel. A kernel started by Jupyter Server has
`JPY_PARENT_PID` (the server's pid); `list_running_servers()` gives that server's URL and token, and its
routes are used (only loopback servers: code never leaves the machine). A kernel without one (terminal
IPython, VS Code notebooks, or `--local`) is a client of the service itself.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import urlencode, urlparse

from completion.errors import TabwiseError
from completion.service.client import ServiceClient
from jupyter_ext import wire

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CONNECT_TIMEOUT_S = 5.0  # reaching the server; a stream may then run as long as the answer takes
READ_TIMEOUT_S = 600.0  # between two lines of a stream (a model loading first)
STATUS_TIMEOUT_S = 60.0  # a status from the service, which may have to be started first


class Client(Protocol):
    """What the magics need: a status, and streamed answers (dicts as in `jupyter_ext.wire`)."""

    where: str  # shown to the user: "the Jupyter server at ..." or "the tabwise service ..."

    def status(self) -> dict[str, Any]: ...

    def kernel_summary(self) -> str | None:
        """The last summary of this kernel's variables that ghost text was given (None: none made)."""
        ...

    def stream(self, route: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]: ...


class ServerClient:
    """The engine in the Jupyter server, over its authenticated HTTP API."""

    def __init__(self, url: str, token: str, root_dir: str = "") -> None:
        self.base = url.rstrip("/") + "/tabwise/"
        self.token = token
        self.root_dir = root_dir  # the server's, which notebook paths are relative to
        self.where = f"the Jupyter server at {url}"

    def _open(self, route: str, body: dict[str, Any] | None, timeout: float) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + route, data=data, method="GET" if body is None else "POST")
        request.add_header("Authorization", f"token {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise TabwiseError(_error_message(exc)) from exc
        except OSError as exc:
            raise TabwiseError(f"{self.where} did not answer: {exc}") from exc

    def status(self) -> dict[str, Any]:
        with self._open("status", None, CONNECT_TIMEOUT_S) as response:
            return json.loads(response.read())

    def kernel_summary(self) -> str | None:
        """The server's last summary of this kernel, by the notebook the server started it for (its
        `JPY_SESSION_NAME`)."""
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        if not notebook:
            return None
        if os.path.isabs(notebook) and self.root_dir:
            notebook = os.path.relpath(notebook, self.root_dir)
        with self._open("status?" + urlencode({"path": notebook}), None, CONNECT_TIMEOUT_S) as response:
            return json.loads(response.read()).get("kernel_summary")

    def stream(self, route: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Lines of the answer as they come; stopping early (an interrupt) closes the connection,
        which the server sees at its next write and stops generating."""
        response = self._open(route, body, READ_TIMEOUT_S)
        try:
            for line in response:
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read())["message"])
    except (ValueError, KeyError, OSError):
        return f"HTTP {error.code} {error.reason}"


class ServiceKernelClient:
    """The tabwise service, asked by this kernel itself: for terminal IPython, VS Code notebooks, or `--local`."""

    def __init__(self) -> None:
        self.service = ServiceClient("kernel")  # started on the first request if no front end started it
        self.where = f"the tabwise service in {self.service.rundir.path}"

    def kernel_summary(self) -> str | None:
        return None  # no Jupyter server: no ghost text in this kernel's notebook

    def status(self) -> dict[str, Any]:
        try:
            return self.service.status().result(STATUS_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            raise TabwiseError(f"{self.where} did not answer within {STATUS_TIMEOUT_S:.0f} s") from None

    def stream(self, route: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        try:
            answer = wire.open_chat(route, body)(self.service)
            for chunk in answer:  # stopping early (an interrupt) cancels the generation in the service
                yield wire.chunk_line(chunk)
            yield wire.done_line(answer.result())
        except (TabwiseError, wire.BadBody) as exc:
            yield wire.error_line(str(exc))
        except concurrent.futures.CancelledError:
            yield wire.error_line("cancelled")


def find_server() -> ServerClient | None:
    """The loopback Jupyter server that started this kernel, if it answers."""
    parent = os.environ.get("JPY_PARENT_PID")
    if not parent:
        return None
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    for info in list_running_servers():
        if str(info.get("pid")) != parent or urlparse(info.get("url", "")).hostname not in LOOPBACK:
            continue
        client = ServerClient(info["url"], info.get("token", ""), info.get("root_dir", ""))
        try:
            client.status()
        except TabwiseError:
            return None
        return client
    return None
