"""The fill-in-the-middle pipeline: a request prepared once, answered from the suggestion cache or the
generation running on its path, else laid out as a prompt, generated and shaped as it streams, shown when
its time budget ends, written on into the cache, and followed by a speculation of the next suggestion.

The time budget limits what is shown, not what is computed: past it, what stands is shown and the model
writes on to the plan's end (completion/fim/continuation.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from completion.bounded import BoundedDict
from completion.context.documents import Documents
from completion.context.gatherer import CodeContext
from completion.errors import RequestError
from completion.fim.cache import SuggestionCache
from completion.fim.cold import PromptRate, ShortPrompt, cold_sequence, for_a_while, own_warm_s, short_prompt
from completion.fim.confidence import Confidence
from completion.fim.continuation import Continuation, Follower
from completion.fim.plan import Mode
from completion.fim.prompt import FimPrompt, Layout, build_fim_prompt
from completion.fim.running import Prepared, Running, prepare
from completion.fim.shape import leaves_place
from completion.fim.shaper import Shaper
from completion.fim.trace import trace
from completion.runtime import Backend, Generation, SamplingParams
from completion.runtime.host import ModelHost
from completion.schedule.worker import PRIORITY_BACKGROUND, PRIORITY_INLINE, Job, Worker
from completion.status import timings
from completion.types import FimRequest, StopReason, Suggestion, Timings
from prompts import FimFormat

LAYOUTS_KEPT = 64  # documents whose last prompt layout is kept for their next prompt


class LastCompletion:
    """What the last live completion cost, for status; written by the worker, read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency_ms = 0.0  # from the worker taking it to its answer (0: answered without the model)
        self.evaluated_tokens = 0  # prompt tokens evaluated, not reused from the KV cache

    def record(self, evaluated_tokens: int, latency_ms: float | None = None) -> None:
        """Note a completion's cost; a latency of None leaves the last one (a follower has none of its own)."""
        with self._lock:
            self.evaluated_tokens = evaluated_tokens
            self.latency_ms = self.latency_ms if latency_ms is None else latency_ms

    def read(self) -> tuple[float, int]:
        """(latency in ms, evaluated tokens) of the last completion."""
        with self._lock:
            return self.latency_ms, self.evaluated_tokens


class FimPipeline:
    """Completions on the host's model, with the cache, prompt layouts and the running generation."""

    def __init__(self, host: ModelHost, documents: Documents, worker: Worker) -> None:
        self._host, self._documents, self._worker = host, documents, worker
        self._cache = SuggestionCache()  # answers typed-ahead and revisited positions without the model
        self._layouts: BoundedDict[str, Layout] = BoundedDict(LAYOUTS_KEPT)  # per document: its last prompt's
        self.running = Running()  # the generation requests on its path follow
        self._speculation: Job[Suggestion] | None = None  # the suggestion being prepared for after an accept
        self._warming: Job[int] | None = None  # the newest warm-up
        self._rate = PromptRate()  # prompt tokens evaluated per second, from answers and warm-ups (cold.py)
        self._cold: BoundedDict[str, bool] = BoundedDict(LAYOUTS_KEPT)  # documents answered short since opened
        self._lock = threading.Lock()
        self.last = LastCompletion()

    def submit(self, request: FimRequest) -> Job[Suggestion]:
        """Queue a completion (a newer one for the same document supersedes it); answered at once where
        nothing fits, from the cache, or from the generation running on its path."""
        self._check_size(request)
        prepared = prepare(request, self._documents.syntax)
        job: Job[Suggestion] = Job(lambda job: self._run(prepared, job), PRIORITY_INLINE, request.document)
        if prepared.plan.mode is Mode.NONE:
            trace(job, request, "nothing")
            job.finish_now(Suggestion("", StopReason.STOP))
        elif self.running.follows(prepared, job):
            trace(job, request, "follow")  # may be answered already: the callback then runs at once
            self.last.record(0)  # answered from a generation already running, not one of its own
        elif (cached := self._cache.lookup(request)) is not None:
            trace(job, request, "cache")
            self._worker.supersede(request.document)
            self.last.record(0, 0.0)  # answered without the model
            job.finish_now(Suggestion(cached, StopReason.CACHED))
        else:
            trace(job, request, "queued")
            self._worker.submit(job)
        return job

    def warm(self, request: FimRequest) -> Job[int] | None:
        """Evaluate the prompt for `request` ahead of time, without generating; runs only when nothing else
        waits, and a live request stops it within one small batch. None where a request would get nothing."""
        if self._oversize(request):
            return None  # a request there would be refused
        prepared = prepare(request, self._documents.syntax)
        if prepared.plan.mode is Mode.NONE:
            return None

        def run(job: Job[int]) -> int:
            backend, traits = self._host.ensure()
            if traits.fim is None:
                return 0
            return self._prefill(backend, self._prompt(prepared, traits.fim).text, prepared.key, job.wanted)

        return self._queue_warm_up(run)

    def _queue_warm_up(self, run: Callable[[Job[int]], int]) -> Job[int]:
        """Queue a warm-up in the background, replacing the one before it (only the newest place is worth it)."""
        job: Job[int] = Job(run, PRIORITY_BACKGROUND)
        with self._lock:  # the warm-up policy calls this from its timer thread
            older, self._warming = self._warming, job
        if older is not None:
            older.cancel("a newer warm-up replaced it")
        return self._worker.submit(job)

    def _prefill(self, backend: Backend, prompt: str, sequence: str, keep_going: Callable[[], bool]) -> int:
        """Evaluate `prompt` into `sequence`'s KV cache while `keep_going()`, noting the rate."""
        started = time.perf_counter()
        evaluated = backend.prefill(prompt, keep_going, sequence)
        self._rate.note(evaluated, time.perf_counter() - started)
        return evaluated

    def forget(self, document: str) -> None:
        """`document` was closed: its generation ends and its suggestions go."""
        self.running.closed(document)
        self._cache.forget(document)
        self._cold.pop(document, None)  # opened again, its first request may be short again

    def model_changed(self) -> None:
        """Another model: its suggestions, and prompts laid out in its tokens, are no use."""
        self._cache.clear()
        self._layouts.clear()
        self._rate.forget()
        self._cold.clear()

    def _check_size(self, request: FimRequest) -> None:
        if size := self._oversize(request):
            limit = self._host.config.max_document_chars
            raise RequestError(f"document too large to complete ({size:,} characters; limit {limit:,})")

    def _oversize(self, request: FimRequest) -> int:
        """The request's size in characters where it is over the limit, else 0."""
        size = len(request.prefix) + len(request.suffix)
        return size if size > self._host.config.max_document_chars else 0

    def _prompt(self, prepared: Prepared, fim: FimFormat, short: ShortPrompt | None = None) -> FimPrompt:
        """The prompt: its context within the token budget, in the model's FIM format, laid out as the
        document's last prompt was where that still holds (its window: completion/fim/prompt.py). A `short`
        one shows only the cursor's neighbourhood, laid out apart from the document's full prompt (cold.py)."""
        request, config = prepared.request, self._host.config
        if short is None:
            context = self._documents.context_for(request.root).gather(request, prepared.language)
            key, suffix_budget = prepared.key, config.suffix_tokens
            budget = request.context_tokens or config.context_tokens  # a request's own budget wins over the setting
        else:
            context = CodeContext(comment=prepared.rules.comment)
            key, budget, suffix_budget = cold_sequence(prepared.key), short.tokens, short.suffix_tokens
        previous = self._layouts.pop(key, None)  # re-inserted last: the newest stay
        prompt = build_fim_prompt(request, fim, self._host.count, budget, suffix_budget, context, previous)
        self._layouts[key] = prompt.layout
        return prompt

    def _asked(
        self, backend: Backend, prepared: Prepared, prompt: FimPrompt, fim: FimFormat, job: Job[Suggestion]
    ) -> tuple[str, str, bool]:
        """The prompt to generate from, its KV sequence, and whether the full `prompt` is warmed behind it:
        for a live request whose full prompt would not be evaluated in time (a file just opened), a short
        one (completion/fim/cold.py), the full one then warmed (queued now: a request that ends this one's
        generation must not skip it); else the full prompt. A speculation is not waited for."""
        short = self._short(backend, prepared, prompt.text, job) if job.priority == PRIORITY_INLINE else None
        if short is None:
            return prompt.text, prepared.key, False
        self._queue_warm_up(lambda warm: self._prefill(self._host.ensure()[0], prompt.text, prepared.key, warm.wanted))
        return self._prompt(prepared, fim, short).text, cold_sequence(prepared.key), True

    def _short(self, backend: Backend, prepared: Prepared, full: str, job: Job[Suggestion]) -> ShortPrompt | None:
        """The short prompt for a live request whose full prompt is late; in a file answered short before, only
        if it still is once the request has warmed its full prompt for a while itself (cold.py). A request with
        notes (a notebook kernel's variables: what its suggestion needs most, and more than a short prompt
        holds) keeps its full context."""
        if not self._host.config.short_cold_prompts or prepared.request.notes:
            return None
        budget_s = (prepared.request.time_budget_ms or self._host.config.time_budget_ms) / 1000
        suffix_tokens = self._host.config.suffix_tokens
        short = short_prompt(backend.uncached_tokens(full, prepared.key), self._rate.value, budget_s, suffix_tokens)
        if short is not None and prepared.key in self._cold:
            waited_s = time.perf_counter() - job.submitted_at
            self._prefill(backend, full, prepared.key, for_a_while(own_warm_s(budget_s, waited_s), job.wanted))
            uncached = backend.uncached_tokens(full, prepared.key)
            short = short_prompt(uncached, self._rate.value, budget_s, suffix_tokens)
        if short is not None:
            self._cold[prepared.key] = True
        return short

    def _sampling(self, prepared: Prepared, fim: FimFormat, confidence: Confidence) -> SamplingParams:
        """A request's own limit wins over the setting; where only a short completion fits, the plan's. The
        tokens' log-probabilities only where a confidence rule reads them."""
        request = prepared.request
        max_tokens = request.max_tokens or self._host.config.max_tokens
        limit = min(max_tokens, prepared.plan.max_tokens or max_tokens)
        return SamplingParams(limit, stop=fim.stop + request.stop, logprobs=confidence.active)

    def _run(self, prepared: Prepared, job: Job[Suggestion], continuation: Continuation | None = None) -> Suggestion:
        """The worker's part: generate, shape while streaming, then cache and look ahead."""
        backend, traits = self._host.ensure()
        began = time.perf_counter()  # costs are counted from here: a first request's model load is not
        if traits.fim is None:
            raise RequestError(f"{backend.info.name} cannot fill in the middle; use a code model for completions")
        job.raise_if_cancelled()
        if job.priority == PRIORITY_INLINE and (cached := self._cache.lookup(prepared.request)) is not None:
            return Suggestion(cached, StopReason.CACHED)  # written while this one waited
        asked, sequence, warming = self._asked(backend, prepared, self._prompt(prepared, traits.fim), traits.fim, job)
        continuation = continuation or self.running.make(prepared, job)
        confidence = Confidence.of(self._host.config)
        shaper = Shaper(prepared.request, prepared.plan, prepared.rules, confidence)
        params = self._sampling(prepared, traits.fim, confidence)
        asked_at = time.perf_counter()
        with self._followed(continuation):  # typing what it writes follows it, from before its prompt on
            generation = backend.generate(asked, params, sequence, job.wanted)
            first_at = self._write(generation, prepared, job, continuation, shaper, began)
        self._rate.note(generation.prompt_tokens - generation.reused_tokens, first_at - asked_at)
        cut = not shaper.stopped and generation.stop_reason not in (StopReason.END, StopReason.STOP)
        text = shaper.finish(cut)  # a limit's cut keeps what stands, never a bracket or string left open
        reason = StopReason.STOP if shaper.stopped else generation.stop_reason
        suggestion = Suggestion(text, reason, timings(job, began, generation, first_at))
        if text or not cut:  # an empty cut says nothing of the place: a longer limit may fill it
            self._cache.put(prepared.request, suggestion.text)
        accepted = replace(prepared.request, prefix=prepared.request.prefix + suggestion.text)
        ahead = self._after(accepted, suggestion, shaper)
        continuation.end(self._answer_from_cache, self._resubmit)  # a follower there: answered from the cache
        if job.priority == PRIORITY_INLINE:
            self._look_ahead(accepted, ahead, job, suggestion, warming)
        return suggestion

    def _write(
        self,
        generation: Generation,
        prepared: Prepared,
        job: Job[Suggestion],
        continuation: Continuation,
        shaper: Shaper,
        began: float,
    ) -> float:
        """Stream the generation through the shaper, serving followers at each line's end and showing a
        live request what stands once its budget is spent; returns when its first token came."""
        first_at = 0.0
        try:
            for piece in generation:
                job.raise_if_cancelled()
                first_at = first_at or time.perf_counter()
                stopped = shaper.feed(piece, generation.logprobs)
                continuation.text = shaper.text
                if stopped:
                    break
                if job.priority == PRIORITY_INLINE and not job.answered:
                    self._show_when_due(prepared, job, shaper, "\n" in piece, began, first_at, generation)
                if "\n" in piece:
                    continuation.serve()
        finally:
            generation.close()
        return first_at

    @contextlib.contextmanager
    def _followed(self, continuation: Continuation) -> Iterator[None]:
        """While a generation is started and runs, requests on its path follow it; if it fails or is cancelled
        (its prompt's evaluation included), they end with it instead of waiting for an answer that never comes."""
        self.running.start(continuation)
        try:
            yield
        except Exception as exc:
            continuation.cancel(str(exc) or "the generation failed")
            raise
        finally:
            self.running.release(continuation)

    def _show_when_due(
        self,
        prepared: Prepared,
        job: Job[Suggestion],
        shaper: Shaper,
        line_ended: bool,
        began: float,
        first_at: float,
        generation: Generation,
    ) -> None:
        """Past the budget, show what stands (at a line's end); until something does, the request waits, at
        the latest for the generation's end (its token limit): half a line is never shown."""
        now, request = time.perf_counter(), prepared.request
        budget_s = (request.time_budget_ms or self._host.config.time_budget_ms) / 1000
        if now - began > budget_s and line_ended and (standing := shaper.standing()) is not None:
            self._show(job, prepared.request, standing, timings(job, began, generation, first_at))

    def _show(self, job: Job[Suggestion], request: FimRequest, shown: str, cost: Timings) -> None:
        """Answer a live request with the start of its suggestion while the generation goes on."""
        if shown.strip():  # never an empty suggestion while the model is still writing
            self._cache.put(request, shown)  # valid on its own if the rest never comes
            self.last.record(cost.evaluated_tokens, cost.total_ms)
            job.answer(Suggestion(shown, StopReason.TIME, cost))

    def _after(self, accepted: FimRequest, suggestion: Suggestion, shaper: Shaper) -> Prepared | None:
        """Remember the place the whole suggestion's acceptance leads to (`accepted`) as complete where nothing
        belongs there: the model ended the middle itself (the text joins the code below), or a stop rule cut
        it where its next line leaves that place's block or writes the code below again. Tab there then adds
        nothing, and a request that typed or accepted all of it is answered at once instead of by a generation
        that the model ends the same way (each function's last request in the typing replay, up to 4 s).
        Returns the place prepared where judging it took its plan (None: not prepared)."""
        if len(suggestion.text.rstrip()) != len(shaper.text.rstrip()):
            return None  # cleaning cut more than trailing space: the place after what was shown is not judged
        if suggestion.stop_reason is StopReason.END:
            self._cache.put(accepted, "")
            return None
        if not shaper.past_stop:
            return None  # no stop rule: nothing said of that place, and no parse spent on it
        ahead = prepare(accepted, self._documents.syntax)
        if leaves_place(shaper.past_stop, ahead.plan, accepted.suffix):
            self._cache.put(accepted, "")
        return ahead

    def _look_ahead(
        self, accepted: FimRequest, ahead: Prepared | None, job: Job[Suggestion], suggestion: Suggestion, warming: bool
    ) -> None:
        """After a live suggestion: note its cost, and ready what follows its acceptance (`accepted`, `ahead`
        if already prepared); not where the full prompt is being warmed (`warming`): the next request here
        needs that first."""
        if not job.answered:
            self.last.record(suggestion.timings.evaluated_tokens, suggestion.timings.total_ms)
        if not warming and self._host.config.speculate and suggestion.text:
            self._speculate(ahead or prepare(accepted, self._documents.syntax))

    def _speculate(self, ahead: Prepared) -> None:
        """Prepare the suggestion that follows this one being accepted, while the engine is idle: it goes
        to the cache, so Tab then the next request is answered at once. Any live request preempts it."""
        if ahead.plan.mode is Mode.NONE or self._cache.lookup(ahead.request) is not None:
            return
        if self._speculation is not None:
            self._speculation.cancel("a newer suggestion replaced it")  # only the newest is worth preparing
        job: Job[Suggestion] = Job(lambda job: self._run(ahead, job, continuation), PRIORITY_BACKGROUND)
        continuation = self.running.make(ahead, job)
        self.running.start(continuation)  # Tab, before it even starts, is answered from it
        self._speculation = self._worker.submit(job)

    def _resubmit(self, job: Job[Suggestion]) -> None:
        """Queue a follower the generation it followed could not answer: it needs one of its own."""
        self._worker.submit(job)

    def _answer_from_cache(self, follower: Follower) -> Suggestion | None:
        """A follower's answer once the generation it followed is over: the rest of it, from the cache."""
        text = self._cache.lookup(follower.request)
        return Suggestion(text, StopReason.CACHED) if text is not None else None
