"""A service that stops answering (SIGSTOP stands for stopped, swapping or stuck), and messages no line can
carry: real service processes, real sockets, tiny real GGUFs.

No caller ever waits on the socket, every request has a deadline, a silent service is killed and
replaced, and a message too long, too deep or not text fails alone. Every wait is bounded; nothing
asserts on timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psutil
import pytest

from completion.errors import RequestError
from completion.service import launch
from completion.service.client import ServiceClient
from completion.service.connection import DEFAULT_DEADLINE_S, HUNG_AFTER_S, Link
from completion.service.deadlines import COMPLETE_GRACE_S, DEADLINES_S, deadline_for
from completion.service.errors import ServiceLost, ServiceStartError, ServiceTimeout
from completion.service.protocol import MAX_LINE_BYTES, PROTOCOL_VERSION, LineSplitter, TooLong, leading_id
from completion.service.rundir import RunDir, ServiceInfo, read_info, runtime_dir
from tests.conftest import TinyModels
from tests.processes import private_service
from tests.test_service import ADD, WAIT_S, Raw, service_pid, tiny, wait_until

REPLACED_S = HUNG_AFTER_S + 4 * WAIT_S  # found hung, killed, a new service started and given the documents
BIG = "value = compute(1, 2)\n" * (1_500_000 // 22)  # 1.5 MB: several times what a socket buffer holds


@pytest.fixture
def rundir(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunDir]:
    """A private runtime directory; any service started in it, stopped or not, is killed after the test."""
    with private_service() as path:
        monkeypatch.setenv("TABWISE_RUNTIME_DIR", str(path))
        yield runtime_dir(path)


@pytest.fixture
def make_client(rundir: RunDir) -> Iterator[Callable[[], ServiceClient]]:
    made: list[ServiceClient] = []

    def make() -> ServiceClient:
        made.append(ServiceClient("test", rundir.path, serve_args=["--idle-exit", "60"]))
        return made[-1]

    yield make
    for client in made:
        client.close()


def nested(depth: int) -> list[Any]:
    """[[[...]]], `depth` deep (built without recursion)."""
    outer: list[Any] = []
    inner = outer
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


def failure(future: Future[Any], seconds: float = WAIT_S) -> BaseException:
    """The exception `future` ends with (fails the test if it ends well or not in time)."""
    exception = future.exception(seconds)
    assert exception is not None, future.result()
    return exception


async def calls_to_a_stopped_service(client: ServiceClient, stopped: int) -> dict[str, Any]:
    """On an asyncio loop: large documents and a status sent to the stopped service, while a ticker runs."""
    ticks = {"while waiting": 0}
    status: Future[Any] = client.request("status", deadline_s=5.0)

    async def tick() -> None:
        while True:
            ticks["while waiting"] += 0 if status.done() else 1
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    client.opened("file:///work/big.py", "big.py", BIG, warm=False)
    edits = [client.edited("file:///work/big.py", "big.py", BIG + f"# {n}\n", None) for n in range(20)]
    state = psutil.Process(stopped).status()  # every call above returned while the service was stopped
    refused = [e for e in edits if e.done()]  # more than the outbox holds: refused at once
    waited = asyncio.gather(asyncio.wrap_future(status), return_exceptions=True)
    (timed_out,) = await asyncio.wait_for(waited, WAIT_S)  # the loop waits for it, and ticks meanwhile
    ticker.cancel()
    return {"state": state, "ticks": ticks["while waiting"], "refused": refused, "edits": edits, "status": timed_out}


def test_a_stopped_service_blocks_no_caller_and_is_replaced(
    make_client: Callable[[], ServiceClient], tiny_models: TinyModels
) -> None:
    client = make_client()
    client.configure(tiny(tiny_models.qwen)).result(WAIT_S)
    old = service_pid(client)
    os.kill(old, signal.SIGSTOP)
    seen: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: seen.update(asyncio.run(calls_to_a_stopped_service(client, old))))
    caller.start()
    caller.join(REPLACED_S)
    assert not caller.is_alive(), "the event loop was blocked writing to the stopped service"
    assert seen["state"] == psutil.STATUS_STOPPED and seen["ticks"] > 0, seen
    assert isinstance(seen["status"], ServiceTimeout), seen["status"]
    assert f"(pid {old}) did not answer 'status' within 5 s" in str(seen["status"])
    assert seen["refused"] and "takes in nothing" in str(failure(seen["refused"][0])), seen["refused"]

    lost = failure(seen["edits"][0], REPLACED_S)  # sent before the outbox filled: failed once it was found hung
    assert isinstance(lost, ServiceLost), lost
    assert f"(pid {old}) stopped answering" in str(lost) and "killing it and starting a new one" in str(lost)
    new = wait_until(lambda: (pid := service_pid(client)) != old and pid, "a new service answered", REPLACED_S)
    assert not launch.pid_alive(old)
    assert client.status().result(WAIT_S)["service"]["documents"] == 1  # the large document was sent again
    assert client.complete(ADD).result(WAIT_S).text == "a + b"  # with the settings again
    assert client.service_pid == new


def test_a_service_that_does_not_answer_the_handshake_is_replaced(
    make_client: Callable[[], ServiceClient], tiny_models: TinyModels
) -> None:
    """Another front end's service was stopped: a new front end kills it (the pid service.json names, this
    user's) and starts its own, rather than failing to start beside it forever."""
    first = make_client()
    first.configure(tiny(tiny_models.qwen)).result(WAIT_S)
    old = service_pid(first)
    os.kill(old, signal.SIGSTOP)
    second = make_client()
    second.configure(tiny(tiny_models.qwen)).result(HUNG_AFTER_S + 2 * WAIT_S)
    assert second.service_pid not in (None, old)
    assert not launch.pid_alive(old)
    assert second.complete(ADD).result(WAIT_S).text == "a + b"
    assert wait_until(lambda: service_pid(first) == second.service_pid, "the first client reconnected")


def test_a_request_no_line_can_carry_fails_alone(
    make_client: Callable[[], ServiceClient], tiny_models: TinyModels
) -> None:
    client = make_client()
    client.configure(tiny(tiny_models.qwen)).result(WAIT_S)
    pid = service_pid(client)
    huge = client.opened("file:///work/huge.py", "huge.py", "x" * (MAX_LINE_BYTES + 2**20))
    assert isinstance(failure(huge), RequestError) and "over the tabwise service's limit" in str(huge.exception())
    deep: Future[Any] = client.request("status", {"deep": nested(100_000)})
    assert isinstance(failure(deep), RequestError) and "nested too deeply" in str(deep.exception())
    lone: Future[Any] = client.request("status", {"text": "a\ud800b"})
    assert isinstance(failure(lone), RequestError) and "lone surrogate (\\ud800)" in str(lone.exception())
    assert client.complete(ADD).result(WAIT_S).text == "a + b"
    assert client.service_pid == pid


def test_a_line_too_long_too_deep_or_not_text_gets_an_error_with_its_id(
    make_client: Callable[[], ServiceClient], rundir: RunDir
) -> None:
    make_client().connect()
    info = read_info(rundir)
    assert info is not None
    raw = Raw(rundir)
    assert raw.hello(info.token) is not None
    bad: list[tuple[bytes, int | None, str]] = [
        (b'{"id": 21, "method": "opened", "params": {"text": "' + b"x" * MAX_LINE_BYTES + b'"}}\n', 21, "longer than"),
        (b'{"id": 22, "method": "status", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", 22, "too deeply"),
        (b'{"id": 23, "method": "complete", "params": {"prefix": "\\ud800", "suffix": ""}}\n', 23, "lone surrogate"),
        (b'{"id": "\\udc00", "method": "status", "params": {}}\n', None, "lone surrogate"),
        (b'{"id": 24, "method": "status", "params": {"a": "\xed\xa0\x80"}}\n', 24, "not JSON"),
    ]
    for line, id, words in bad:
        raw.send(line)
        answer = raw.receive()
        assert answer is not None and answer["id"] == id and answer["error"]["kind"] == "ProtocolError", answer
        assert words in answer["error"]["message"]
    raw.send({"id": 25, "method": "ping", "params": {}})
    assert raw.receive() == {"id": 25, "result": True}
    raw.send({"id": 26, "method": "status", "params": {}})
    answer = raw.receive()
    assert answer is not None and answer["id"] == 26 and answer["result"]["service"]["pid"] == info.pid


def test_an_id_is_read_from_the_start_of_a_line_that_cannot_be_read_whole() -> None:
    assert leading_id(b'{"id": 7, "method": "complete", "params": {"prefix": [[[[') == 7
    assert leading_id(b' {"id":"a\\"b","method"') == 'a"b'
    assert leading_id(b'{"id": 12') is None  # cut inside the number: perhaps 123
    assert leading_id(b'{"method": "status", "id": 7}') is None  # not at the start: inside params, perhaps
    assert leading_id(b'{"id": "\\ud800", "method": "status"}') is None  # no answer could carry it
    assert leading_id(b'{"id": true, "method": "status"}') is None
    lines = LineSplitter(limit=16)
    assert lines.feed(b'{"id": 9, "params": "' + b"x" * 20 + b'"}\nok\n') == [TooLong(9), b"ok"]


def test_every_method_has_a_deadline_and_complete_follows_the_time_budget() -> None:
    budgeted = {"prefix": "x", "suffix": "", "time_budget_ms": 10_000}
    assert deadline_for("complete", budgeted, {"time_budget_ms": 500}) == 20 + COMPLETE_GRACE_S
    assert deadline_for("complete", {"prefix": "x"}, {"time_budget_ms": 500}) == 1 + COMPLETE_GRACE_S
    assert deadline_for("complete", {"prefix": "x"}, None) == 2 + COMPLETE_GRACE_S  # the engine's default, 1 s
    assert deadline_for("configure", {}, None) > deadline_for("opened", {}, None) > deadline_for("status", {}, None)
    assert deadline_for("status", {}, None) == DEFAULT_DEADLINE_S
    assert deadline_for("chat", {}, None) == DEADLINES_S["chat"]
    # A stopped service is found (and said to be) before any of its requests' deadlines pass.
    assert min(*DEADLINES_S.values(), DEFAULT_DEADLINE_S, COMPLETE_GRACE_S) > HUNG_AFTER_S


class ScriptedService:
    """The service's end of a socket pair, played by the test: it greets, then streams chunks to the first
    request for as long as the test says."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.streaming = threading.Event()
        self.streaming.set()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def run(self) -> None:
        lines = LineSplitter()
        self.sock.recv(65536)  # the hello
        self.send({"hello": PROTOCOL_VERSION, "pid": os.getpid(), "service": "tabwise"})
        request: list[Any] = []
        while not request:
            request = lines.feed(self.sock.recv(65536))
        id = json.loads(request[0])["id"]
        while self.streaming.is_set():
            self.send({"id": id, "chunk": {"kind": "answer", "text": " ok"}})
            time.sleep(0.05)


def test_a_chat_stream_has_its_deadline_between_chunks(tmp_path: Path) -> None:
    """A stream lives past its deadline while chunks come; it fails once they stop for that long."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    service = ScriptedService(theirs)
    info = ServiceInfo(PROTOCOL_VERSION, "", "token", os.getpid(), str(tmp_path / "service.log"))
    link = Link(mine, info, "test")
    link.start(lambda _: ServiceLost("gone"))
    chunks: list[dict[str, Any]] = []
    answer: Future[Any] = Future()
    sent = time.monotonic()
    link.request("ask", {"question": "Say ok forever."}, answer, on_chunk=chunks.append, deadline_s=2.0)
    wait_until(lambda: time.monotonic() - sent > 6.0, "three deadlines passed")
    assert not answer.done() and chunks  # each chunk started its deadline again
    service.streaming.clear()
    assert isinstance(failure(answer), ServiceTimeout) and "did not answer 'ask' within 2 s" in str(answer.exception())
    link.close()


def test_a_pid_another_process_took_is_not_killed(rundir: RunDir) -> None:
    """service.json names a pid that is no tabwise service: this user's process, started after the file was
    written (a pid the dead service's was reused for)."""
    with subprocess.Popen(["sleep", "300"]) as other:
        try:
            info = {"version": PROTOCOL_VERSION, "socket": "x", "token": "t", "pid": other.pid, "log": "x"}
            rundir.info.write_text(json.dumps(info))
            os.utime(rundir.info, (1, 1))  # written in 1970: any process is younger
            with pytest.raises(ServiceStartError, match="not this user's tabwise service"):
                launch.end_hung(rundir, other.pid)
            assert other.poll() is None  # alive
        finally:
            rundir.info.unlink()  # so that the fixture stops no process it names
            other.kill()
