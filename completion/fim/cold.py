"""The first suggestion at a place no KV cache holds yet (a file just opened): answered from a short prompt.

A full prompt (~1,000 tokens) evaluated from scratch costs 13-16 s on 2 cores, far past a request's time
budget. Where the tokens of the full prompt that no KV cache holds (`Backend.uncached_tokens`) would take more
than SHARE of the budget at the prompt rate measured on this machine, the request is answered from the same
FIM prompt over only the cursor's neighbourhood, sized to evaluate within that share (at least
MIN_SHORT_TOKENS), in a KV sequence of its own so that it evicts nothing of the document's. The full prompt is
then warmed in the background, so the next request in the file finds it cached, or at least what the warm-up
evaluated so far. A later request in a file still cold first evaluates its full prompt itself until WARM_SHARE
of its budget after it was asked (at least one batch), then answers from the full prompt if the short path
would no longer save most of the evaluation, else from the short one again (its KV sequence kept: only the
typed text and the suffix are new). The warm-up thus advances with every request, and no request waits for all
of it: a user who asks at every few words kept the worker busy with short answers and starved a warm-up that
ran only in the gaps (half the characters saved, docs/benchmarks.md), and waiting for the rest of the full
prompt cost each file's second request 6-7 s. Before any rate is measured, the full prompt is taken not to be
in time: no speed is ever assumed. Either way the short path is taken only where it saves most of the
evaluation (the uncached part at least COLD_FACTOR times the short prompt): a new line, which re-evaluates the
suffix (~150 tokens), keeps its full context. A remote server's caches are not seen (0 uncached): it always
gets the full prompt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SHARE = 0.6  # of a request's time budget, at most this goes to evaluating its prompt
# A short prompt is never smaller: with 96, 15 of 30 multi-line holes passed against 17 without the short
# path; with 192, 17 (first request p95 3.0 s against 3.3; docs/benchmarks.md).
MIN_SHORT_TOKENS = 192
COLD_FACTOR = 2  # the short path only where the full prompt's uncached part is this many times the short one
# Of a later request's time budget in a cold file, at most this goes to warming its full prompt: with 2, the
# replay's accept-words user saved 565 characters against 517 with 1, p95 5.4 s against 4.2 (docs/benchmarks.md).
WARM_SHARE = 2.0
SUFFIX_SHARE = 0.25  # of a short prompt's budget, this goes to the code after the cursor
MIN_MEASURED_TOKENS = 32  # evaluations of fewer tokens say more about overheads than the rate: not noted
SMOOTHING = 0.3  # weight of the newest measurement in the rate's moving average
COLD_SEQUENCE = "#cold"  # appended to a document's key: the KV sequence and layout of its short prompts


class PromptRate:
    """Prompt tokens evaluated per second on this machine now, an exponentially weighted moving average over
    real answers and warm-ups; None until one is measured. Thread-safe (status may read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None  # tokens per second

    @property
    def value(self) -> float | None:
        """The rate in tokens per second; None before any measurement."""
        with self._lock:
            return self._rate

    def note(self, tokens: int, seconds: float) -> None:
        """`tokens` were evaluated in `seconds` (a generation's first token included)."""
        if tokens < MIN_MEASURED_TOKENS or seconds <= 0:
            return
        with self._lock:
            measured = tokens / seconds
            self._rate = measured if self._rate is None else SMOOTHING * measured + (1 - SMOOTHING) * self._rate

    def forget(self) -> None:
        """Another model: its rate is unknown again."""
        with self._lock:
            self._rate = None


@dataclass(frozen=True)
class ShortPrompt:
    """The budget of a short prompt: tokens in all, and of them after the cursor."""

    tokens: int
    suffix_tokens: int


def in_time(uncached: int, rate: float | None, budget_s: float) -> bool:
    """Whether evaluating `uncached` tokens at `rate` (tokens per second; None: not measured, so not known to
    be in time) takes at most SHARE of `budget_s`."""
    return uncached == 0 or (rate is not None and uncached <= rate * SHARE * budget_s)


def short_prompt(uncached: int, rate: float | None, budget_s: float, suffix_tokens: int) -> ShortPrompt | None:
    """The short prompt to answer from, where the `uncached` tokens would not be evaluated in time;
    None: the full prompt is in time."""
    if in_time(uncached, rate, budget_s):
        return None
    tokens = MIN_SHORT_TOKENS if rate is None else max(MIN_SHORT_TOKENS, int(rate * SHARE * budget_s))
    if uncached < COLD_FACTOR * tokens:
        return None  # it would save too little to answer from less context
    return ShortPrompt(tokens, min(suffix_tokens, int(tokens * SUFFIX_SHARE)))


def own_warm_s(budget_s: float, waited_s: float) -> float:
    """How long a later request in a file still cold warms its full prompt itself: until WARM_SHARE of its
    budget after it was asked. Its `waited_s` in the queue counts: a live request stops the warm-up of that
    same prompt only once its batch is evaluated (150-350 ms of the replay's slowest requests)."""
    return WARM_SHARE * budget_s - waited_s


def cold_sequence(key: str) -> str:
    """The KV sequence (and layout key) of a document's short prompts, apart from its full prompt's."""
    return key + COLD_SEQUENCE


def for_a_while(seconds: float, keep_going: Callable[[], bool]) -> Callable[[], bool]:
    """`keep_going`, but for about `seconds` from now: called before each batch, it lets one more begin only
    while half of the last batch's time still fits, so that the evaluation ends at the batch boundary nearest
    the deadline rather than up to a batch past it (a 32-token batch is ~0.35 s on 2 cores). True at its
    first call whatever the time (if `keep_going()` is), so that a late request always advances the warm-up
    by a batch."""
    deadline = time.perf_counter() + seconds
    last: float | None = None  # when it was last called

    def going() -> bool:
        nonlocal last
        now = time.perf_counter()
        first, step, last = last is None, now - (last or now), now
        return keep_going() and (first or now + step / 2 < deadline)

    return going
