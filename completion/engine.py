"""The one public entry point of tabwise: complete(), explain(), ask(), for every front end.

An Engine owns one model for the process, loaded lazily on its worker thread (or at start with
`preload`). Front ends submit requests from any thread and wait on the returned job, or iterate a
ChatStream; asyncio code awaits complete_async().

Its public surface is all a front end (or the engine service) uses: document_opened / document_edited /
document_closed, submit_complete / complete / complete_async, warm, explain / ask / chat, load, traits,
status, reconfigure, close, and `config` to read. The documents calls feed cross-file context, the
typing rhythm and the warm-up policy (completion/schedule/warmup.py); nothing else of the engine's insides is
for front ends to touch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from completion.bounded import BoundedDict
from completion.chat.stream import ChatStream
from completion.chat.think import ThinkSplitter, open_thinking
from completion.config import MODEL_FIELDS, EngineConfig
from completion.context.gatherer import ContextGatherer
from completion.context.syntax import SyntaxCache
from completion.context.workspace import Workspace
from completion.errors import BackendUnavailable, ModelFileError, ModelLoadError, RequestError
from completion.fim.cache import SuggestionCache
from completion.fim.continuation import Continuation, Follower
from completion.fim.plan import Mode, Plan, plan_completion
from completion.fim.prompt import FimPrompt, Layout, build_fim_prompt
from completion.fim.rules import LanguageRules, rules_for
from completion.fim.shape import added_comment_end, clean_suggestion, standing_end, stop_index
from completion.languages import language_of
from completion.runtime import Backend, Generation, ModelInfo, SamplingParams
from completion.runtime.traits import ModelTraits, detect_traits
from completion.schedule.rhythm import TypingRhythm
from completion.schedule.warmup import WarmupPolicy
from completion.schedule.worker import PRIORITY_BACKGROUND, PRIORITY_CHAT, PRIORITY_INLINE, PRIORITY_LOAD, Job, Worker
from completion.types import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ChunkKind,
    FimRequest,
    StopReason,
    Suggestion,
    Timings,
)
from completion.weights.models import resolve_model_path
from prompts import FimFormat, chat_template

log = logging.getLogger(__name__)
BackendFactory = Callable[[EngineConfig, Path], Backend]
CHAT_PROMPT_RESERVE = 256  # tokens kept for the chat template and instructions around user code
TOKEN_COUNT_CACHE = 16_384  # texts (lines, snippets) whose token counts are remembered
LAYOUTS_KEPT = 64  # documents whose last prompt layout is kept for their next prompt
CHAT_SEQUENCE = "chat"  # answers keep a KV slot of their own, so a suggestion between two tokens costs them nothing
ROOTS_KEPT = 16  # workspace roots (editors' folders) whose context is kept without an open document
LINE_WAIT_S = 0.5  # past its budget, a suggestion waits at least this long (from its first token) for a line end


@dataclass(frozen=True)
class EngineStatus:
    """A snapshot for status bars and `tabwise doctor`."""

    state: str  # "unloaded", "loading", "ready" or "error"
    model: ModelInfo | None
    error: str | None  # the last load error, one line
    queued: int  # jobs waiting
    busy: bool  # a job is running
    last_outcome: str  # how the last job ended: "done", "cancelled", "error" ("" before any)
    last_latency_ms: float  # the last completion, from the worker taking it to its end (0 before any)
    last_evaluated_tokens: int  # prompt tokens the last completion evaluated (not reused from the KV cache)
    debounce_ms: int  # how long clients should wait after a keystroke before asking, from the typing rhythm
    kv_slots: tuple[tuple[str, int], ...] = ()  # per KV cache: the sequence (document, "chat") it holds, tokens
    loads: int = 0  # models loaded since the engine started (each settings change that reloads adds one)

    def summary(self) -> dict[str, Any]:
        """Plain JSON for front ends' status requests."""
        return {
            "state": self.state,
            "model": self.model.name if self.model else None,
            "device": _device(self.model) if self.model else None,
            "server": self.model.path if self.model and self.model.backend != "local" else None,  # its URL
            "error": self.error,
            "queued": self.queued,
            "busy": self.busy,
            "last_outcome": self.last_outcome,
            "last_latency_ms": round(self.last_latency_ms, 1),
            "last_evaluated_tokens": self.last_evaluated_tokens,
            "debounce_ms": self.debounce_ms,
            "kv_slots": [{"sequence": sequence, "tokens": tokens} for sequence, tokens in self.kv_slots],
            "loads": self.loads,
        }


def _device(model: ModelInfo) -> str:
    """Where the model runs, for status bars: GPU or CPU in process, else the kind of server."""
    if model.backend != "local":
        return model.backend
    return "GPU" if model.gpu_layers else "CPU"


def _default_factory(config: EngineConfig, path: Path) -> Backend:
    """The model in process (`path`), or the server the `backend` setting names (and, with
    `backend_fallback`, the local model for while it is away)."""

    def local() -> Backend:
        from completion.runtime.llama_backend import LlamaBackend  # llama_cpp is imported here only

        return LlamaBackend.load(config, path)

    if config.backend == "local":
        return local()
    from completion.runtime.remote_backends import Fallback, connect

    try:
        remote = connect(config)
    except BackendUnavailable:
        if not config.backend_fallback:
            raise
        log.warning("the inference server is unavailable: the local model answers until the settings change")
        return local()
    return Fallback(remote, local) if config.backend_fallback else remote


class Engine:
    """Completion and chat on one local model; thread-safe."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        backend_factory: BackendFactory | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self._config = config or EngineConfig()  # replaced only by reconfigure(), on the worker thread
        self._factory = backend_factory or _default_factory
        self._worker = Worker()
        # Per workspace root (FimRequest.root; "" = the one given here): the documents front ends report
        # open and edited, and the context gathered from them and from the files under that root.
        self._syntax = SyntaxCache()  # parse trees by document, for planning and context alike
        self._contexts: OrderedDict[str, ContextGatherer] = OrderedDict(
            [("", ContextGatherer(workspace or Workspace(), self._syntax))]
        )
        self._cache = SuggestionCache()  # answers typed-ahead and revisited positions without the model
        self._speculation: Job[Suggestion] | None = None  # the suggestion being prepared for after an accept
        # The completion generation running now (a shown suggestion writing on, or a speculation), which
        # requests on its path follow instead of queueing (completion/fim/continuation.py).
        self._continuation: Continuation | None = None
        self._warming: Job[int] | None = None  # the newest warm-up
        self._rhythm = TypingRhythm()  # document edits are keystrokes; status() turns them into a debounce hint
        self._warmup = WarmupPolicy(self.warm)  # when to warm: on open, at a new place, after a pause
        # Owned by the worker thread only:
        self._backend: Backend | None = None
        self._traits: ModelTraits | None = None
        self._count: Callable[[str], int] = len  # the backend's token counter, memoized: lines recur per keystroke
        # per document: its last prompt's layout, kept while typing
        self._layouts: BoundedDict[str, Layout] = BoundedDict(LAYOUTS_KEPT)
        self._failed: tuple[tuple[str, float, int], Exception] | None = None  # (file identity, error)
        # Read from any thread:
        self._state = "unloaded"
        self._error: str | None = None
        self._last_latency_ms = 0.0
        self._last_evaluated_tokens = 0
        self._loads = 0  # models loaded, for status
        self._lock = threading.Lock()
        if self._config.preload:
            self._preload()

    # -- model lifecycle (worker thread) ------------------------------------------------------------

    def _ensure_backend(self) -> tuple[Backend, ModelTraits]:
        """Load the model if needed; a load that failed is retried only once its file changed."""
        if self._backend is not None and self._traits is not None:
            return self._backend, self._traits
        path = resolve_model_path(self._config.model_path)
        identity = _file_identity(path)
        if self._failed is not None and self._failed[0] == identity:
            raise self._failed[1]
        self._set_state("loading", None)
        try:
            backend = self._factory(self._config, path)
            traits = detect_traits(
                backend,
                reasoning_temperature=self._config.reasoning_temperature,
                reasoning_top_p=self._config.reasoning_top_p,
                fim_name=self._config.fim_format,
            )
        except (ModelFileError, ModelLoadError) as exc:
            self._failed = (identity, exc)
            self._set_state("error", str(exc))
            raise
        except BackendUnavailable as exc:  # the server's backoff decides when the next attempt connects
            self._set_state("error", str(exc))
            raise
        self._backend, self._traits, self._failed = backend, traits, None
        self._loads += 1
        self._count = lru_cache(maxsize=TOKEN_COUNT_CACHE)(backend.token_count)
        self._set_state("ready", None)
        log.info("loaded %s (%s)", backend.info.name, "FIM " + traits.fim.name if traits.fim else "chat only")
        return backend, traits

    def _set_state(self, state: str, error: str | None) -> None:
        with self._lock:
            self._state, self._error = state, error

    def load(self, timeout: float | None = None) -> ModelInfo:
        """Load the model now (waits); raises ModelFileError or ModelLoadError with a one-line message."""
        job: Job[ModelInfo] = Job(lambda job: self._ensure_backend()[0].info, PRIORITY_LOAD)
        return self._worker.submit(job).result(timeout)

    def traits(self, timeout: float | None = None) -> ModelTraits:
        """What the loaded model can do (loads it if needed)."""
        job: Job[ModelTraits] = Job(lambda job: self._ensure_backend()[1], PRIORITY_LOAD)
        return self._worker.submit(job).result(timeout)

    def reconfigure(self, config: EngineConfig) -> Job[None]:
        """Use new settings from the next request on (queued before it, not waited for: the worker may
        be generating); the model is reloaded on next use if a load setting changed, at once with `preload`."""

        def swap(job: Job[None]) -> None:
            if any(getattr(config, f) != getattr(self._config, f) for f in MODEL_FIELDS):
                self._backend, self._traits, self._failed = None, None, None
                self._cache.clear()  # another model's suggestions, and prompts laid out in its tokens
                self._layouts.clear()
                self._set_state("unloaded", None)
            self._config = config

        swapped = self._worker.submit(Job(swap, PRIORITY_LOAD))
        if config.preload:
            self._preload()
        return swapped

    def _preload(self) -> None:
        """Queue the model's load (not waited for: a failure is the state, and the next request's error)."""
        self._worker.submit(Job(lambda job: self._ensure_backend(), PRIORITY_LOAD))

    def status(self) -> EngineStatus:
        """The engine's state now, without waiting for the worker."""
        with self._lock:
            state, error = self._state, self._error
        backend = self._backend
        if backend is not None and backend.info.backend != "local":
            from completion.runtime.remote_backends import problem

            error = error or problem(backend)  # the server went away after connecting: why nothing comes
        return EngineStatus(
            state,
            backend.info if backend else None,
            error,
            self._worker.pending(),
            self._worker.busy(),
            self._worker.last_outcome,
            self._last_latency_ms,
            self._last_evaluated_tokens,
            self._rhythm.debounce_ms(),
            tuple(backend.kv_held()) if backend else (),
            self._loads,
        )

    @property
    def config(self) -> EngineConfig:
        """The settings in use (frozen; change them with reconfigure())."""
        return self._config

    def close(self) -> None:
        """Cancel all work and stop the worker and warm-up threads."""
        self._warmup.stop()
        self._worker.stop()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- documents: what the editor shows --------------------------------------------------------------
    #
    # `document` is the front end's identity for a document (an LSP uri, a notebook connection...), the
    # same as FimRequest.document of its requests; `path` is workspace-relative ("/"-separated), as in
    # FimRequest.path. An open document's text wins over the file on disk for cross-file context.

    def document_opened(
        self,
        document: str,
        path: str,
        text: str,
        language: str = "",
        warm: bool = True,
        root: str = "",
        context_tokens: int | None = None,
    ) -> None:
        """The editor opened `document`: its text is context from now on (over the file on disk, saved or
        not), and its end, where code is most often added, is warmed at once unless `warm` is False
        (completions are off there). `language`, `root` and `context_tokens` as in FimRequest ("": from
        the path; None: the setting)."""
        self._context_for(root).workspace.open(path, text)
        at = FimRequest(
            text, "", path=path, root=root, language=language, document=document, context_tokens=context_tokens
        )
        self._warmup.opened(document, at if warm else None)

    def document_edited(
        self, document: str, path: str, text: str, line: int | None, at: FimRequest | None = None, root: str = ""
    ) -> None:
        """`document` now reads `text` after an edit at `line` (0-based; None when unknown, as for a full
        change). `at` is the completion request at the cursor after the edit, built as a live request there
        would be (so the warmed prompt is the one the next request reuses); the warm-up policy warms it at
        once when the edit is somewhere new, else after a pause. None: nothing to warm."""
        self._rhythm.keystroke(time.monotonic())
        workspace = self._context_for(root).workspace
        if line is None:
            workspace.open(path, text)
        else:
            workspace.note_edit(path, text, line)
        continuation = self._continuation
        if (
            continuation is not None
            and continuation.in_background
            and (at is None or continuation.typed_along(at) is None)
        ):
            self._end_continuation(continuation)  # an edit off its path: what it writes will not be wanted
        self._warmup.edited(document, line, at)

    def document_closed(self, document: str, path: str, root: str = "") -> None:
        """The editor closed `document`: the file on disk is context again, and what was kept for the
        document (pending warm-ups, suggestions, parse trees) is dropped."""
        self._warmup.closed(document)
        if (continuation := self._continuation) is not None and continuation.request.document == document:
            self._end_continuation(continuation)
        self._context_for(root).workspace.close(path)
        self._syntax.forget(document)
        self._cache.forget(document)

    def _context_for(self, root: str) -> ContextGatherer:
        """The context of the workspace at `root` (created on first use; "" is the engine's own). Roots with
        no open document are forgotten first once more than ROOTS_KEPT are known."""
        with self._lock:
            if (context := self._contexts.get(root)) is None:
                context = ContextGatherer(Workspace(Path(root)), self._syntax)
                self._contexts[root] = context
                idle = [r for r, c in self._contexts.items() if r and r != root and not c.workspace.has_open()]
                for old in idle[: max(0, len(self._contexts) - ROOTS_KEPT)]:
                    del self._contexts[old]
            return context

    # -- fill in the middle -------------------------------------------------------------------------

    def submit_complete(self, request: FimRequest) -> Job[Suggestion]:
        """Queue a completion; a newer one for the same document supersedes it.

        Where nothing fits (text follows the cursor, a comment) the job is finished at once,
        without waiting for the model.
        """
        self._warmup.live(request.document or request.path)  # this request evaluates its place itself
        size = len(request.prefix) + len(request.suffix)
        if size > self._config.max_document_chars:
            raise RequestError(
                f"document too large to complete ({size:,} characters; limit {self._config.max_document_chars:,})"
            )
        language = request.language or language_of(request.path)
        plan = plan_completion(request, language, self._syntax, rules_for(language))
        job: Job[Suggestion] = Job(
            lambda job: self._run_complete(request, language, plan, job), PRIORITY_INLINE, request.document
        )
        if plan.mode is Mode.NONE:
            job.finish_now(Suggestion("", StopReason.STOP))
            return job
        if self._follows(request, job, plan):
            self._last_evaluated_tokens = 0  # answered from a generation already running, not one of its own
            return job
        if (cached := self._cache.lookup(request)) is not None:
            self._worker.supersede(request.document)
            self._last_latency_ms, self._last_evaluated_tokens = 0.0, 0  # answered without the model
            job.finish_now(Suggestion(cached, StopReason.CACHED))
            return job
        return self._worker.submit(job)

    def _follows(self, request: FimRequest, job: Job[Suggestion], plan: Plan) -> bool:
        """True if `job` is answered from the generation running now (`request` is on its path); a request
        anywhere else ends that generation once nobody waits for it, as it ends any background work."""
        continuation = self._continuation
        if continuation is None:
            return False
        if continuation.follow(request, job, self._patience_s(request), plan.closes):
            return True
        if continuation.in_background:
            self._end_continuation(continuation)
        return False

    def _patience_s(self, request: FimRequest) -> float:
        """How long past its first token a suggestion waits for a line that stands before it shows whole
        lines that do not (a long literal, a line that never ends)."""
        return max(2 * (request.time_budget_ms or self._config.time_budget_ms) / 1000, LINE_WAIT_S)

    def _end_continuation(self, continuation: Continuation) -> None:
        """Stop a generation nobody is on the path of any more (its job, and the requests following it)."""
        with self._lock:
            if self._continuation is continuation:
                self._continuation = None
        continuation.cancel("superseded by a request elsewhere")

    def complete(self, request: FimRequest, timeout: float | None = None) -> Suggestion:
        """The suggestion for `request` (waits)."""
        return self.submit_complete(request).result(timeout)

    async def complete_async(self, request: FimRequest) -> Suggestion:
        """The suggestion for `request`, for asyncio code; cancelling the awaiting task cancels the job."""
        job = self.submit_complete(request)
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            job.cancel("the caller went away")
            raise

    def warm(self, request: FimRequest) -> Job[int] | None:
        """Evaluate the prompt for `request` ahead of time, without generating (a document was opened,
        the user paused), so that the first suggestion there does not pay for the whole file. Runs only
        when nothing else waits, and a live request stops it within one small batch."""
        if len(request.prefix) + len(request.suffix) > self._config.max_document_chars:
            return None  # a request there would be refused
        language = request.language or language_of(request.path)
        plan = plan_completion(request, language, self._syntax, rules_for(language))
        if plan.mode is Mode.NONE:
            return None

        def run(job: Job[int]) -> int:
            backend, traits = self._ensure_backend()
            if traits.fim is None:
                return 0
            prompt = self._fim_prompt(request, language, traits.fim)
            return backend.prefill(prompt.text, lambda: not job.cancelled, request.document or request.path)

        job: Job[int] = Job(run, PRIORITY_BACKGROUND)
        with self._lock:  # the warm-up policy calls this from its timer thread
            older, self._warming = self._warming, job
        if older is not None:
            older.cancel("a newer warm-up replaced it")  # only the newest place is worth warming
        return self._worker.submit(job)

    def _fim_prompt(self, request: FimRequest, language: str, fim: FimFormat) -> FimPrompt:
        """The prompt for `request`: its context within the token budget, in the model's FIM format, laid
        out as the document's last prompt was where that still holds (its anchor: completion/fim/prompt.py)."""
        context = self._context_for(request.root).gather(request, language)
        config, key = self._config, request.document or request.path
        previous = self._layouts.pop(key, None)  # re-inserted last: the newest stay
        budget = request.context_tokens or config.context_tokens  # a request's own budget wins over the setting
        prompt = build_fim_prompt(request, fim, self._count, budget, config.suffix_tokens, context, previous)
        self._layouts[key] = prompt.layout
        return prompt

    def _run_complete(
        self,
        request: FimRequest,
        language: str,
        plan: Plan,
        job: Job[Suggestion],
        continuation: Continuation | None = None,
    ) -> Suggestion:
        backend, traits = self._ensure_backend()
        began = time.perf_counter()  # costs are counted from here: a first request's model load is not
        if traits.fim is None:
            raise RequestError(f"{backend.info.name} cannot fill in the middle; use a code model for completions")
        job.raise_if_cancelled()
        live = job.priority == PRIORITY_INLINE  # a user waits for it (else: a speculation, for the cache)
        if live and (cached := self._cache.lookup(request)) is not None:  # written while this one waited
            return Suggestion(cached, StopReason.CACHED)
        config, rules = self._config, rules_for(language)
        prompt = self._fim_prompt(request, language, traits.fim)
        max_tokens = request.max_tokens or config.max_tokens  # a request's own limit wins over the setting
        max_tokens = min(max_tokens, plan.max_tokens or max_tokens)  # where only a short completion fits
        params = SamplingParams(max_tokens=max_tokens, stop=traits.fim.stop + request.stop)
        budget_s = (request.time_budget_ms or config.time_budget_ms) / 1000
        line_before = request.prefix.rsplit("\n", 1)[-1]
        text, reason, first_at, first_line = "", StopReason.END, 0.0, True
        continuation = continuation or self._continuation_of(request, job, language, plan)
        with self._lock:
            self._continuation = continuation  # typing what it writes follows it, from its first token on
        generation = backend.generate(prompt.text, params, request.document or request.path, lambda: not job.cancelled)
        try:
            for piece in generation:
                job.raise_if_cancelled()
                now = time.perf_counter()
                first_at = first_at or now
                text += piece
                if first_line and "\n" in text:  # before anything of it is shown or followed
                    text, first_line = text[added_comment_end(text, line_before, request.suffix, rules) :], False
                continuation.text = text
                if "\n" in piece and (cut := stop_index(text, plan, line_before, request.suffix, rules)) is not None:
                    text, reason = text[:cut], StopReason.STOP
                    break
                if live and not job.answered:
                    # The budget limits what is shown, not what is computed: show what stands, write on.
                    stands = standing_end(text, line_before, rules, plan.closes) if "\n" in piece else None
                    if now - began > budget_s and stands is not None:
                        self._show(job, request, text[:stands], plan, _timings(job, began, generation, first_at))
                    elif now - first_at > self._patience_s(request):  # a line that never ends: show it
                        self._show(job, request, text, plan, _timings(job, began, generation, first_at))
                if "\n" in piece:
                    continuation.serve()
            else:
                reason = generation.stop_reason
                text = text[added_comment_end(text, line_before, request.suffix, rules) :] if first_line else text
        except Exception as exc:
            continuation.cancel(str(exc) or "the generation failed")
            raise
        finally:
            generation.close()
            with self._lock:
                if self._continuation is continuation:
                    self._continuation = None
        if (cut := stop_index(text + "\n", plan, line_before, request.suffix, rules)) is not None and cut < len(text):
            text, reason = text[:cut], StopReason.STOP
        written, text = text, clean_suggestion(text, request.prefix, request.suffix, plan.max_indent)
        suggestion = Suggestion(text, reason, _timings(job, began, generation, first_at))
        self._cache.put(request, suggestion.text)
        continuation.end(self._answer_from_cache, self._resubmit)
        if live:
            if not job.answered:
                self._last_latency_ms = suggestion.timings.total_ms
                self._last_evaluated_tokens = suggestion.timings.evaluated_tokens
            accepted = replace(request, prefix=request.prefix + suggestion.text)
            if reason is StopReason.END and len(suggestion.text.rstrip()) == len(written.rstrip()):
                self._cache.put(accepted, "")  # the model ended the middle itself: it joins the code below
            elif config.speculate and suggestion.text:
                self._speculate(accepted, language)
        return suggestion

    def _show(self, job: Job[Suggestion], request: FimRequest, text: str, plan: Plan, timings: Timings) -> None:
        """Answer a live request with the start of its suggestion while the generation goes on."""
        shown = clean_suggestion(text, request.prefix, request.suffix, plan.max_indent)
        if shown.strip():  # never an empty suggestion while the model is still writing
            self._cache.put(request, shown)  # valid on its own if the rest never comes
            self._last_latency_ms, self._last_evaluated_tokens = timings.total_ms, timings.evaluated_tokens
            job.answer(Suggestion(shown, StopReason.TIME, timings))

    def _resubmit(self, job: Job[Suggestion]) -> None:
        """Queue a follower the generation it followed could not answer: it needs one of its own."""
        self._worker.submit(job)

    def _answer_from_cache(self, follower: Follower) -> Suggestion | None:
        """A follower's answer once the generation it followed is over: the rest of it, from the cache."""
        text = self._cache.lookup(follower.request)
        return Suggestion(text, StopReason.CACHED) if text is not None else None

    def _speculate(self, accepted: FimRequest, language: str) -> None:
        """Prepare the suggestion that follows this one being accepted, while the engine is idle: it goes
        to the cache, so Tab then the next request is answered at once. Any live request preempts it."""
        plan = plan_completion(accepted, language, self._syntax, rules_for(language))
        if plan.mode is Mode.NONE or self._cache.lookup(accepted) is not None:
            return
        if self._speculation is not None:
            self._speculation.cancel("a newer suggestion replaced it")  # only the newest is worth preparing
        job: Job[Suggestion] = Job(
            lambda job: self._run_complete(accepted, language, plan, job, continuation), PRIORITY_BACKGROUND
        )
        continuation = self._continuation_of(accepted, job, language, plan)
        with self._lock:
            self._continuation = continuation  # Tab, before it even starts, is answered from it
        self._speculation = self._worker.submit(job)

    @staticmethod
    def _continuation_of(request: FimRequest, job: Job[Suggestion], language: str, plan: Plan) -> Continuation:
        """The generation `job` runs for `request`, as requests on its path see it."""
        rules = rules_for(language)
        return Continuation(request, job, lambda at, rest, overdue: _standing_part(at, rest, rules, plan, overdue))

    # -- chat: ask and explain ----------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatStream:
        """Stream the answer to a conversation."""
        return self._submit_chat(lambda backend, traits: list(request.messages), request)

    def explain(
        self, code: str, language: str = "", path: str = "untitled", max_tokens: int | None = None
    ) -> ChatStream:
        """Stream an explanation of `code`, at most `max_tokens` long (None: the setting)."""
        if not code.strip():
            raise RequestError("nothing to explain: the selection is empty")
        if len(code) > self._config.max_document_chars:
            raise RequestError(f"selection too large to explain ({len(code):,} characters)")

        def messages(backend: Backend, traits: ModelTraits) -> list[ChatMessage]:
            budget = backend.info.n_ctx - (max_tokens or self._config.chat_max_tokens) - CHAT_PROMPT_RESERVE
            shown = _fit_tokens(code, budget, backend.token_count)
            text = chat_template("explain").format(language=language or "", path=path, code=shown)
            return [ChatMessage("system", chat_template("system")), ChatMessage("user", text)]

        return self._submit_chat(messages, ChatRequest((), max_tokens))

    def ask(self, question: str, context: str = "", max_tokens: int | None = None) -> ChatStream:
        """Stream the answer to a question, with optional context (code, an error) before it, at most
        `max_tokens` long (None: the setting)."""
        if not question.strip():
            raise RequestError("nothing to ask: the question is empty")
        text = chat_template("ask").format(question=question, context=context + "\n\n" if context else "")
        request = ChatRequest((ChatMessage("system", chat_template("system")), ChatMessage("user", text)), max_tokens)
        return self.chat(request)

    def _submit_chat(
        self, build: Callable[[Backend, ModelTraits], list[ChatMessage]], request: ChatRequest
    ) -> ChatStream:
        stream = ChatStream()

        def run(job: Job[ChatResult]) -> ChatResult:
            try:
                backend, traits = self._ensure_backend()
                return self._run_chat(backend, traits, build(backend, traits), request, stream, job)
            finally:
                stream.end()

        stream.job = self._worker.submit(Job(run, PRIORITY_CHAT))
        return stream

    def _run_chat(
        self,
        backend: Backend,
        traits: ModelTraits,
        messages: Sequence[ChatMessage],
        request: ChatRequest,
        stream: ChatStream,
        job: Job[ChatResult],
    ) -> ChatResult:
        config, began = self._config, time.perf_counter()
        prompt = backend.render_chat(_fold_system(messages) if not traits.system_prompt else messages)
        if traits.reasoning:
            prompt = open_thinking(prompt)
        room = backend.info.n_ctx - backend.token_count(prompt)
        if room < 16:
            raise RequestError(f"the question is too long for the model's {backend.info.n_ctx}-token window")
        params = SamplingParams(
            max_tokens=min(request.max_tokens or config.chat_max_tokens, room),
            temperature=_first(request.temperature, traits.temperature, config.chat_temperature),
            top_p=_first(traits.top_p, config.chat_top_p),
            seed=config.seed,
        )
        splitter = ThinkSplitter(reasoning=traits.reasoning, starts_inside=traits.reasoning)
        parts: dict[ChunkKind, list[str]] = {ChunkKind.ANSWER: [], ChunkKind.REASONING: []}
        first_at = 0.0

        def emit(chunks: list[ChatChunk]) -> None:
            for chunk in chunks:
                parts[chunk.kind].append(chunk.text)
                stream.put(chunk)

        generation = backend.generate(prompt, params, CHAT_SEQUENCE, lambda: not job.cancelled)
        try:
            for piece in generation:
                job.raise_if_cancelled()
                first_at = first_at or time.perf_counter()
                emit(splitter.feed(piece))
                if config.kv_slots > 1:  # a live suggestion goes first, in another KV slot; this one waits
                    self._worker.run_urgent()
        finally:
            generation.close()
        emit(splitter.finish())
        answer, reasoning = "".join(parts[ChunkKind.ANSWER]), "".join(parts[ChunkKind.REASONING])
        return ChatResult(
            answer.strip(),
            reasoning.strip(),
            generation.stop_reason,
            _timings(job, began, generation, first_at),
        )


def _standing_part(follower: Follower, rest: str, rules: LanguageRules, plan: Plan, overdue: bool) -> str:
    """What of `rest` (written past the follower's cursor) can be shown there now, cleaned ("": nothing
    yet): the lines that stand alone there, or once `overdue`, whole lines however they end."""
    request = follower.request
    if overdue:
        cut: int | None = rest.rfind("\n") if rest[: max(rest.rfind("\n"), 0)].strip() else None
    else:
        cut = standing_end(rest, request.prefix.rsplit("\n", 1)[-1], rules, follower.closes)
    return clean_suggestion(rest[:cut], request.prefix, request.suffix, plan.max_indent) if cut is not None else ""


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


def _file_identity(path: Path) -> tuple[str, float, int]:
    """Path, mtime and size: a failed load is retried only when these change."""
    try:
        stat = path.stat()
        return (str(path), stat.st_mtime, stat.st_size)
    except OSError:
        return (str(path), 0.0, -1)


def _timings(job: Job[Any], began: float, generation: Generation, first_at: float) -> Timings:
    """The cost of a finished job: its generation's counters, times from `began` (model ready)."""
    end = time.perf_counter()
    return Timings(
        prompt_tokens=generation.prompt_tokens,
        reused_tokens=generation.reused_tokens,
        generated_tokens=generation.generated_tokens,
        queued_ms=(job.started_at - job.submitted_at) * 1000,
        prompt_ms=((first_at or end) - began) * 1000,
        total_ms=(end - began) * 1000,
    )
