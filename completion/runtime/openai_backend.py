"""Any OpenAI-compatible server (vLLM, SGLang, LM Studio, llama-server, llama-cpp-python's own server) as the
engine's backend.

Suggestions go to `/v1/completions` with the FIM prompt as text (vLLM's route has no `suffix`), so the
FIM format comes from the vocabulary where the server can tokenize, else from the model's name or the
`fim_format` setting. Ask and explain go to `/v1/chat/completions`: the server applies the model's chat
template, which tabwise cannot see here. Token counts come from the server's tokenize route where it has
one (vLLM and llama-server `/tokenize`, llama-cpp-python `/extras/tokenize/count`); where it has none,
from a characters-per-token ratio measured on the server at connect (its error is in docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from completion.config import EngineConfig
from completion.errors import BackendUnavailable
from completion.runtime import Generation, ModelInfo, SamplingParams, note_tokens
from completion.runtime.remote import EventStream, RemoteServer, read_key
from completion.types import ChatMessage, StopReason

# What the ratio is measured on at connect: code, as suggestions count it.
CALIBRATION_TEXT = (
    "def total_value(items: list[dict[str, float]]) -> float:\n"
    '    """The value of everything in stock."""\n'
    "    return sum(item['price'] * item['quantity'] for item in items if item['quantity'] > 0)\n\n\n"
    "class Inventory:\n    def __init__(self) -> None:\n        self.items: dict[str, int] = {}\n"
)
# `finish_reason`: "stop" is the model's end or a stop word; "length", any other ("content_filter") and a stream
# that ends without one count as cut.
FINISH_REASONS = {"length": StopReason.LENGTH, "stop": StopReason.END}


class ChatPrompt(str):
    """A chat rendered for counting (roles and contents as text) that keeps its messages: the server applies
    the model's own template when it is sent to the chat route."""

    messages: tuple[ChatMessage, ...]

    def __new__(cls, messages: Sequence[ChatMessage]) -> ChatPrompt:
        prompt = super().__new__(cls, "".join(f"{m.role}\n{m.content}\n" for m in messages))
        prompt.messages = tuple(messages)
        return prompt


class OpenAIGeneration(Generation):
    """A streamed completion or chat answer; close() ends the stream."""

    def __init__(self, events: EventStream, chat: bool) -> None:
        self._events, self._chat = events, chat  # the routes say nothing of the cache: none counted as reused
        self.stop_reason = StopReason.CANCELLED  # until the server says why it stopped
        self._written = 0  # characters of text so far
        self.logprobs = []

    def __next__(self) -> str:
        event = next(self._events)
        choices = event.get("choices") or [{}]
        choice = choices[0]
        if (reason := choice.get("finish_reason")) is not None:
            self.stop_reason = FINISH_REASONS.get(str(reason), StopReason.CANCELLED)
        if usage := event.get("usage"):
            self.prompt_tokens = int(usage.get("prompt_tokens", self.prompt_tokens))
        text = (choice.get("delta") or {}).get("content") if self._chat else choice.get("text")
        if text:
            self.generated_tokens += 1  # servers send a token per event
        self._written += len(text or "")
        logprobs = choice.get("logprobs") or {}
        tokens = zip(logprobs.get("tokens") or [], logprobs.get("token_logprobs") or [], strict=False)
        note_tokens(self.logprobs, [(str(t), float(p)) for t, p in tokens if p is not None], self._written)
        return str(text or "")

    def close(self) -> None:
        self._events.close()


class OpenAIBackend:
    """A model on an OpenAI-compatible server; `api` is the path its routes start with ("/v1")."""

    def __init__(
        self, server: RemoteServer, api: str, model: str, info: ModelInfo, count: Callable[[str], int]
    ) -> None:
        self.server, self._api, self._model, self.info = server, api, model, info
        self._count = count
        self._logprobs: bool | None = None  # whether the server gives them: probed when first asked for
        self.exact_counts = not isinstance(count, RatioCounter)  # False: counts are estimated

    @classmethod
    def connect(cls, config: EngineConfig) -> OpenAIBackend:
        """Learn the model and how to count its tokens (BackendUnavailable if the server does not answer)."""
        if not config.backend_url:
            raise BackendUnavailable("the openai backend needs a URL ending in /v1: set TABWISE_BACKEND_URL")
        url = config.backend_url.rstrip("/")
        root, api = (url[: -len("/v1")], "/v1") if url.endswith("/v1") else (url, "")
        server = RemoteServer.shared(root, read_key(config.api_key_file), url)
        started = time.perf_counter()
        listed = server.get(api + "/models").body.get("data") or []
        names = [str(entry.get("id")) for entry in listed if isinstance(entry, dict)]
        model = config.backend_model or (names[0] if names else "")
        if config.backend_model and names and config.backend_model not in names:
            raise BackendUnavailable(f"{server.label} serves {', '.join(names)}, not {config.backend_model}")
        entry = next((e for e in listed if isinstance(e, dict) and e.get("id") == model), {})
        count = token_route(server, model) or RatioCounter.measure(server, api, model)
        info = ModelInfo(
            path=server.label,
            name=model or "unnamed model",
            architecture="openai",
            n_ctx=int(entry.get("max_model_len") or config.n_ctx),  # vLLM says; others: the setting
            gpu_layers=0,
            gpu_offload_supported=False,
            threads=0,
            threads_batch=0,
            chat_template=None,  # the server applies it
            load_ms=(time.perf_counter() - started) * 1000,
            backend="openai",
        )
        return cls(server, api, model, info, count)

    def ping(self) -> float:
        """Milliseconds of one round trip to the server (its models route)."""
        return self.server.get(self._api + "/models").ms

    def token_count(self, text: str) -> int:
        return self._count(text) if text else 0

    def is_special_token(self, text: str) -> bool:
        """Known only where the server tokenizes; otherwise False, and the FIM format comes from the name."""
        return self.exact_counts and self.token_count(text) == 1

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        return ChatPrompt(messages)

    def generate(
        self, prompt: str, params: SamplingParams, sequence: str = "", keep_going: Callable[[], bool] | None = None
    ) -> OpenAIGeneration:
        """Stream `/v1/completions` of `prompt`, or `/v1/chat/completions` of a rendered chat."""
        body: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": True,
            "stream_options": {"include_usage": True},  # vLLM and llama-server then say the prompt's tokens
            **({"model": self._model} if self._model else {}),
            **({"stop": list(params.stop)} if params.stop else {}),
        }
        if isinstance(prompt, ChatPrompt):
            body["messages"] = [{"role": m.role, "content": m.content} for m in prompt.messages]
            return OpenAIGeneration(self.server.events(self._api + "/chat/completions", body, keep_going), chat=True)
        body["prompt"] = prompt
        if params.logprobs and self._gives_logprobs():
            body["logprobs"] = 1  # each token's log-probability, for completion/fim/confidence.py
        return OpenAIGeneration(self.server.events(self._api + "/completions", body, keep_going), chat=False)

    def _gives_logprobs(self) -> bool:
        if self._logprobs is None:  # two threads may both probe: the same answer, once more
            self._logprobs = gives_logprobs(self.server, self._api, self._model)
        return self._logprobs

    def kv_held(self) -> list[tuple[str, int]]:
        return []

    def uncached_tokens(self, prompt: str, sequence: str = "") -> int:
        """0: the server's prefix cache is its own, unseen from here."""
        return 0

    def prefill(self, prompt: str, keep_going: Callable[[], bool], sequence: str = "") -> int:
        """A one-token completion (the OpenAI routes take no zero-token request): the server's prefix cache
        (vLLM's, llama-server's, llama-cpp-python's) then holds `prompt` for the live request."""
        if not keep_going() or isinstance(prompt, ChatPrompt):
            return 0
        body = {"prompt": prompt, "max_tokens": 1, "temperature": 0, **({"model": self._model} if self._model else {})}
        usage = (self.server.warm(self._api + "/completions", body, keep_going) or {}).get("usage") or {}
        return int(usage.get("prompt_tokens") or 0)


def gives_logprobs(server: RemoteServer, api: str, model: str) -> bool:
    """True if the server's completions route gives each token's log-probability (vLLM, llama-server,
    llama-cpp-python's server with its default `logits_all`): asked once, as a server that cannot may refuse
    every request that asks."""
    body = {"prompt": "a", "max_tokens": 1, "temperature": 0, "logprobs": 1, **({"model": model} if model else {})}
    answer = server.probe(api + "/completions", body) or {}
    logprobs = (answer.get("choices") or [{}])[0].get("logprobs")
    return isinstance(logprobs, dict) and "token_logprobs" in logprobs  # empty where the model ended at once


def token_route(server: RemoteServer, model: str) -> RouteCounter | None:
    """The server's own token counter, if it has a tokenize route; None if it has none."""

    def both(text: str) -> dict[str, Any]:  # vLLM reads prompt and add_special_tokens, llama-server the others
        return {"model": model, "prompt": text, "add_special_tokens": False, "content": text, "add_special": False}

    routes = [
        RouteCounter(server, "/extras/tokenize/count", lambda text: {"input": text}),  # llama-cpp-python
        RouteCounter(server, "/tokenize", both),  # vLLM (prompt -> count), llama-server (content -> tokens)
    ]
    for route in routes:
        try:
            route.offset = route.count_of(server.probe(route.path, route.request("a"))) - 1  # "a" is one token
        except (KeyError, TypeError, ValueError):
            continue  # no such route, or one of another shape
        return route
    return None


@dataclass
class RouteCounter:
    """Token counts from a server's tokenize route."""

    server: RemoteServer
    path: str
    request: Callable[[str], dict[str, Any]]
    offset: int = 0  # tokens the route adds to any text (a BOS)

    @staticmethod
    def count_of(answer: Any) -> int:
        return int(answer["count"]) if "count" in answer else len(answer["tokens"])

    def __call__(self, text: str) -> int:
        return max(0, self.count_of(self.server.post(self.path, self.request(text)).body) - self.offset)


class RatioCounter:
    """Token counts estimated from characters, at the ratio the server's own count gave on a sample. Code
    tokenizers take a line's indentation as one token, so that is counted apart: on 2,571 lines of
    jinja2 this is off by 1.6 tokens a line and +5.5% over all of them (characters alone: 2.8, +23%)."""

    def __init__(self, chars_per_token: float) -> None:
        self.chars_per_token = chars_per_token

    @classmethod
    def measure(cls, server: RemoteServer, api: str, model: str) -> RatioCounter:
        body = {"prompt": CALIBRATION_TEXT, "max_tokens": 1, "temperature": 0, **({"model": model} if model else {})}
        usage = server.post(api + "/completions", body).body.get("usage") or {}
        lines = CALIBRATION_TEXT.splitlines(keepends=True)
        indents = sum(1 for line in lines if _body(line) != line)
        tokens = int(usage.get("prompt_tokens") or 0) - indents
        chars = sum(len(_body(line)) for line in lines)
        return cls(chars / tokens if tokens > 0 else 3.0)  # 3: about what code tokenizers do

    def __call__(self, text: str) -> int:
        return sum(
            (line != _body(line)) + max(1, round(len(_body(line)) / self.chars_per_token))
            for line in text.splitlines(keepends=True)
        )


def _body(line: str) -> str:
    """A line without its indentation."""
    return line.lstrip(" \t")
