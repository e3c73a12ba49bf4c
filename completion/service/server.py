"""The engine service: one Engine for every front end of a user, on a Unix-domain socket (see protocol.py).

`serve()` runs it until no client has been connected for `idle_exit_s`, or SIGTERM/SIGINT. Each
connection proves it knows the token, then its requests run concurrently, one task each; one error
boundary (`Connection._answer`) turns every failure into an error answer, so a bad request never ends
the connection or the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import itertools
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from completion.config import EngineConfig
from completion.engine import Engine
from completion.errors import RequestError, TabwiseError
from completion.runtime.host import BackendFactory
from completion.service import rundir as rundirs
from completion.service.configs import ClientConfigs
from completion.service.documents import OpenDocuments
from completion.service.errors import error_kind
from completion.service.methods import METHODS, Call
from completion.service.protocol import PROTOCOL_VERSION, LineSplitter, TooLong, Unreadable, encode, error, read

log = logging.getLogger(__name__)
DEFAULT_IDLE_EXIT_S = 600.0  # with no client for 10 minutes the service exits and frees the model's memory
LOG_LEVEL_ENV = "TABWISE_LOG_LEVEL"  # the engine's (completion.*) log level in the service's log; INFO unset
HANDSHAKE_TIMEOUT_S = 10.0  # a connection that does not say hello in time is closed
READ_BYTES = 256 * 1024


class Service:
    """One engine, the connections to it, and the documents they reported open."""

    def __init__(self, config: EngineConfig, idle_exit_s: float, backend_factory: BackendFactory | None = None) -> None:
        self.engine = Engine(config, backend_factory)  # llama.cpp loads lazily on the engine's worker thread
        self.configs = ClientConfigs(config, self.engine.reconfigure)  # each front end's settings; whose model runs
        self.documents = OpenDocuments(self.engine)
        self.token = rundirs.new_token()
        self.connections: set[Connection] = set()
        self.stopping = asyncio.Event()
        self._idle_exit_s = idle_exit_s  # 0: never
        self._idle: asyncio.TimerHandle | None = None
        self._numbers = itertools.count(1)
        self.stop_reason = ""
        self.count_changed()

    def clients(self) -> int:
        """Connected clients (handshake done)."""
        return sum(1 for c in self.connections if c.greeted)

    def count_changed(self) -> None:
        """Start the idle clock when the last connection ends; stop it when one comes."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self.connections and self._idle_exit_s > 0:
            self._idle = asyncio.get_running_loop().call_later(self._idle_exit_s, self.stop, "idle")

    def stop(self, why: str) -> None:
        """End the service (idle, a signal)."""
        log.info("stopping: %s", why)
        self.stop_reason = why
        self.stopping.set()

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until it closes."""
        connection = Connection(self, reader, writer, next(self._numbers))
        self.connections.add(connection)
        self.count_changed()
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
            self.documents.client_gone(connection.number)
            self.configs.client_gone(connection.number)
            self.count_changed()


class Connection:
    """One client: its handshake, its requests in flight, its answers."""

    def __init__(self, service: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int):
        self.service = service
        self.number = number
        self.greeted = False
        self.client = "?"  # the kind of front end its hello says it is
        self._reader, self._writer = reader, writer
        self._lines = LineSplitter()
        self._ready: list[bytes | TooLong] = []  # lines read but not handled yet
        self._tasks: dict[int | str, asyncio.Task[None]] = {}  # requests in flight, by id
        self._drain = asyncio.Lock()

    async def run(self) -> None:
        """Handshake, then answer requests until the client goes away; its requests are cancelled then."""
        try:
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                if await self._handshake():  # a client gone mid-line, or silent at the handshake: it is gone
                    while (line := await self._read_line()) is not None:
                        await self._handle(line)
        finally:
            for task in list(self._tasks.values()):
                task.cancel()
            self._writer.close()

    async def bye(self, why: str) -> None:
        """Tell the client the service stops on purpose (not a crash), then close."""
        with contextlib.suppress(ConnectionError):
            await self._send({"bye": why})
        self._writer.close()

    async def send_chunk(self, id: int | str, chunk: dict[str, Any]) -> None:
        """One streamed chunk of request `id`'s answer."""
        await self._send({"id": id, "chunk": chunk})

    def cancel(self, id: int | str) -> bool:
        """Cancel request `id` of this connection; False if it is not in flight."""
        task = self._tasks.get(id)
        if task is None:
            return False
        task.cancel()
        return True

    async def _handshake(self) -> bool:
        line = await asyncio.wait_for(self._read_line(), HANDSHAKE_TIMEOUT_S)
        if line is None:
            return False
        problem = self._check_hello(line)
        if problem is not None:
            kind, message = problem
            log.warning("refused a connection: %s", message)
            await self._send({"hello": PROTOCOL_VERSION, "error": {"kind": kind, "message": message}})
            return False
        self.greeted = True
        await self._send(
            {"hello": PROTOCOL_VERSION, "pid": os.getpid(), "service": "tabwise", "clients": self.service.clients()}
        )
        return True

    def _check_hello(self, line: bytes | TooLong) -> tuple[str, str] | None:
        """None if the hello is good, else the error kind and message."""
        try:
            hello = read(line)
        except Unreadable:
            hello = None
        if hello is None or not isinstance(hello.get("hello"), int):
            return "ProtocolError", 'the first message must be {"hello": VERSION, "token": ..., "client": ...}'
        if hello["hello"] != PROTOCOL_VERSION:
            return "version", f"this tabwise service speaks protocol {PROTOCOL_VERSION}, the client {hello['hello']}"
        token = hello.get("token")
        if not rundirs.token_matches(token, self.service.token):
            return "token", "wrong token: a client must read it from service.json in the service's runtime directory"
        self.client = str(hello.get("client", "?"))[:32]
        log.info("client %d connected (%s)", self.number, self.client)
        return None

    async def _read_line(self) -> bytes | TooLong | None:
        """The next line, or None at the end of the connection."""
        while not self._ready:
            data = await self._reader.read(READ_BYTES)
            if not data:
                return None
            self._ready = self._lines.feed(data)
        return self._ready.pop(0)

    async def _handle(self, line: bytes | TooLong) -> None:
        """Start the request on `line`, or answer why it is not one (naming its id where it can be read)."""
        try:
            message = read(line)
        except Unreadable as exc:
            await self._send(error("ProtocolError", str(exc), exc.id))
            return
        id, method, params = message.get("id"), message.get("method"), message.get("params", {})
        if not isinstance(id, (int, str)) or isinstance(id, bool):
            await self._send(error("ProtocolError", 'a request needs an "id": an int or a string'))
        elif id in self._tasks:
            await self._send(error("ProtocolError", f"request {id!r} is still in flight; use another id", id))
        elif not isinstance(method, str) or not isinstance(params, dict):
            await self._send(error("ProtocolError", 'a request needs a "method" (string) and "params" (object)', id))
        elif method == "ping":  # answered here, at once: it shows the service reads and answers
            await self._send({"id": id, "result": True})
        else:
            call = Call(self.service, self, id, params)
            task = asyncio.create_task(self._answer(method, call))
            self._tasks[id] = task
            task.add_done_callback(lambda task: self._finished(id, task))

    async def _answer(self, method: str, call: Call) -> None:
        """The error boundary: run the method and send its result or its error."""
        try:
            handler = METHODS.get(method)
            if handler is None:
                raise RequestError(f"unknown method {method!r}; the methods are {', '.join(METHODS)}")
            answer = {"id": call.id, "result": await handler(call)}
        except TabwiseError as exc:
            answer = error(error_kind(exc), str(exc), call.id)
        except Exception as exc:  # a bug: the client gets an answer, the log gets the traceback
            log.exception("%s failed", method)
            answer = error("InternalError", f"{type(exc).__name__}: {exc} (a bug; see the service's log)", call.id)
        with contextlib.suppress(ConnectionError):
            await self._send(answer)

    def _finished(self, id: int | str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(id, None)
        if task.cancelled() and not self._writer.is_closing():  # cancelled by id: it still gets an answer
            self._writer.write(encode(error("Cancelled", "cancelled by the client", id)))

    async def _send(self, message: dict[str, Any]) -> None:
        if self._writer.is_closing():
            return
        try:
            line = encode(message)
        except ValueError as exc:  # e.g. a lone surrogate from a file name that is not UTF-8
            log.warning("an answer could not be written: %s", exc)
            line = encode(error("InternalError", f"the answer cannot be sent: {exc}", message.get("id")))
        self._writer.write(line)
        async with self._drain:  # Python 3.10's drain() allows one waiter at a time
            await self._writer.drain()


async def run_service(
    config: EngineConfig, idle_exit_s: float, rundir: rundirs.RunDir, backend_factory: BackendFactory | None = None
) -> str:
    """Listen on the runtime directory's socket until stopped; returns why it stopped."""
    service = Service(config, idle_exit_s, backend_factory)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, service.stop, signal.Signals(signum).name)
    with contextlib.suppress(FileNotFoundError):
        rundir.socket.unlink()  # a dead service's socket: we hold the service lock, so none lives
    server = await asyncio.start_unix_server(service.accept, path=str(rundir.socket))
    os.chmod(rundir.socket, 0o600)
    inode = os.lstat(rundir.socket).st_ino
    info = rundirs.ServiceInfo(PROTOCOL_VERSION, str(rundir.socket), service.token, os.getpid(), str(rundir.log))
    rundirs.write_info(rundir, info)
    log.info("serving on %s (pid %d, protocol %d)", rundir.socket, os.getpid(), PROTOCOL_VERSION)
    try:
        await service.stopping.wait()
    finally:
        server.close()
        rundirs.remove_if_ours(rundir, os.getpid(), inode)
        for connection in list(service.connections):
            await connection.bye(service.stop_reason)
        await asyncio.to_thread(service.engine.close)
    return service.stop_reason


def serve(
    config: EngineConfig,
    idle_exit_s: float = DEFAULT_IDLE_EXIT_S,
    echo: bool = False,
    backend_factory: BackendFactory | None = None,
) -> int:
    """Run the service in this process (the runtime directory from $TABWISE_RUNTIME_DIR or the platform's).

    `echo` also logs to stderr, for `tabwise serve` in a terminal; a service a client starts has its
    stderr in the log file already. `backend_factory` makes the model (None: as the settings say)."""
    os.umask(0o077)  # the socket and every file the service makes are the user's alone from the start
    rundir = rundirs.runtime_dir()
    lock = rundirs.try_hold(rundir.service_lock)
    if lock is None:
        info = rundirs.read_info(rundir)
        raise TabwiseError(f"a tabwise service already runs in {rundir.path} (pid {info.pid if info else '?'})")
    _log_to(rundir.log, echo)
    with open(rundir.log, "a") as crashes:
        faulthandler.enable(crashes)  # a crash in llama.cpp leaves a Python traceback in the log
        try:
            why = asyncio.run(run_service(config, idle_exit_s, rundir, backend_factory))
        finally:
            faulthandler.disable()
            os.close(lock)
    log.info("stopped (%s)", why)
    return 0


def _log_to(path: Path, echo: bool) -> None:
    handlers: list[logging.Handler] = [logging.FileHandler(path)]
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s: %(message)s", handlers=handlers)
    logging.getLogger("completion").setLevel(engine_log_level(os.environ.get(LOG_LEVEL_ENV, "")))


def engine_log_level(name: str) -> int:
    """The engine's log level from TABWISE_LOG_LEVEL ("debug" adds a line per completion: fim/trace.py);
    INFO when unset or not a level's name (a typo must not silence the log)."""
    level = logging.getLevelName(name.strip().upper())
    return level if isinstance(level, int) else logging.INFO
