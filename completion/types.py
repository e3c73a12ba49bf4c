"""The engine's own request and result types: small frozen dataclasses, no protocol types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class ContextFile:
    """Another file (or a chunk of one) shown to the model before the current file."""

    path: str
    text: str


@dataclass(frozen=True)
class FimRequest:
    """Fill in the middle: the document split at the cursor."""

    prefix: str  # document text before the cursor
    suffix: str  # document text after the cursor
    path: str = "untitled"  # workspace-relative path, shown to the model
    # The workspace folder `path` is relative to (absolute): where other files are read from for context;
    # "" = the engine's own workspace (one front end per engine, as the CLI and the benchmarks have it).
    root: str = ""
    language: str = ""  # language id ("python", "javascript", ...); "" = guess from the path
    document: str | None = None  # identity for supersession: a newer request for it cancels older ones
    context_files: tuple[ContextFile, ...] = ()  # other files, stable order first
    max_tokens: int | None = None  # None = the engine's setting
    time_budget_ms: int | None = None  # None = the engine's setting
    context_tokens: int | None = None  # the prompt's token budget for the code around the cursor; None = the setting
    stop: tuple[str, ...] = ()  # extra stop strings on top of the format's own
    # Facts about the running program that the code does not show (a notebook kernel's variables, their
    # types, columns and shapes): plain lines, put as comments at the top of the prompt's stable part.
    notes: str = ""


class StopReason(str, Enum):
    """Why generation ended."""

    END = "end"  # the model ended the text
    STOP = "stop"  # a stop string or rule matched
    LENGTH = "length"  # max tokens reached
    TIME = "time"  # the time budget ran out (at a line end)
    CANCELLED = "cancelled"  # cancelled or superseded
    CACHED = "cached"  # no generation: the rest of an earlier suggestion that the user is typing


@dataclass(frozen=True)
class Timings:
    """What a request cost: tokens are model tokens, times are milliseconds."""

    prompt_tokens: int = 0  # tokens in the prompt
    reused_tokens: int = 0  # of those, taken from the KV cache of the previous request
    generated_tokens: int = 0
    queued_ms: float = 0.0  # waiting for the worker
    prompt_ms: float = 0.0  # until the first generated token (includes prompt evaluation)
    total_ms: float = 0.0  # from the worker taking the request to its end

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens llama.cpp had to evaluate (not reused)."""
        return self.prompt_tokens - self.reused_tokens


@dataclass(frozen=True)
class Suggestion:
    """A fill-in-the-middle result: the text to insert at the cursor."""

    text: str
    stop_reason: StopReason
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class ChatMessage:
    """One chat turn; role is "system", "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """Ask or explain: a conversation whose answer is streamed."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None  # None = the engine's setting
    temperature: float | None = None  # None = the model's recommended value


class ChunkKind(str, Enum):
    """Which part of a chat answer a streamed chunk belongs to."""

    REASONING = "reasoning"  # a reasoning model's <think> text: shown apart, never inserted
    ANSWER = "answer"


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer."""

    kind: ChunkKind
    text: str


@dataclass(frozen=True)
class ChatResult:
    """A finished answer: reasoning kept apart from the answer."""

    answer: str
    reasoning: str
    stop_reason: StopReason
    timings: Timings = field(default_factory=Timings)
