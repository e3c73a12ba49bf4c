"""The engine on remote backends: a real llama-server and a real llama-cpp-python OpenAI-compatible server on
loopback, each serving a tiny scripted model (known outputs), reached with an API key."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from completion.errors import BackendUnavailable
from completion.runtime import Backend, SamplingParams
from completion.runtime.llama_backend import LlamaBackend
from completion.runtime.llama_server_backend import LlamaServerBackend
from completion.runtime.openai_backend import OpenAIBackend, RatioCounter
from completion.runtime.remote import Backoff, RemoteServer
from completion.runtime.remote_backends import connect
from completion.runtime.traits import fim_by_name
from completion.types import FimRequest, StopReason
from tests.conftest import CHAT_SCRIPT, ENDLESS, OPEN_SCRIPT, TinyModels, after_space, tiny_config
from tests.processes import serving
from tests.servers import (
    API_KEY,
    Server,
    decoding,
    endless_llama_server,
    llama_server,
    openai_server,
    self_signed_certificate,
    wait_idle,
)

REQUEST = FimRequest("def add(a, b):\n    return ", "\n", path="calc.py", language="python")
# The bracket model writes OPEN_SCRIPT here; a limit of 4 tokens cuts it in its call, 7 in its string.
OPEN_REQUEST = FimRequest("def show(alpha, beta):\n    ", "\n", path="show.py", language="python", document="show.py")
OPEN_CUTS = {4: "print(alpha + beta", 7: 'print(alpha + beta, "gamma'}
LINES = ["def add(a, b):\n", "    return a + b\n", "<|fim_prefix|>x = 1<|fim_suffix|>\n", "  # ünïcode ✓\n", "\n"]


@pytest.fixture(scope="module")
def shared_llama_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with llama_server(tiny_models.qwen, tmp_path_factory.mktemp("llama-server")) as server:
        yield server


@pytest.fixture(scope="module")
def shared_openai_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with openai_server(tiny_models.qwen, tmp_path_factory.mktemp("openai")) as server:
        yield server


@pytest.fixture(scope="module")
def bracket_llama_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with llama_server(tiny_models.bracket, tmp_path_factory.mktemp("bracket-llama-server")) as server:
        yield server


@pytest.fixture(scope="module")
def bracket_openai_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with openai_server(tiny_models.bracket, tmp_path_factory.mktemp("bracket-openai")) as server:
        yield server


def remote_config(kind: str, server: Server, **changes: object) -> EngineConfig:
    url = server.url + ("/v1" if kind == "openai" else "")
    return EngineConfig(backend=kind, backend_url=url, api_key_file=server.key_file).with_changes(**changes)


@pytest.mark.parametrize("kind", ["llama-server", "openai"])
def test_a_suggestion_and_an_explanation(kind: str, shared_llama_server: Server, shared_openai_server: Server) -> None:
    server = shared_llama_server if kind == "llama-server" else shared_openai_server
    with Engine(remote_config(kind, server)) as engine:
        info = engine.load()
        assert info.backend == kind and info.path.startswith(server.url)
        assert engine.traits().fim is not None and engine.traits().fim.name == "qwen2.5-coder"  # by vocabulary
        assert engine.complete(REQUEST).text == "a + b"
        assert engine.explain("def add(a, b):\n    return a + b\n", "python").result().answer == CHAT_SCRIPT
        status = engine.status().summary()
        assert status["device"] == kind and status["server"] == info.path and status["error"] is None


def test_llama_server_reuses_the_prompt_and_learns_the_model(shared_llama_server: Server) -> None:
    with Engine(remote_config("llama-server", shared_llama_server, speculate=False)) as engine:
        info = engine.load()
        assert (info.n_ctx, info.slots, info.name) == (2048, 2, "qwen")  # per slot: -c 4096 over -np 2
        assert info.chat_template and "<|im_start|>" in info.chat_template
        first = engine.complete(REQUEST)
        again = engine.complete(FimRequest(REQUEST.prefix + " ", "\n", path="calc.py", language="python"))
        assert first.timings.prompt_tokens > 0
        assert again.timings.reused_tokens >= first.timings.prompt_tokens - 8  # cache_prompt: only the tail


def test_users_keep_their_own_slots(shared_llama_server: Server) -> None:
    """No request pins a slot: two users alternating each find their prompt cached in a slot of their own."""
    backend = LlamaServerBackend.connect(remote_config("llama-server", shared_llama_server))
    prompts = [f"<|fim_prefix|># user {user}\n" + "x = 1\n" * 60 + "<|fim_suffix|><|fim_middle|>" for user in (1, 2)]
    params = SamplingParams(max_tokens=2)
    for prompt in prompts:
        list(backend.generate(prompt, params))
    for prompt in prompts:
        generation = backend.generate(prompt, params)
        list(generation)
        assert generation.reused_tokens >= generation.prompt_tokens - 2, "the other user's request took its slot"


@pytest.mark.parametrize("kind", ["llama-server", "openai"])
def test_token_counts_are_the_servers(
    kind: str, shared_llama_server: Server, shared_openai_server: Server, tiny_models: TinyModels
) -> None:
    import llama_cpp

    server = shared_llama_server if kind == "llama-server" else shared_openai_server
    backend = connect(remote_config(kind, server))
    vocab = llama_cpp.Llama(str(tiny_models.qwen), vocab_only=True, verbose=False)
    for line in LINES:
        assert backend.token_count(line) == len(vocab.tokenize(line.encode(), add_bos=False, special=True)), line
    assert backend.is_special_token("<|fim_middle|>") and not backend.is_special_token("fim_middle")


def test_a_ratio_counter_is_measured_on_the_server(shared_openai_server: Server) -> None:
    """Where a server has no tokenize route, counts come from its characters per token on a sample."""
    backend = connect(remote_config("openai", shared_openai_server))
    assert isinstance(backend, OpenAIBackend)
    counter = RatioCounter.measure(backend.server, "/v1", "")
    ratio = counter.chars_per_token
    assert 1.5 < ratio < 6 and counter("x" * 30) == round(30 / ratio)
    assert counter("        return x\n") == 1 + round(9 / ratio)  # the indentation is one token


def test_closing_a_generation_stops_the_server(tiny_models: TinyModels, tmp_path: Path) -> None:
    with endless_llama_server(tiny_models.endless, tmp_path) as server:
        backend = LlamaServerBackend.connect(remote_config("llama-server", server))
        generation = backend.generate("x = ", SamplingParams(max_tokens=ENDLESS))
        assert [next(generation) for _ in range(10)] == [" ok"] * 10
        assert decoding(server)
        generation.close()
        wait_idle(server, 10)  # it would write for minutes more


def test_a_newer_request_supersedes_the_older_on_the_server(tiny_models: TinyModels, tmp_path: Path) -> None:
    with (
        endless_llama_server(tiny_models.endless, tmp_path) as server,
        Engine(remote_config("llama-server", server, time_budget_ms=600_000, max_tokens=ENDLESS)) as engine,
    ):
        engine.load()
        request = FimRequest("x = ", "\n", path="c.py", language="python", document="c.py")
        older = engine.submit_complete(request)
        deadline = time.monotonic() + 30
        while not decoding(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        moved = FimRequest("y = ", "\n", path="c.py", document="c.py", max_tokens=3)  # not on the older's path
        newer = engine.submit_complete(moved)
        assert newer.result(60).text == after_space(3)
        assert older.cancelled
        wait_idle(server, 10)


def test_a_server_that_goes_away_and_comes_back(tiny_models: TinyModels, tmp_path: Path) -> None:
    with (
        llama_server(tiny_models.qwen, tmp_path) as server,
        Engine(remote_config("llama-server", server, speculate=False)) as engine,
    ):
        assert engine.complete(REQUEST).text == "a + b"
        server.stop()
        with pytest.raises(BackendUnavailable) as away:
            engine.complete(FimRequest("def sub(a, b):\n    return ", "\n", path="calc.py"))
        assert server.url in str(away.value) and "refused" in str(away.value).lower()
        assert engine.status().error == str(away.value)
        remote = RemoteServer.shared(server.url, API_KEY)
        sent = sum(remote.sent.values())
        for _ in range(5):  # within the backoff window: the same message, no connection attempted
            with pytest.raises(BackendUnavailable, match="refused"):
                engine.complete(FimRequest("def mul(a, b):\n    return ", "\n", path="calc.py"))
        assert sum(remote.sent.values()) == sent
        server.restart()
        deadline = time.monotonic() + 60
        while True:
            try:  # a request the suggestion cache cannot answer
                assert engine.complete(FimRequest("def div(a, b):\n    return ", "\n", path="calc.py")).text == "a + b"
                break
            except BackendUnavailable:
                assert time.monotonic() < deadline, "never recovered"
                time.sleep(0.2)
        assert engine.status().error is None


@pytest.mark.parametrize("kind", ["llama-server", "openai"])
def test_a_wrong_key(kind: str, shared_llama_server: Server, shared_openai_server: Server, tmp_path: Path) -> None:
    server = shared_llama_server if kind == "llama-server" else shared_openai_server
    wrong = tmp_path / "wrong-key"
    wrong.write_text("not-the-key\n")
    with Engine(remote_config(kind, server, api_key_file=wrong)) as engine:
        with pytest.raises(BackendUnavailable) as refused:
            engine.complete(REQUEST)
        message = str(refused.value)
        assert "API key was refused" in message and server.url in message and "not-the-key" not in message
        assert engine.status().state == "error" and API_KEY not in str(engine.status().summary())


def test_an_unreachable_url_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        with (
            Engine(EngineConfig(backend="llama-server", backend_url=url)) as engine,
            pytest.raises(BackendUnavailable, match=f"^the inference server at {url} is unavailable"),
        ):
            engine.complete(REQUEST)


def test_fallback_answers_with_the_local_model(tiny_models: TinyModels, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = tiny_config(tiny_models.qwen, backend="llama-server", backend_url=url, backend_fallback=True)
        with Engine(config) as engine:
            assert engine.complete(REQUEST).text == "a + b"
            assert engine.status().model is not None and engine.status().model.backend == "local"


def test_fallback_while_the_server_is_away(tiny_models: TinyModels, tmp_path: Path) -> None:
    with llama_server(tiny_models.qwen, tmp_path) as server:
        config = tiny_config(tiny_models.qwen, speculate=False).with_changes(
            backend="llama-server", backend_url=server.url, api_key_file=server.key_file, backend_fallback=True
        )
        with Engine(config) as engine:
            assert engine.complete(REQUEST).text == "a + b"
            server.stop()
            assert engine.complete(FimRequest("def sub(a, b):\n    return ", "\n", path="calc.py")).text == "a + b"
            assert engine.status().model.backend == "llama-server"  # type: ignore[union-attr]
            assert "is unavailable" in str(engine.status().error)  # said, though the local model answered


def test_the_local_backend_opens_no_network_connection(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[object] = []
    original = socket.socket.connect

    def connect_(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            connections.append(address)
        original(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect_)
    with Engine(tiny_config(tiny_models.qwen)) as engine:
        assert engine.complete(REQUEST).text == "a + b"
        assert engine.explain("x = 1\n").result().answer == CHAT_SCRIPT
    assert connections == []


def test_the_fim_format_from_the_name() -> None:
    assert fim_by_name("Qwen/Qwen2.5-Coder-7B-Instruct").name == "qwen2.5-coder"  # type: ignore[union-attr]
    assert fim_by_name("deepseek-ai/deepseek-coder-6.7b-base").name == "deepseek-coder"  # type: ignore[union-attr]
    assert fim_by_name("bigcode/starcoder2-15b").name == "starcoder2"  # type: ignore[union-attr]
    assert fim_by_name("meta-llama/Llama-3.1-8B-Instruct") is None


def test_backoff_doubles_and_resets() -> None:
    backoff = Backoff()
    backoff.check()  # nothing failed: no wait
    error = BackendUnavailable("the inference server at http://x is unavailable (down)")
    backoff.failed(error)
    with pytest.raises(BackendUnavailable):
        backoff.check()
    backoff.failed(error)
    assert backoff.problem() == str(error) and backoff._window == 1.0
    backoff.succeeded()
    backoff.check()
    assert backoff.problem() is None


def test_doctor_reports_the_backend_its_model_and_the_round_trip(
    shared_llama_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    url = shared_llama_server.url
    assert main(["doctor", "--backend", "llama-server", "--backend-url", url,
                 "--api-key-file", str(shared_llama_server.key_file)]) == 0  # fmt: skip
    shown = capsys.readouterr().out
    assert f"backend         llama-server at {url}" in shown and "model           qwen; context 2048" in shown
    assert "ms a round trip" in shown and "fill-in-the-middle, qwen2.5-coder" in shown and API_KEY not in shown


def test_backend_settings_in_every_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    from completion.settings import Spelling, engine_settings, read_settings

    monkeypatch.setenv("TABWISE_BACKEND", "openai")
    monkeypatch.setenv("TABWISE_BACKEND_URL", "https://gpu-box:8000/v1")
    monkeypatch.setenv("TABWISE_API_KEY_FILE", "/keys/tabwise")
    settings, problems = read_settings({"backendModel": "Qwen/Qwen2.5-Coder-7B", "backend": "vllm"}, Spelling.CAMEL)
    assert problems == ["setting backend='vllm' ignored: must be one of local, llama-server, openai"]
    engine = engine_settings(settings)
    assert engine["backend"] == "openai" and engine["backend_url"] == "https://gpu-box:8000/v1"
    assert engine["backend_model"] == "Qwen/Qwen2.5-Coder-7B" and engine["api_key_file"] == Path("/keys/tabwise")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on loopback with a self-signed certificate (answers every GET with `{}`)."""
    import http.server
    import ssl

    cert, key = self_signed_certificate(tmp_path)

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    with serving(httpd):
        yield f"https://127.0.0.1:{httpd.server_address[1]}", cert


def test_tls_is_verified(tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = tls_server
    with pytest.raises(BackendUnavailable, match="certificate verify failed: self-signed certificate"):
        RemoteServer(url, "k").get("/props")  # a certificate nobody vouches for is refused
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the team's own CA, as OpenSSL takes it
    assert RemoteServer(url, "k").get("/props").body == {}


def bracket_config(kind: str, tiny_models: TinyModels, request: pytest.FixtureRequest) -> EngineConfig:
    """The bracket model in process, or on its own server of `kind` (started only for the tests that need it)."""
    if kind == "local":
        return tiny_config(tiny_models.bracket, speculate=False)
    server = request.getfixturevalue("bracket_llama_server" if kind == "llama-server" else "bracket_openai_server")
    return remote_config(kind, server, speculate=False)


@pytest.mark.parametrize("kind", ["local", "llama-server", "openai"])
def test_the_stop_reasons_are_the_servers(kind: str, tiny_models: TinyModels, request: pytest.FixtureRequest) -> None:
    """Cut by the token limit, ended by the model, ended at a stop word: only the first is a cut."""
    config = bracket_config(kind, tiny_models, request)
    backend: Backend = LlamaBackend.load(config, tiny_models.bracket) if kind == "local" else connect(config)
    prompt = "<|fim_prefix|>" + OPEN_REQUEST.prefix + "<|fim_suffix|>" + OPEN_REQUEST.suffix + "<|fim_middle|>"
    word = StopReason.STOP if kind == "llama-server" else StopReason.END  # the others say "stop" for both
    for params, text, reason in [
        (SamplingParams(max_tokens=4), OPEN_CUTS[4], StopReason.LENGTH),
        (SamplingParams(max_tokens=64), OPEN_SCRIPT, StopReason.END),
        (SamplingParams(max_tokens=64, stop=(", ",)), "print(alpha + beta", word),
    ]:
        generation = backend.generate(prompt, params)
        assert ("".join(generation), generation.stop_reason) == (text, reason), params


@pytest.mark.parametrize("kind", ["local", "llama-server", "openai"])
def test_a_suggestion_the_token_limit_cuts_open_is_never_shown(
    kind: str, tiny_models: TinyModels, request: pytest.FixtureRequest
) -> None:
    """No bracket or string the model had not closed is shown, nor cached for a later request; with room to
    end, the whole call is."""
    with Engine(bracket_config(kind, tiny_models, request)) as engine:
        for limit in OPEN_CUTS:
            cut = engine.complete(replace(OPEN_REQUEST, max_tokens=limit))
            assert (cut.text, cut.stop_reason) == ("", StopReason.LENGTH), limit
        typed = engine.complete(replace(OPEN_REQUEST, prefix=OPEN_REQUEST.prefix + "print(", max_tokens=4))
        assert typed.stop_reason is not StopReason.CACHED, typed  # not the rest of a cut suggestion
        whole = engine.complete(OPEN_REQUEST)
        assert (whole.text, whole.stop_reason) == (OPEN_SCRIPT, StopReason.END)
