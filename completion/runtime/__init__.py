"""The narrow interface between the engine and a model runtime.

The engine only ever talks to a `Backend`. `llama_backend` runs a GGUF in-process with
llama-cpp-python; `llama_server_backend` and `openai_backend` send the same prompts to a shared server
(llama-server, vLLM or any OpenAI-compatible endpoint) and nothing else in tabwise changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from completion.types import ChatMessage, StopReason


@dataclass(frozen=True)
class ModelInfo:
    """What the engine needs to know about the loaded model."""

    path: str
    name: str  # general.name from the GGUF
    architecture: str  # general.architecture ("qwen2", "llama", ...)
    n_ctx: int  # context window in tokens
    gpu_layers: int  # layers offloaded to a GPU: 0 = CPU only, -1 = all
    gpu_offload_supported: bool  # llama.cpp was built with a GPU backend
    threads: int
    threads_batch: int
    chat_template: str | None  # Jinja chat template from the GGUF
    load_ms: float
    # Where the weights are: (llama.cpp buffer type, MiB), e.g. ("CPU_REPACK", 596.5); empty if unknown.
    weight_buffers: tuple[tuple[str, float], ...] = ()
    weight_buffers_reason: str = ""  # why those buffers (see completion.runtime.buffers)
    backend: str = "local"  # where the model runs: "local" (in this process), "llama-server" or "openai" (at `path`)
    slots: int = 1  # requests the server runs at once (llama-server's -np); 1 in process


@dataclass(frozen=True)
class SamplingParams:
    """How to generate: greedy when temperature is 0."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    logprobs: bool = False  # note each token's log-probability (`Generation.logprobs`): only where a rule reads it


class TokenLogprob(NamedTuple):
    """One generated token as the model saw it: how sure it was (completion/fim/confidence.py)."""

    end: int  # where the token ends in the generated text, in characters
    logprob: float  # its natural log-probability under the model, before any sampling cut


def note_tokens(logprobs: list[TokenLogprob], tokens: Sequence[tuple[str, float]], end: int) -> None:
    """Note the tokens a server sent with one piece of text, (text, log-probability) each, the last ending at
    `end` characters of the generated text (the text a server streams is the truth; a token's own may be a
    part of a character)."""
    for index, (_, logprob) in enumerate(tokens):
        later = sum(len(text) for text, _ in tokens[index + 1 :])
        logprobs.append(TokenLogprob(max(end - later, 0), logprob))


class Generation(Iterator[str]):
    """A running generation: iterate for text pieces; counters fill in as it runs; close() stops it."""

    logprobs: list[TokenLogprob]  # each token generated so far, in order; empty where the runtime cannot say
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV cache entries were kept from the previous call
    generated_tokens: int = 0
    stop_reason: StopReason = StopReason.END

    def close(self) -> None:
        """Stop generating now (between tokens)."""


class Backend(Protocol):
    """A loaded model that can count tokens, render chats and stream a completion of a prompt."""

    info: ModelInfo

    def token_count(self, text: str) -> int:
        """Tokens in `text`, special tokens recognised."""
        ...

    def is_special_token(self, text: str) -> bool:
        """True if `text` is one special token of this vocabulary (how model families are told apart)."""
        ...

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt for `messages` in the model's own chat template, ready for the assistant turn."""
        ...

    def generate(
        self, prompt: str, params: SamplingParams, sequence: str = "", keep_going: Callable[[], bool] | None = None
    ) -> Generation:
        """Start generating after `prompt` (special tokens recognised), reusing the KV cache's prefix.
        `sequence` names who asks (a document, "chat"): a runtime with several KV caches keeps each
        sequence's place in one of them. While it evaluates the prompt (in process) or waits on another
        process (a remote server), a runtime polls `keep_going` and raises Cancelled once it is False."""
        ...

    def kv_held(self) -> list[tuple[str, int]]:
        """Per KV cache the runtime keeps: the sequence that used it last and the tokens it holds. Safe to
        call from any thread (a snapshot for status)."""
        ...

    def uncached_tokens(self, prompt: str, sequence: str = "") -> int:
        """Tokens of `prompt` that no KV cache of this runtime holds yet: what generating from it would
        evaluate first. 0 where the runtime cannot see its caches (a remote server keeps its own)."""
        ...

    def prefill(self, prompt: str, keep_going: Callable[[], bool], sequence: str = "") -> int:
        """Evaluate `prompt` into the KV cache without generating, so that a later `generate` of a prompt
        that starts the same way re-evaluates only the rest; stops early once `keep_going()` is False.
        Returns the tokens evaluated."""
        ...
