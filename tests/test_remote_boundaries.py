"""What a remote backend trusts and what it does not: the key file, the URL's userinfo, and a server that
misbehaves (keep-alive comments forever, nothing at all, an endless line or body, the key echoed back).

A llama-server stand-in on loopback (tests/standin.py) plays the server; the engine, the backends and the
service are the real ones. Every wait is bounded by a limit the code is configured with, not by the
machine's speed.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from completion.errors import BackendUnavailable, Cancelled, TabwiseError
from completion.runtime import SamplingParams, remote
from completion.runtime.bounded import Overrun, capped_lines
from completion.runtime.credentials import KEY_ENV, KEY_FILE_MAX_BYTES, scrub, secrets_of
from completion.runtime.llama_server_backend import LlamaServerBackend
from completion.service.client import ServiceClient
from completion.service.rundir import runtime_dir
from completion.types import FimRequest, StopReason
from tests.processes import private_service_env
from tests.servers import self_signed_certificate
from tests.standin import ANSWER, HUGE_LINE_BYTES, StandIn, stand_in

KEY = "sk-SECRET-KEY-123"  # what no message, status or log may show
SECOND_LINE = "second line of the key file"
PASSWORD = "s3cret-pass"
REQUEST = FimRequest("def add(a, b):\n    return ", "\n", path="calc.py", language="python")
WAIT_S = 30.0  # bound on a wait that no limit of the code decides (a model load, a service start)


@pytest.fixture
def server() -> Iterator[StandIn]:
    with stand_in() as running:
        yield running


def config(server: StandIn, **changes: object) -> EngineConfig:
    """The engine on the stand-in: its FIM format named (it has no vocabulary), no speculation."""
    base = EngineConfig(backend="llama-server", backend_url=server.url, fim_format="qwen2.5-coder", speculate=False)
    return base.with_changes(**changes)


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"{secret!r} shown in {text[:300]!r}"


# -- the key file ---------------------------------------------------------------------------------------


def test_the_key_is_the_first_line_of_its_file(
    server: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key_file = tmp_path / "api-key"
    key_file.write_text(f"{KEY}\n# {SECOND_LINE}\n")
    with Engine(config(server, api_key_file=key_file)) as engine:
        assert engine.complete(REQUEST).text == ANSWER
        assert {authorization for _, _, authorization in server.seen} == {f"Bearer {KEY}"}
        status = str(engine.status().summary())
    assert_nowhere([KEY, SECOND_LINE], status, caplog.text)


def fifo(path: Path) -> tuple[Path, str]:
    os.mkfifo(path)
    return path, "is not a regular file"


def too_big(path: Path) -> tuple[Path, str]:
    path.write_text(KEY + "A" * KEY_FILE_MAX_BYTES + "\n")
    return path, f"is over {KEY_FILE_MAX_BYTES:,} bytes"


def with_a_space(path: Path) -> tuple[Path, str]:
    path.write_text(f"{KEY} {SECOND_LINE}\n")
    return path, "is not a valid API key"


def key_on_the_second_line(path: Path) -> tuple[Path, str]:
    path.write_text(f"\n{KEY}\n")
    return path, "first line of the API key file"


def a_device(path: Path) -> tuple[Path, str]:
    return Path("/dev/null"), "is not a regular file"


@pytest.mark.parametrize("make", [fifo, a_device, too_big, with_a_space, key_on_the_second_line])
def test_a_key_file_that_holds_no_key_is_one_clear_error(
    make: Callable[[Path], tuple[Path, str]], server: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A FIFO or a device (which may never end) is refused before a byte is read; a big file or a key a
    header cannot carry by what is wrong. The message names the file, never what it holds."""
    caplog.set_level(logging.DEBUG)
    key_file, why = make(tmp_path / "api-key")
    with Engine(config(server, api_key_file=key_file)) as engine:
        with pytest.raises(BackendUnavailable) as refused:
            engine.load(timeout=WAIT_S)  # a FIFO held the worker for good
        message = str(refused.value)
        assert str(key_file) in message and why in message
        assert engine.status().error == message
        status = str(engine.status().summary())
    assert server.seen == []
    assert_nowhere([KEY, SECOND_LINE], message, status, caplog.text)


def test_a_key_in_the_environment_is_checked_alike(server: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, f"{KEY}\n{SECOND_LINE}")
    with Engine(config(server)) as engine:
        with pytest.raises(BackendUnavailable, match=rf"^the key in \${KEY_ENV} is not a valid API key") as refused:
            engine.load()
        assert_nowhere([KEY, SECOND_LINE], str(refused.value), str(engine.status().summary()))


def test_a_server_that_echoes_the_key_never_gets_it_shown(
    server: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: what a server answers is scrubbed of the key before any message holds it."""
    caplog.set_level(logging.DEBUG)
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    server.default = "echo-key"
    with Engine(config(server, api_key_file=key_file)) as engine:
        with pytest.raises(BackendUnavailable) as failed:
            engine.complete(REQUEST)
        assert "HTTP 500: refused Bearer ***" in str(failed.value)
        status = str(engine.status().summary())
    assert_nowhere([KEY], str(failed.value), status, caplog.text)


# -- the service, and the URL's userinfo ---------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["userinfo", "key file"])
def test_no_secret_reaches_the_service_log_status_or_errors(
    server: StandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secret: str
) -> None:
    """Through the service, a request that works then one the server refuses, echoing the credentials: the
    service's log (service.log), its status and its errors show neither the key nor the URL's userinfo."""
    settings = {"backend": "llama-server", "backend_url": server.url, "fim_format": "qwen2.5-coder", "speculate": False}
    if secret == "userinfo":
        settings["backend_url"] = server.url.replace("http://", f"http://tabwise:{PASSWORD}@")
        basic = base64.b64encode(f"tabwise:{PASSWORD}".encode()).decode()
        sent, hidden = f"Basic {basic}", [PASSWORD, basic]
    else:
        (tmp_path / "api-key").write_text(f"{KEY}\n{SECOND_LINE}\n")
        settings["api_key_file"] = str(tmp_path / "api-key")
        sent, hidden = f"Bearer {KEY}", [KEY, SECOND_LINE]
    with private_service_env(monkeypatch) as path, ServiceClient("test", path) as client:
        client.configure(settings).result(WAIT_S)
        assert client.complete(REQUEST).result(WAIT_S).text == ANSWER
        server.default = "echo-key"
        with pytest.raises(TabwiseError) as failed:
            client.complete(FimRequest("x = ", "\n", path="x.py")).result(WAIT_S)
        status = client.status().result(WAIT_S)
        log = runtime_dir(path).log.read_text()
    assert sent in {authorization for _, _, authorization in server.seen}  # the credentials were used
    assert status["server"] == server.url and f"at {server.url} is unavailable" in str(failed.value)
    assert_nowhere(hidden, str(failed.value), str(status), log)


def test_a_url_that_is_not_one_is_one_clear_error() -> None:
    with Engine(EngineConfig(backend="llama-server", backend_url=f"http://me:{PASSWORD}@gpu-box:port")) as engine:
        with pytest.raises(BackendUnavailable, match=r"^http://gpu-box:port is not a valid URL") as refused:
            engine.load()
        assert_nowhere([PASSWORD], str(refused.value), str(engine.status().summary()))


def test_scrub_takes_out_the_key_and_any_userinfo() -> None:
    secrets = secrets_of(f"https://me:{PASSWORD}@gpu-box:8000", KEY)
    text = f"Illegal header value b'Bearer {KEY}\\n# x' at https://me:{PASSWORD}@gpu-box:8000/v1 and http://a:b@c/"
    assert scrub(text, secrets) == "Illegal header value b'Bearer ***\\n# x' at https://gpu-box:8000/v1 and http://c/"


# -- a server that keeps a stream going ---------------------------------------------------------------------


def test_a_stream_of_pings_alone_ends_when_no_data_comes_in_time(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle_s = 1.0
    monkeypatch.setattr(remote, "READ_TIMEOUT_S", idle_s)
    server.default = "pings"
    with Engine(config(server)) as engine:
        engine.load()
        started = time.monotonic()
        job = engine.submit_complete(REQUEST)
        with pytest.raises(BackendUnavailable, match=f"is unavailable \\(nothing within {idle_s:g} s\\)"):
            job.result(30 * idle_s)
        assert idle_s <= time.monotonic() - started
    assert server.hung_up.wait(WAIT_S)


def test_a_newer_request_ends_an_older_one_waiting_on_pings(server: StandIn) -> None:
    """The engine cancels the older (superseded) request; its stream ends at once, not at a deadline."""
    server.behaviours = {"PINGS": "pings"}
    with Engine(config(server, time_budget_ms=600_000)) as engine:
        engine.load()
        older = engine.submit_complete(FimRequest("# PINGS\nx = ", "\n", path="c.py", document="c.py"))
        assert server.started.wait(WAIT_S)
        newer = engine.submit_complete(FimRequest("y = ", "\n", path="c.py", document="c.py"))
        assert newer.result(remote.READ_TIMEOUT_S / 4).text == ANSWER
        with pytest.raises(Cancelled):
            older.result(0)
        assert server.hung_up.wait(WAIT_S) and engine.status().error is None


@pytest.mark.parametrize("transport", ["http", "https"])
@pytest.mark.parametrize("behaviour", ["pings", "headers-only"])
def test_close_from_another_thread_ends_a_read_at_once(
    behaviour: str, transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker blocked in next() on a stream that sends pings, or nothing after its headers, while the
    engine closes it from another thread: the read ends as Cancelled, not as a failure of the server."""
    tls = self_signed_certificate(tmp_path) if transport == "https" else None
    if tls is not None:
        monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))  # the stand-in's certificate, trusted
    with stand_in(tls) as server:
        server.default = behaviour
        backend = LlamaServerBackend.connect(config(server))
        generation = backend.generate("x = ", SamplingParams(max_tokens=8))
        ended: list[BaseException] = []

        def read() -> None:
            try:
                ended.append(AssertionError(f"a piece came: {next(generation)!r}"))
            except Exception as exc:  # what the test checks
                ended.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        assert server.started.wait(WAIT_S)
        generation.close()
        reader.join(remote.READ_TIMEOUT_S / 4)  # else the read would last until the server's next byte
        assert not reader.is_alive() and isinstance(ended[0], Cancelled), ended
        assert server.hung_up.wait(WAIT_S) and backend.server.backoff.problem() is None


def test_a_warm_up_yields_to_a_live_request(server: StandIn) -> None:
    """A warm-up the server holds (all its slots busy) ends as soon as a live request comes."""
    server.behaviours = {"LIVE": "answer", "WARM": "silent"}
    with Engine(config(server)) as engine:
        engine.load()
        engine.document_opened("w.py", "w.py", "# WARM\nx = 1\n")
        assert server.started.wait(WAIT_S)
        live = FimRequest("# LIVE\ny = ", "\n", path="live.py", document="live.py")
        assert engine.submit_complete(live).result(remote.WARM_TIMEOUT_S / 10).text == ANSWER
        assert server.hung_up.wait(WAIT_S)
        assert engine.status().error is None  # a warm-up cut short is no failure of the server


# -- answers past their caps -------------------------------------------------------------------------------


def test_a_stream_that_ends_before_the_server_says_why_is_a_cut(server: StandIn) -> None:
    """Without llama-server's final event the text is not known whole: what it left open is not shown."""
    server.default = "unended"  # writes `print(alpha + beta`, then hangs up
    with Engine(config(server)) as engine:
        suggestion = engine.complete(REQUEST)
    assert (suggestion.text, suggestion.stop_reason) == ("", StopReason.CANCELLED)


def test_one_endless_line_is_refused_at_its_cap(server: StandIn) -> None:
    server.default = "huge-line"
    cap = f"{remote.MAX_LINE_BYTES >> 20} MiB"
    refused = pytest.raises(BackendUnavailable, match=rf"is unavailable \(it sent a line over {cap}\)")
    with Engine(config(server)) as engine, refused:
        engine.complete(REQUEST)
    assert server.hung_up.wait(WAIT_S) and server.written < HUGE_LINE_BYTES // 4


@pytest.mark.parametrize(
    ("props", "message"), [("endless", "its answer is over 8 MiB"), ("deep", "the answer is not JSON")]
)
def test_a_json_answer_past_its_cap_or_too_deep_is_one_clear_error(server: StandIn, props: str, message: str) -> None:
    server.props = props
    with Engine(config(server)) as engine, pytest.raises(BackendUnavailable, match=message):
        engine.load()
    assert server.written < 4 * remote.MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("behaviour", "limit", "value", "message"),
    [
        ("endless", "MAX_STREAM_BYTES", 1 << 20, "its answer is over 1 MiB"),
        ("trickle", "STREAM_DEADLINE_S", 1.0, "no complete answer within 1 s"),
    ],
)
def test_an_endless_stream_ends_at_its_cap(
    server: StandIn, monkeypatch: pytest.MonkeyPatch, behaviour: str, limit: str, value: float, message: str
) -> None:
    """Data events that never end: the stream's byte cap, or its deadline when they come slowly."""
    monkeypatch.setattr(remote, limit, value)
    server.default = behaviour
    generation = LlamaServerBackend.connect(config(server)).generate("x = ", SamplingParams(max_tokens=8))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=message):
        for _ in generation:
            assert time.monotonic() - started < 30 * remote.STREAM_DEADLINE_S, "the stream was never ended"
            assert server.written < 64 * remote.MAX_STREAM_BYTES, "the stream was never ended"
    assert server.hung_up.wait(WAIT_S)


def test_lines_are_split_at_any_line_end_and_capped() -> None:
    chunks = [b"data: 1\r", b"\ndata: 2\rdata: 3\n\n: ping\r\n", b"last"]
    assert list(capped_lines(chunks, 100, 1000)) == ["data: 1", "data: 2", "data: 3", "", ": ping", "last"]
    with pytest.raises(Overrun, match="a line over 16 bytes"):
        list(capped_lines([b"x" * 10, b"x" * 10], 16, 1000))
    with pytest.raises(Overrun, match="over 1 KiB"):
        list(capped_lines([b"x\n" * 400] * 2, 16, 1024))
