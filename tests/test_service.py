"""The engine service through real processes: a service started on demand, real sockets, tiny real GGUFs.

Every wait is bounded; nothing asserts on timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from completion.errors import TabwiseError
from completion.service import connection, launch
from completion.service.client import ServiceClient
from completion.service.errors import ServiceLost, ServiceRefused, ServiceUnavailable, ServiceVersionError
from completion.service.protocol import MAX_LINE_BYTES, PROTOCOL_VERSION, TOO_LONG, LineSplitter, decode, encode
from completion.service.rundir import RunDir, read_info, runtime_dir
from completion.types import ChatMessage, ChatRequest, FimRequest
from tests.conftest import CHAT_SCRIPT, ENDLESS, ENDLESS_TOKEN, ENDLESS_WINDOW, FIM_SCRIPT, TinyModels

WAIT_S = 30.0  # bound on every wait: a service start, a model load, a request
ADD = FimRequest("def add(a, b):\n    return ", "", path="add.py")


def tiny(model: Path, **more: Any) -> dict[str, Any]:
    """Settings for a tiny model: one thread, as in the engine tests."""
    return {"model_path": str(model), "n_threads": 1, "n_threads_batch": 1, **more}


def wait_until(check: Callable[[], Any], what: str, seconds: float = WAIT_S) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} within {seconds:.0f} s")


@pytest.fixture
def rundir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunDir]:
    """A private runtime directory; the service left running in it is stopped after the test."""
    path = tmp_path / "run"
    monkeypatch.setenv("TABWISE_RUNTIME_DIR", str(path))
    yield runtime_dir(path)
    info = read_info(RunDir(path))
    if info is not None and launch.pid_alive(info.pid):
        os.kill(info.pid, signal.SIGTERM)
        psutil.Process(info.pid).wait(WAIT_S)


@pytest.fixture
def make_client(rundir: RunDir) -> Iterator[Callable[..., ServiceClient]]:
    """Clients of the service in `rundir`, closed after the test."""
    made: list[ServiceClient] = []

    def make(idle_exit: str = "60") -> ServiceClient:
        made.append(ServiceClient("test", rundir.path, serve_args=["--idle-exit", idle_exit]))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def qwen_client(make_client: Callable[..., ServiceClient], tiny_models: TinyModels) -> ServiceClient:
    client = make_client()
    client.configure(tiny(tiny_models.qwen)).result(WAIT_S)
    return client


def service_pid(client: ServiceClient) -> int:
    """The pid of the service `client` reaches, once one answers (a crash's ServiceLost is retried)."""

    def ask() -> int | None:
        try:
            return int(client.status().result(WAIT_S)["service"]["pid"])
        except ServiceLost:
            return None

    return int(wait_until(ask, "a service answered"))


class Raw:
    """A bare socket speaking the protocol by hand, for what a ServiceClient never sends."""

    def __init__(self, rundir: RunDir) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT_S)
        self.sock.connect(str(rundir.socket))
        self.lines = LineSplitter()
        self.ready: list[Any] = []

    def send(self, data: bytes | dict[str, Any]) -> None:
        self.sock.sendall(encode(data) if isinstance(data, dict) else data)

    def receive(self) -> dict[str, Any] | None:
        """The next message, or None at the end of the connection."""
        while not self.ready:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.ready = self.lines.feed(data)
        return decode(self.ready.pop(0))

    def hello(self, token: str, version: int = PROTOCOL_VERSION) -> dict[str, Any] | None:
        self.send({"hello": version, "token": token, "client": "test"})
        return self.receive()


def test_a_completion_and_a_stream_through_the_service(qwen_client: ServiceClient) -> None:
    suggestion = qwen_client.complete(ADD).result(WAIT_S)
    assert suggestion.text == FIM_SCRIPT.split("\n")[0]
    stream = qwen_client.explain("print(add(1, 2))", "python", "add.py")
    assert "".join(chunk.text for chunk in stream) == CHAT_SCRIPT
    assert stream.result(WAIT_S).answer == CHAT_SCRIPT

    async def from_asyncio() -> tuple[str, str]:
        other = FimRequest("def mul(a, b):\n    return ", "", path="mul.py")  # ADD's answer is cached, run on
        suggestion = await asyncio.wrap_future(qwen_client.complete(other))
        texts = [chunk.text async for chunk in qwen_client.chat(ChatRequest((ChatMessage("user", "hi"),)))]
        return suggestion.text, "".join(texts)

    assert asyncio.run(asyncio.wait_for(from_asyncio(), WAIT_S)) == ("a + b", CHAT_SCRIPT)


def test_two_clients_starting_at_once_share_one_service(
    make_client: Callable[..., ServiceClient], tiny_models: TinyModels
) -> None:
    clients = [make_client(), make_client()]
    threads = [threading.Thread(target=client.connect) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert clients[0].service_pid is not None
    assert clients[0].service_pid == clients[1].service_pid
    clients[0].configure(tiny(tiny_models.qwen)).result(WAIT_S)
    assert [c.complete(ADD).result(WAIT_S).text for c in clients] == ["a + b", "a + b"]
    status = clients[1].status().result(WAIT_S)
    assert status["state"] == "ready"
    assert status["service"]["clients"] == 2
    assert status["service"]["models_loaded"] == 1


def test_the_socket_refuses_a_wrong_token_and_a_wrong_version(
    qwen_client: ServiceClient, rundir: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = read_info(rundir)
    assert info is not None
    wrong_token = Raw(rundir)
    answer = wrong_token.hello("not-the-token")
    assert answer is not None and answer["error"]["kind"] == "token"
    assert "wrong token" in answer["error"]["message"]
    assert wrong_token.receive() is None  # then it closes the connection
    wrong_version = Raw(rundir)
    answer = wrong_version.hello(info.token, version=PROTOCOL_VERSION + 1)
    assert answer is not None and answer["error"]["kind"] == "version"
    assert wrong_version.receive() is None

    monkeypatch.setattr(connection, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)  # a front end from the future
    with pytest.raises(ServiceVersionError, match=f"version {PROTOCOL_VERSION} and this front end version"):
        launch.try_connect("test", rundir)
    monkeypatch.undo()
    rundir.info.write_text(json.dumps({**json.loads(rundir.info.read_text()), "token": "forged"}))
    with pytest.raises(ServiceRefused, match="wrong token"):
        launch.try_connect("test", rundir)
    assert qwen_client.complete(ADD).result(WAIT_S).text == "a + b"  # the service goes on


def test_a_front_end_that_meets_another_version_says_so_and_starts_its_own(
    make_client: Callable[..., ServiceClient], tiny_models: TinyModels, rundir: RunDir, caplog: pytest.LogCaptureFixture
) -> None:
    """A service of an older tabwise (protocol 0) is running: this front end leaves it alone and uses a service
    of its own version, in a subfolder of the runtime directory (where others of its version find it)."""
    with subprocess.Popen(["sleep", "300"]) as old:  # stands for the old service: alive, never answers
        try:
            info = {"version": 0, "socket": str(rundir.socket), "token": "t", "pid": old.pid, "log": str(rundir.log)}
            rundir.info.write_text(json.dumps(info))
            client = make_client()
            with caplog.at_level("WARNING", logger="completion.service.client"):
                client.configure(tiny(tiny_models.qwen)).result(WAIT_S)
                assert client.complete(ADD).result(WAIT_S).text == "a + b"
        finally:
            old.kill()
    assert f"speaks protocol version 0 and this front end version {PROTOCOL_VERSION}" in caplog.text
    assert client.rundir.path == rundir.path / f"protocol-{PROTOCOL_VERSION}"
    assert client.service_pid not in (None, old.pid)


def test_the_runtime_files_are_the_users_alone(qwen_client: ServiceClient, rundir: RunDir, tmp_path: Path) -> None:
    qwen_client.connect()
    assert stat.S_IMODE(rundir.path.stat().st_mode) == 0o700
    for path in (rundir.socket, rundir.info, rundir.log):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_ISSOCK(rundir.socket.stat().st_mode)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(TabwiseError, match="chmod 700"):
        runtime_dir(shared)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV], ids=["SIGKILL", "SIGSEGV"])
def test_a_crash_during_a_generation_fails_the_request_and_the_next_one_works(
    make_client: Callable[..., ServiceClient], tiny_models: TinyModels, rundir: RunDir, signum: signal.Signals
) -> None:
    client = make_client()
    client.configure(tiny(tiny_models.endless, n_ctx=ENDLESS_WINDOW, time_budget_ms=600_000)).result(WAIT_S)
    client.opened("file:///work/a.py", "a.py", "def helper():\n    pass\n").result(WAIT_S)
    edited = "def helper():\n    return 1\n"
    client.edited("file:///work/a.py", "a.py", edited, 1, FimRequest(edited, "", path="a.py")).result(WAIT_S)
    pending = client.complete(FimRequest("x = ", "", path="b.py", max_tokens=ENDLESS))
    wait_until(lambda: client.status().result(WAIT_S)["busy"], "the generation started")
    old_pid = service_pid(client)
    os.kill(old_pid, signum)
    with pytest.raises(ServiceLost) as lost:
        pending.result(WAIT_S)
    assert f"(pid {old_pid}) was killed by {signum.name}" in str(lost.value)
    assert str(rundir.log) in str(lost.value)

    follow = client.complete(FimRequest("y = ", "", path="b.py", max_tokens=2)).result(WAIT_S)
    assert follow.text.strip() == (ENDLESS_TOKEN * 2).strip()  # the new service has the settings again
    status = client.status().result(WAIT_S)
    assert status["service"]["pid"] != old_pid
    assert status["service"]["documents"] == 1  # the document opened before the crash was sent again


def test_three_crashes_in_a_minute_stop_the_restarts(make_client: Callable[..., ServiceClient], rundir: RunDir) -> None:
    client = make_client()
    for _ in range(3):
        pid = service_pid(client)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda pid=pid: not launch.pid_alive(pid), "the service died")

    def gave_up() -> ServiceUnavailable | None:
        try:
            client.status().result(WAIT_S)
        except ServiceUnavailable as exc:
            return exc
        except ServiceLost:  # sent before the client saw the third crash
            return None
        pytest.fail("a service answered after three crashes")

    message = str(wait_until(gave_up, "the client gave up"))
    assert "crashed 3 times within a minute" in message
    assert "killed by SIGKILL" in message
    assert str(rundir.log) in message and "tabwise serve" in message


def test_lines_are_split_across_reads_and_an_overlong_one_is_dropped() -> None:
    lines = LineSplitter(limit=8)
    assert lines.feed(b'{"a"') == []
    assert lines.feed(b":1}\n{}\n12") == [b'{"a":1}', b"{}"]
    assert lines.feed(b"3456789") == [TOO_LONG]  # reported once, as soon as it is too long
    assert lines.feed(b"more\nok\n") == [b"ok"]


def test_a_bad_message_gets_an_error_and_the_connection_goes_on(qwen_client: ServiceClient, rundir: RunDir) -> None:
    qwen_client.connect()
    info = read_info(rundir)
    assert info is not None
    raw = Raw(rundir)
    assert raw.hello(info.token) == {"hello": PROTOCOL_VERSION, "pid": info.pid, "service": "tabwise", "clients": 2}
    bad: list[tuple[bytes | dict[str, Any], str, str]] = [
        (b"this is not json\n", "ProtocolError", "not JSON"),
        (b"[1, 2]\n", "ProtocolError", "JSON object"),
        ({"method": "status"}, "ProtocolError", '"id"'),
        ({"id": 1, "method": "nope", "params": {}}, "RequestError", "unknown method 'nope'"),
        ({"id": 2, "method": "complete", "params": {"prefix": 1, "suffix": ""}}, "RequestError", "$.prefix"),
        ({"id": 3, "method": "explain", "params": {"code": "  "}}, "RequestError", "nothing to explain"),
        (b"x" * (MAX_LINE_BYTES + 10) + b"\n", "ProtocolError", "longer than"),
    ]
    for line, kind, words in bad:
        raw.send(line)
        answer = raw.receive()
        assert answer is not None and answer["error"]["kind"] == kind, (line[:40], answer)
        assert words in answer["error"]["message"]
    raw.send({"id": 4, "method": "status", "params": {}})
    answer = raw.receive()
    assert answer is not None and answer["id"] == 4 and answer["result"]["service"]["pid"] == info.pid


def test_cancelling_a_future_or_leaving_cancels_the_generation(
    make_client: Callable[..., ServiceClient], tiny_models: TinyModels
) -> None:
    client = make_client()
    # No speculation: "busy" is then only the generations this test asks for.
    client.configure(tiny(tiny_models.endless, n_ctx=ENDLESS_WINDOW, time_budget_ms=600_000, speculate=False)).result(
        WAIT_S
    )
    pending = client.complete(FimRequest("x = ", "", max_tokens=ENDLESS))
    wait_until(lambda: client.status().result(WAIT_S)["busy"], "the generation started")
    assert pending.cancel()
    wait_until(lambda: not client.status().result(WAIT_S)["busy"], "the generation stopped")
    assert client.status().result(WAIT_S)["last_outcome"] == "cancelled"
    assert client.complete(FimRequest("y = ", "", max_tokens=1)).result(WAIT_S).text.strip() == "ok"

    leaving = make_client().connect()  # connected: the close below is a client going away, not one never come
    leaving.complete(FimRequest("z = ", "", max_tokens=ENDLESS))
    wait_until(lambda: client.status().result(WAIT_S)["busy"], "the other client's generation started")
    leaving.close()  # a client that goes away has its generations cancelled
    wait_until(lambda: not client.status().result(WAIT_S)["busy"], "the generation stopped")


def test_tabwise_serve_exits_when_idle(rundir: RunDir) -> None:
    command = [sys.executable, "-m", "cli.main", "serve", "--idle-exit", "1"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        wait_until(lambda: read_info(rundir), "the service wrote service.json")
        client = ServiceClient("test", rundir.path)
        assert client.connect().service_pid == process.pid
        client.close()
        try:
            assert process.wait(WAIT_S) == 0
        finally:
            process.kill()
        assert "stopping: idle" in process.stderr.read() if process.stderr else False
    assert not rundir.socket.exists()
    assert not rundir.info.exists()


def test_tabwise_serve_stop_ends_the_running_service(rundir: RunDir) -> None:
    command = [sys.executable, "-m", "cli.main", "serve", "--idle-exit", "0"]
    with subprocess.Popen(command, stderr=subprocess.DEVNULL) as process:
        try:
            wait_until(lambda: read_info(rundir), "the service wrote service.json")
            stop = subprocess.run([*command[:4], "--stop"], capture_output=True, text=True, timeout=WAIT_S, check=False)
            assert stop.returncode == 0 and f"(pid {process.pid}) stopped" in stop.stdout, stop
            assert process.wait(WAIT_S) == 0
        finally:
            process.kill()
    again = subprocess.run([*command[:4], "--stop"], capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert "no tabwise service is running" in again.stdout
