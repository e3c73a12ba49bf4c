"""A shared llama-server (llama.cpp's own server, the engine behind llama.vscode) as the engine's backend.

Its native `/completion` route takes tabwise's prompt text as it is, with `cache_prompt`, so a keystroke
re-evaluates only the tail; warm-ups are zero-token requests. No request pins a slot (`id_slot`): the
server gives each the idle slot whose cached prompt matches best, so many users share its slots instead
of fighting over slot 0. The model's name, chat template and context per slot come from `/props`;
token counts from its `/tokenize` (the engine memoizes them per line, so a keystroke asks for the edited
line only), chats through its `/apply-template` in the model's own template.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

from completion.config import EngineConfig
from completion.errors import BackendUnavailable
from completion.runtime import Generation, ModelInfo, SamplingParams, note_tokens
from completion.runtime.remote import EventStream, RemoteServer, read_key
from completion.types import ChatMessage, StopReason

# The final event's `stop_type`; "none" (stopped for no reason it names) and a stream that ends before it count
# as cut, as "limit" does: only the model's end and a stop word mean the text is whole.
STOP_REASONS = {"limit": StopReason.LENGTH, "word": StopReason.STOP, "eos": StopReason.END}


class ServerGeneration(Generation):
    """A streaming `/completion`: pieces of text as the server sends them; close() ends the stream."""

    def __init__(self, events: EventStream) -> None:
        self._events = events
        self._done = False  # the server sent its last event (with the counters)
        self._written = 0  # characters of text so far
        self.logprobs = []

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        try:
            event = next(self._events)
        except StopIteration:
            self.stop_reason = StopReason.CANCELLED  # it ended before the server said why: cut
            raise
        self._count(event)
        if event.get("stop"):
            self.stop_reason = STOP_REASONS.get(str(event.get("stop_type")), StopReason.CANCELLED)
            self._done = True
            self._events.close()
        content = str(event.get("content", ""))
        self._written += len(content)
        note_tokens(self.logprobs, _probabilities(event), self._written)
        return content

    def _count(self, event: dict[str, Any]) -> None:
        """The counters as of this event (`timings_per_token`: every event has them, so a generation the
        engine stops early knows them too)."""
        timings = event.get("timings") or {}
        self.reused_tokens = int(timings.get("cache_n", self.reused_tokens))
        self.prompt_tokens = self.reused_tokens + int(timings.get("prompt_n", 0))
        self.generated_tokens = int(event.get("tokens_predicted", self.generated_tokens))

    def close(self) -> None:
        self._events.close()


def _probabilities(event: dict[str, Any]) -> list[tuple[str, float]]:
    """(text, log-probability) of each token an event of `/completion` carries with `n_probs`: `logprob`
    since llama.cpp's b4366 (December 2024; `prob` with `post_sampling_probs`), `probs` before it."""
    tokens = []
    for entry in event.get("completion_probabilities") or []:
        text = str(entry.get("token", entry.get("content", "")))
        if "logprob" in entry:
            tokens.append((text, float(entry["logprob"])))
        elif "prob" in entry or entry.get("probs"):
            prob = float(entry.get("prob", entry.get("probs", [{}])[0].get("prob", 0.0)))
            tokens.append((text, math.log(prob) if prob > 0 else -math.inf))
    return tokens


class LlamaServerBackend:
    """A model served by llama-server at a base URL (no `/v1`); thread-safe as its HTTP client is."""

    def __init__(self, server: RemoteServer, info: ModelInfo) -> None:
        self.server = server
        self.info = info

    @classmethod
    def connect(cls, config: EngineConfig) -> LlamaServerBackend:
        """Learn the model from the server (BackendUnavailable if it does not answer)."""
        if not config.backend_url:
            raise BackendUnavailable("the llama-server backend needs a URL: set TABWISE_BACKEND_URL")
        server = RemoteServer.shared(config.backend_url, read_key(config.api_key_file))
        started = time.perf_counter()
        props = server.get("/props").body
        settings = props.get("default_generation_settings") or {}
        model_path = str(props.get("model_path") or "")
        alias = str(props.get("model_alias") or "")  # --alias, else the model's path
        name = config.backend_model or (alias if alias != model_path else PurePath(model_path).stem)
        info = ModelInfo(
            path=server.label,
            name=name or "llama-server",
            architecture="llama-server",
            n_ctx=int(settings.get("n_ctx") or config.n_ctx),  # per slot: -c divided by -np
            gpu_layers=0,
            gpu_offload_supported=False,
            threads=0,
            threads_batch=0,
            chat_template=props.get("chat_template") or None,
            load_ms=(time.perf_counter() - started) * 1000,
            backend="llama-server",
            slots=int(props.get("total_slots") or 1),
        )
        return cls(server, info)

    def ping(self) -> float:
        """Milliseconds of one round trip to the server (its health route)."""
        return self.server.get("/health").ms

    def token_count(self, text: str) -> int:
        """Tokens in `text` as the server's tokenizer counts them (no BOS)."""
        if not text:
            return 0
        body = {"content": text, "add_special": False, "parse_special": True}
        return len(self.server.post("/tokenize", body).body.get("tokens", []))

    def is_special_token(self, text: str) -> bool:
        return self.token_count(text) == 1

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt in the model's own chat template, rendered by the server."""
        body = {"messages": [{"role": m.role, "content": m.content} for m in messages]}
        return str(self.server.post("/apply-template", body).body.get("prompt", ""))

    def generate(
        self, prompt: str, params: SamplingParams, sequence: str = "", keep_going: Callable[[], bool] | None = None
    ) -> ServerGeneration:
        """Stream a completion of `prompt`; the server reuses the KV prefix of the slot that holds most of it."""
        body = {
            "prompt": prompt,
            "n_predict": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": 0 if params.temperature > 0 else 40,  # as the in-process backend samples
            "min_p": 0.0,
            "repeat_penalty": 1.0,  # code repeats itself legitimately
            "stop": list(params.stop),
            "seed": params.seed,
            "stream": True,
            "cache_prompt": True,
            "timings_per_token": True,  # the prompt's reused and evaluated tokens with the first piece
        }
        if params.logprobs:
            body["n_probs"] = 1  # each token's probability, for completion/fim/confidence.py
        return ServerGeneration(self.server.events("/completion", body, keep_going))

    def kv_held(self) -> list[tuple[str, int]]:
        """The server keeps the KV caches (its slots); none here."""
        return []

    def uncached_tokens(self, prompt: str, sequence: str = "") -> int:
        """0: the server keeps its own KV caches, which this side cannot see; each request is sent whole."""
        return 0

    def prefill(self, prompt: str, keep_going: Callable[[], bool], sequence: str = "") -> int:
        """A zero-token request: the server evaluates `prompt` into a slot's cache, for the next request
        that starts the same way. Returns the tokens it evaluated."""
        if not keep_going():
            return 0
        body = {"prompt": prompt, "n_predict": 0, "cache_prompt": True, "stream": False}
        reply = self.server.warm("/completion", body, keep_going) or {}
        return int((reply.get("timings") or {}).get("prompt_n", 0))
