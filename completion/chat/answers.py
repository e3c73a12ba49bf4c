"""Chat: ask, explain and whole conversations, streamed as the model writes, reasoning split from the answer.

Answers keep a KV slot of their own ("chat"), so a suggestion between two of their tokens costs them
nothing; with more than one slot a live suggestion goes first, and the answer waits a token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from completion.chat.stream import ChatStream
from completion.chat.think import ThinkSplitter, open_thinking
from completion.errors import RequestError
from completion.runtime import Backend, Generation, SamplingParams
from completion.runtime.host import ModelHost
from completion.runtime.traits import ModelTraits
from completion.schedule.worker import PRIORITY_CHAT, Job, Worker
from completion.status import timings
from completion.types import ChatChunk, ChatMessage, ChatRequest, ChatResult, ChunkKind
from prompts import chat_template

CHAT_PROMPT_RESERVE = 256  # tokens kept for the chat template and instructions around user code
CHAT_SEQUENCE = "chat"  # the KV slot answers keep
BuildMessages = Callable[[Backend, ModelTraits], list[ChatMessage]]


class Chat:
    """Answers on the host's model, run by the worker at chat priority."""

    def __init__(self, host: ModelHost, worker: Worker) -> None:
        self._host = host
        self._worker = worker

    def chat(self, request: ChatRequest) -> ChatStream:
        """Stream the answer to a conversation."""
        return self._submit(lambda backend, traits: list(request.messages), request)

    def explain(self, code: str, language: str, path: str, max_tokens: int | None) -> ChatStream:
        """Stream an explanation of `code`, at most `max_tokens` long (None: the setting)."""
        if not code.strip():
            raise RequestError("nothing to explain: the selection is empty")
        if len(code) > self._host.config.max_document_chars:
            raise RequestError(f"selection too large to explain ({len(code):,} characters)")

        def messages(backend: Backend, traits: ModelTraits) -> list[ChatMessage]:
            budget = backend.info.n_ctx - (max_tokens or self._host.config.chat_max_tokens) - CHAT_PROMPT_RESERVE
            shown = _fit_tokens(code, budget, backend.token_count)
            text = chat_template("explain").format(language=language or "", path=path, code=shown)
            return [ChatMessage("system", chat_template("system")), ChatMessage("user", text)]

        return self._submit(messages, ChatRequest((), max_tokens))

    def ask(self, question: str, context: str, max_tokens: int | None) -> ChatStream:
        """Stream the answer to a question, with optional context (code, an error) before it."""
        if not question.strip():
            raise RequestError("nothing to ask: the question is empty")
        text = chat_template("ask").format(question=question, context=context + "\n\n" if context else "")
        request = ChatRequest((ChatMessage("system", chat_template("system")), ChatMessage("user", text)), max_tokens)
        return self.chat(request)

    def _submit(self, build: BuildMessages, request: ChatRequest) -> ChatStream:
        stream = ChatStream()

        def run(job: Job[ChatResult]) -> ChatResult:
            try:
                backend, traits = self._host.ensure()
                return self._answer(backend, traits, build(backend, traits), request, stream, job)
            finally:
                stream.end()

        stream.job = self._worker.submit(Job(run, PRIORITY_CHAT))
        return stream

    def _answer(
        self,
        backend: Backend,
        traits: ModelTraits,
        messages: Sequence[ChatMessage],
        request: ChatRequest,
        stream: ChatStream,
        job: Job[ChatResult],
    ) -> ChatResult:
        """Generate the answer into `stream`, splitting reasoning from it; the whole result at the end."""
        began = time.perf_counter()
        prompt = backend.render_chat(_fold_system(messages) if not traits.system_prompt else messages)
        if traits.reasoning:
            prompt = open_thinking(prompt)
        params = self._sampling(backend, traits, prompt, request)
        splitter = ThinkSplitter(reasoning=traits.reasoning, starts_inside=traits.reasoning)
        parts: dict[ChunkKind, list[str]] = {ChunkKind.ANSWER: [], ChunkKind.REASONING: []}

        def emit(chunks: list[ChatChunk]) -> None:
            for chunk in chunks:
                parts[chunk.kind].append(chunk.text)
                stream.put(chunk)

        generation = backend.generate(prompt, params, CHAT_SEQUENCE, job.wanted)
        first_at = self._relay(generation, job, lambda piece: emit(splitter.feed(piece)))
        emit(splitter.finish())
        answer, reasoning = "".join(parts[ChunkKind.ANSWER]), "".join(parts[ChunkKind.REASONING])
        return ChatResult(
            answer.strip(), reasoning.strip(), generation.stop_reason, timings(job, began, generation, first_at)
        )

    def _sampling(self, backend: Backend, traits: ModelTraits, prompt: str, request: ChatRequest) -> SamplingParams:
        """How to sample: the request's, the model's advice, then the settings; within the window's room."""
        config = self._host.config
        room = backend.info.n_ctx - backend.token_count(prompt)
        if room < 16:
            raise RequestError(f"the question is too long for the model's {backend.info.n_ctx}-token window")
        return SamplingParams(
            max_tokens=min(request.max_tokens or config.chat_max_tokens, room),
            temperature=_first(request.temperature, traits.temperature, config.chat_temperature),
            top_p=_first(traits.top_p, config.chat_top_p),
            seed=config.seed,
        )

    def _relay(self, generation: Generation, job: Job[ChatResult], feed: Callable[[str], None]) -> float:
        """Feed the generation's pieces on; returns when the first came (0.0: none)."""
        first_at = 0.0
        try:
            for piece in generation:
                job.raise_if_cancelled()
                first_at = first_at or time.perf_counter()
                feed(piece)
                if self._host.config.kv_slots > 1:  # a live suggestion goes first, in another KV slot
                    self._worker.run_urgent()
        finally:
            generation.close()
        return first_at


def _first(*values: float | None) -> float:
    """The first value that is not None."""
    return next(v for v in values if v is not None)


def _fold_system(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Move system text into the first user turn, for models advised against a system prompt."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    if system and rest and rest[0].role == "user":
        rest[0] = ChatMessage("user", f"{system}\n\n{rest[0].content}")
    return rest


def _fit_tokens(text: str, budget: int, count: Callable[[str], int]) -> str:
    """`text`, cut to whole lines within `budget` tokens, with a note when cut."""
    if count(text) <= budget:
        return text
    kept: list[str] = []
    used = 0
    for line in text.split("\n"):
        used += count(line + "\n")
        if used > budget:
            break
        kept.append(line)
    return "\n".join(kept) + "\n# ... (cut: the rest did not fit the model's context window)"
