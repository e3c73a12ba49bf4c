"""`tabwise lsp --tcp`: the language server on a TCP port, for the user who started it and no one else.

A TCP port can be reached by every user of the machine (and, off loopback, by the network), and an LSP
client drives the engine: its settings choose the model file, the inference server, the API key file
and the workspace folder. So:
- the address must be a loopback one, unless `--allow-remote` says otherwise;
- a fresh token is written to `<runtime dir>/lsp-<port>.token` (mode 0600, in the user's 0700 runtime
  directory, see completion/service/rundir.py), and a client must send it as
  `initializationOptions.token` in its `initialize` request, the first message of every LSP session;
- any other first message, or a wrong or missing token, is answered with an error and the connection
  closed, having reached nothing (no setting, no document, no service);
- the token is taken out of the request before pygls sees it: it reaches no setting and no log.
The server holds one client's state (settings, documents), so one client is served: a second one is
refused while the first is connected, and the process ends when the first leaves, as pygls's own TCP
server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.io_ import run_async
from pygls.lsp.server import LanguageServer

from completion.service import rundir as rundirs

log = logging.getLogger(__name__)
FIRST_MESSAGE_TIMEOUT_S = 20.0  # a connection that has not sent its initialize by then is closed
FIRST_MESSAGE_MAX_BYTES = 1 << 20  # an initialize is a few kB: a longer first message is refused unread
HEADER_LINES_MAX = 8  # LSP has two headers (Content-Length, Content-Type)
TOKEN_OPTION = "token"  # the key in initializationOptions
JSONRPC = "2.0"
BUSY = "tabwise: another client is connected to this language server (it serves one); connection closed"
Refusal = tuple[int | str | None, int, str]  # the refused request's id (None: none), error code, message


class AddressError(ValueError):
    """A --tcp address that cannot be used (not HOST:PORT, or not loopback without --allow-remote)."""


def parse_address(text: str, allow_remote: bool) -> tuple[str, int]:
    """(host, port) from HOST:PORT ([::1]:PORT for IPv6; no host means 127.0.0.1)."""
    host, _, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise AddressError(f"--tcp wants HOST:PORT, such as 127.0.0.1:2087, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise AddressError(f"--tcp port {port} is not a TCP port (0-65535)")
    if not allow_remote and not is_loopback(host):
        raise AddressError(
            f"--tcp {host} is not a loopback address: other machines could reach the language server. "
            "Listen on 127.0.0.1 (and tunnel, e.g. ssh -L), or pass --allow-remote to mean it"
        )
    return host, port


def is_loopback(host: str) -> bool:
    """Only this machine can reach `host` (an IP literal or "localhost"; other names resolve elsewhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start(server: LanguageServer, host: str, port: int) -> None:
    """Serve one client on host:port until it leaves (or SIGTERM/SIGINT); the token file goes with it."""
    try:
        asyncio.run(serve(server, host, port))
    except OSError as exc:  # the port is taken, the address is not this machine's
        sys.exit(f"tabwise lsp: cannot listen on {host}:{port}: {exc.strerror or exc}")


async def serve(server: LanguageServer, host: str, port: int) -> None:
    """Listen, write the token file, serve until the session ends, remove the token file."""
    rundir = rundirs.runtime_dir()  # checked before listening: a runtime directory others can read stops here
    gate = Gate(server, rundirs.new_token())
    listener = await asyncio.start_server(gate.connection, host, port)
    port = listener.sockets[0].getsockname()[1]  # the one the system chose for port 0
    gate.token_path = rundir.lsp_token(port)
    try:
        rundirs.write_private(gate.token_path, gate.token + "\n")
        announce(host, port, gate.token_path)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gate.ended.set)
        async with listener:
            await gate.ended.wait()
    finally:
        with contextlib.suppress(FileNotFoundError):
            gate.token_path.unlink()
        server.shutdown()


def announce(host: str, port: int, token_path: Path) -> None:
    """Tell the user (stderr) where the server listens and where a client finds the token (never the token)."""
    print(
        f"tabwise lsp: listening on {host}:{port}; a client sends the token in {token_path} "
        f'as initializationOptions.{TOKEN_OPTION} (e.g. {{"{TOKEN_OPTION}": "<its content>"}})',
        file=sys.stderr,
        flush=True,
    )
    if not is_loopback(host):
        print(
            "tabwise lsp: --allow-remote: the token and your code cross the network unencrypted",
            file=sys.stderr,
            flush=True,
        )


class Gate:
    """Lets one client through, once it proved in its initialize that it can read the token file."""

    def __init__(self, server: LanguageServer, token: str) -> None:
        self.server = server
        self.token = token
        self.token_path = Path()  # set once the port is known
        self.session = False  # a client is through: the server's one state is taken
        self.ended = asyncio.Event()  # that client left, or a signal came: the server stops
        self.stop_reading = threading.Event()  # pygls's loop ends when this is set

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: its first message decides; only a good one reaches pygls."""
        peer = writer.get_extra_info("peername")
        first, refused = await self.admit(reader)
        if refused is None and self.session:
            refused = (request_id_of(first), types.ErrorCodes.InvalidRequest, BUSY)
        if refused is not None:
            log.warning("refused a TCP connection from %s: %s", peer, refused[2])
            await refuse(writer, *refused)
            return
        self.session = True
        log.info("a client connected from %s", peer)
        try:
            await self.run_session(frame(first), reader, writer)
        except ConnectionError as exc:  # the client vanished without shutdown (an editor killed, say)
            log.info("the client went away: %s", exc)
        finally:
            self.stop_reading.set()
            self.ended.set()

    async def admit(self, reader: asyncio.StreamReader) -> tuple[Any, Refusal | None]:
        """The first message, and why it is refused (None: it is an initialize with the token)."""
        try:
            first = await asyncio.wait_for(read_first(reader), FIRST_MESSAGE_TIMEOUT_S)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, FirstMessageError) as exc:
            why = str(exc) or "none came in time"
            return None, (None, types.ErrorCodes.InvalidRequest, f"tabwise: no LSP message ({why}); connection closed")
        return first, self.check(first)

    def check(self, first: Any) -> Refusal | None:
        """None for an initialize with the right token (which is taken out of it), else what to answer."""
        request_id = request_id_of(first)
        if not isinstance(first, dict) or first.get("method") != types.INITIALIZE or request_id is None:
            return request_id, types.ErrorCodes.ServerNotInitialized, self.needs_token("a message before initialize")
        params = first.get("params")
        options = params.get("initializationOptions") if isinstance(params, dict) else None
        given = options.pop(TOKEN_OPTION, None) if isinstance(options, dict) else None
        if not rundirs.token_matches(given, self.token):
            wrong = "a wrong token" if given is not None else "no token"
            return request_id, types.LSPErrorCodes.RequestFailed, self.needs_token(f"initialize with {wrong}")
        return None

    def needs_token(self, what: str) -> str:
        """The refusal's text: what was wrong, and where the token is (never the token itself)."""
        return (
            f"tabwise: {what} refused: this language server serves only its user. Send initialize with "
            f"initializationOptions.{TOKEN_OPTION} set to the content of {self.token_path}; connection closed"
        )

    async def run_session(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """pygls's read loop on this connection, starting with the (token-less) initialize."""
        self.server.protocol.set_writer(writer)  # as pygls's start_tcp does
        await run_async(
            stop_event=self.stop_reading,
            reader=Replay(first, reader),
            protocol=self.server.protocol,
            logger=log,
            error_handler=self.server.report_server_error,
        )


class FirstMessageError(Exception):
    """The first message is not LSP framing or JSON within the limits."""


async def read_first(reader: asyncio.StreamReader) -> Any:
    """The first message's JSON, read with limits (the sender is not trusted yet)."""
    length = None
    for _ in range(HEADER_LINES_MAX):
        try:
            line = await reader.readline()
        except ValueError as exc:  # a line over the reader's limit
            raise FirstMessageError("a header line is too long") from exc
        if not line:
            raise FirstMessageError("the connection closed")
        name, _, value = line.decode("latin-1").partition(":")
        if not line.strip():
            break
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    else:
        raise FirstMessageError("too many header lines")
    if length is None or length > FIRST_MESSAGE_MAX_BYTES:
        raise FirstMessageError(f"a Content-Length header of at most {FIRST_MESSAGE_MAX_BYTES:,} bytes is needed")
    try:
        return json.loads(await reader.readexactly(length))
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deep
        raise FirstMessageError("the message is not JSON") from exc


def request_id_of(message: Any) -> int | str | None:
    """The id of a JSON-RPC request, or None (a notification, or no request at all)."""
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, (int, str)) and not isinstance(request_id, bool) else None


def frame(message: dict[str, Any]) -> bytes:
    """A message with LSP's Content-Length framing."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def refuse(writer: asyncio.StreamWriter, request_id: int | str | None, code: int, message: str) -> None:
    """Answer with a JSON-RPC error (id null where there was no request) and close the connection."""
    error: dict[str, Any] = {"code": code, "message": message}
    if code == types.LSPErrorCodes.RequestFailed:
        error["data"] = {"retry": False}  # an InitializeError: retrying with the same token is useless
    with contextlib.suppress(ConnectionError):
        writer.write(frame({"jsonrpc": JSONRPC, "id": request_id, "error": error}))
        await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


class Replay:
    """A reader for pygls that first gives back bytes already read (the first message), then reads on."""

    def __init__(self, first: bytes, reader: asyncio.StreamReader) -> None:
        self._buffer = first
        self._reader = reader

    async def readline(self) -> bytes:
        if not self._buffer:
            return await self._reader.readline()
        line, newline, self._buffer = self._buffer.partition(b"\n")
        return line + newline

    async def readexactly(self, n: int) -> bytes:
        chunk, self._buffer = self._buffer[:n], self._buffer[n:]
        return chunk + (await self._reader.readexactly(n - len(chunk)) if len(chunk) < n else b"")
