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
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx

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
    """The engine in the Jupyter server, over its authenticated HTTP API.

    The token (and the question, the cells, the variables) go to that server only: the environment's
    proxies, netrc and certificate settings are not read (`trust_env=False`), and no redirect is followed."""

    def __init__(self, url: str, token: str, root_dir: str = "") -> None:
        self.root_dir = root_dir  # the server's, which notebook paths are relative to
        self.where = f"the Jupyter server at {url}"
        self.http = httpx.Client(
            base_url=url.rstrip("/") + "/tabwise/",
            headers={"Authorization": f"token {token}"},
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            trust_env=False,
            follow_redirects=False,
        )

    def _send(
        self, route: str, body: dict[str, Any] | None, timeout: httpx.Timeout, query: dict[str, str] | None = None
    ) -> httpx.Response:
        """The response to a GET (no body) or POST, its body still to read; an error status, or no
        answer within `timeout`, as a TabwiseError that says which."""
        method = "GET" if body is None else "POST"
        request = self.http.build_request(method, route, params=query, json=body, timeout=timeout)
        try:
            response = self.http.send(request, stream=True)
            if response.is_error:
                response.read()  # the message, which also closes it
                raise TabwiseError(_error_message(response))
        except httpx.HTTPError as exc:
            raise TabwiseError(f"{self.where} did not answer: {exc}") from exc
        return response

    def _get(self, route: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        response = self._send(route, None, httpx.Timeout(CONNECT_TIMEOUT_S), query)
        try:
            return json.loads(response.read())
        except httpx.HTTPError as exc:
            raise TabwiseError(f"{self.where} did not answer: {exc}") from exc
        finally:
            response.close()

    def status(self) -> dict[str, Any]:
        return self._get("status")

    def kernel_summary(self) -> str | None:
        """The server's last summary of this kernel, by the notebook the server started it for (its
        `JPY_SESSION_NAME`)."""
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        if not notebook:
            return None
        if os.path.isabs(notebook) and self.root_dir:
            notebook = os.path.relpath(notebook, self.root_dir)
        return self._get("status", {"path": notebook}).get("kernel_summary")

    def stream(self, route: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Lines of the answer as they come; stopping early (an interrupt) closes the connection,
        which the server sees at its next write and stops generating."""
        response = self._send(route, body, self.http.timeout)
        try:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        except httpx.HTTPError as exc:
            raise TabwiseError(f"{self.where} stopped answering: {exc}") from exc
        finally:
            response.close()


def _error_message(response: httpx.Response) -> str:
    try:
        return str(json.loads(response.content)["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code} {response.reason_phrase}"


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
            client.http.close()
            return None
        return client
    return None
