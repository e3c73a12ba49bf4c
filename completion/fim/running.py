"""The completion generation running now (a shown suggestion writing on, or a speculation), which requests
on its path follow instead of queueing (completion/fim/continuation.py), and which a request or an edit
anywhere else ends once nobody waits for it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from completion.context.syntax import SyntaxCache
from completion.fim.continuation import Continuation, Follower
from completion.fim.plan import Plan, plan_completion
from completion.fim.shape import clean_suggestion, standing_end
from completion.languages import LanguageRules, language_of, rules_for
from completion.schedule.worker import Job
from completion.types import FimRequest, Suggestion


@dataclass(frozen=True)
class Prepared:
    """A completion request worked out once: its language, rules and plan (what the model is asked for)."""

    request: FimRequest
    language: str
    rules: LanguageRules
    plan: Plan

    @property
    def key(self) -> str:
        """The document the request is in: its prompt layout, KV slot and suggestions go by this."""
        return self.request.document or self.request.path


def prepare(request: FimRequest, syntax: SyntaxCache) -> Prepared:
    """`request` with its language (the request's, else from its path), rules and plan."""
    language = request.language or language_of(request.path)
    rules = rules_for(language)
    return Prepared(request, language, rules, plan_completion(request, language, syntax, rules))


class Running:
    """Holds the one generation requests may follow; thread-safe."""

    def __init__(self) -> None:
        self._current: Continuation | None = None
        self._lock = threading.Lock()

    @staticmethod
    def make(prepared: Prepared, job: Job[Suggestion]) -> Continuation:
        """The generation `job` runs for `prepared`, as requests on its path see it."""
        return Continuation(prepared.request, job, lambda at, rest: _standing_part(at, rest, prepared))

    def start(self, continuation: Continuation) -> None:
        """`continuation` is the one to follow from now on (from before its first token)."""
        with self._lock:
            self._current = continuation

    def release(self, continuation: Continuation) -> None:
        """Its generation is over: nobody can follow it any more."""
        with self._lock:
            if self._current is continuation:
                self._current = None

    def follows(self, prepared: Prepared, job: Job[Suggestion]) -> bool:
        """True if `job` is answered from the running generation (its request is on its path); a request
        anywhere else ends that generation once nobody waits for it, as it ends any background work."""
        continuation = self._current
        if continuation is None:
            return False
        if continuation.follow(prepared.request, job, prepared.plan.closes):
            return True
        if continuation.in_background:
            self.end(continuation)
        return False

    def edited(self, at: FimRequest | None) -> None:
        """An edit, with the request at the cursor after it: off the generation's path, what it writes will
        not be wanted."""
        continuation = self._current
        if continuation is None or not continuation.in_background:
            return
        if at is None or continuation.typed_along(at) is None:
            self.end(continuation)

    def closed(self, document: str) -> None:
        """`document` was closed: a generation for it ends."""
        if (continuation := self._current) is not None and continuation.request.document == document:
            self.end(continuation)

    def end(self, continuation: Continuation) -> None:
        """Stop a generation nobody is on the path of any more (its job, and the requests following it)."""
        self.release(continuation)
        continuation.cancel("superseded by a request elsewhere")


def _standing_part(follower: Follower, rest: str, prepared: Prepared) -> str:
    """What of `rest` (written past the follower's cursor) can be shown there now, cleaned ("": nothing
    yet): the lines that stand alone there."""
    request = follower.request
    cut = standing_end(rest, request.prefix.rsplit("\n", 1)[-1], prepared.rules, follower.closes)
    return (
        clean_suggestion(rest[:cut], request.prefix, request.suffix, prepared.plan.max_indent)
        if cut is not None
        else ""
    )
