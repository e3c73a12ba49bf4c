"""A suggestion's generation that goes on after the user sees its start, and the requests that follow it.

The time budget limits what is shown, not what is computed: when it ends, the part that stands is shown
and the model writes on, to the end the plan chose, into the suggestion cache. A request on its path
(the user pressed Tab on what was shown, or typed what it says) neither waits in the queue nor starts a
new generation: it follows this one and is answered from it as soon as something past its cursor stands,
or with the rest once the generation is over (never half a line: until something stands it waits). A
request anywhere else ends it (engine.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from completion.schedule.worker import PRIORITY_INLINE, Job
from completion.types import FimRequest, StopReason, Suggestion


@dataclass(frozen=True)
class Follower:
    """A live request on the path of a running generation."""

    request: FimRequest
    job: Job[Suggestion]
    typed: str  # what the user typed or accepted of the suggestion since it was asked for
    closes: int = 0  # brackets open at its cursor that the code below does not close (its plan's)


# What of the text after what a follower typed can be shown to it now ("": nothing stands yet).
Standing = Callable[[Follower, str], str]


class Continuation:
    """One running completion generation that on-path requests may follow; thread-safe."""

    def __init__(self, request: FimRequest, job: Job[Suggestion], standing: Standing) -> None:
        self.request = request  # the request the generation was started for
        self.job = job  # the job generating it
        self.text = ""  # what the model has written so far (replaced by the worker thread as it writes)
        self._standing = standing
        self._followers: list[Follower] = []
        self._over = False
        self._lock = threading.Lock()

    def typed_along(self, request: FimRequest) -> str | None:
        """What `request` typed of this suggestion, if it is on its path: the same document and text after
        the cursor, the text before it grown by a prefix of what the model has written; else None."""
        mine = self.request
        if (request.document or request.path) != (mine.document or mine.path) or request.suffix != mine.suffix:
            return None
        if request.notes != mine.notes:  # told other facts (a cell ran): what it writes may differ
            return None
        if not request.prefix.startswith(mine.prefix):
            return None
        typed = request.prefix[len(mine.prefix) :]
        return typed if self.text.startswith(typed) else None

    @property
    def in_background(self) -> bool:
        """True once nobody waits for the generation itself: its own request was answered (it writes on
        into the cache), or it is a speculation. Only then may a request elsewhere end it."""
        return self.job.answered or self.job.priority != PRIORITY_INLINE

    def follow(self, request: FimRequest, job: Job[Suggestion], closes: int = 0) -> bool:
        """Answer `job` from this generation if `request` is on its path and it is still running: at once
        where what is written past the cursor already stands, else at the next line that makes it stand,
        or at the generation's end. An older follower is cancelled, as a newer request supersedes an older
        one."""
        typed = self.typed_along(request)
        with self._lock:
            if self._over or typed is None:
                return False
            follower = Follower(request, job, typed, closes)
            older, self._followers = self._followers, [follower]
        for old in older:
            old.job.cancel("superseded by a newer request")
        self.serve()
        return True

    def serve(self) -> None:
        """Answer the followers to whom something of what the model wrote can be shown now (called at the
        end of each line the model writes)."""
        text = self.text
        with self._lock:
            waiting = [f for f in self._followers if text.startswith(f.typed)]
        for follower in waiting:
            shown = self._standing(follower, text[len(follower.typed) :])
            if shown:
                with self._lock:
                    self._followers = [f for f in self._followers if f is not follower]
                follower.job.finish_now(Suggestion(shown, StopReason.TIME))

    def end(self, answer: Callable[[Follower], Suggestion | None], resubmit: Callable[[Job[Suggestion]], None]) -> None:
        """The generation is over: answer each follower with `answer(follower)` (from the cache, where the
        whole suggestion now is) or, where there is none (it typed past or away from what was written),
        hand its job to `resubmit`."""
        with self._lock:
            self._over = True
            followers, self._followers = self._followers, []
        for follower in followers:
            suggestion = answer(follower)
            if suggestion is not None:
                follower.job.finish_now(suggestion)
            else:
                resubmit(follower.job)

    def cancel(self, why: str) -> None:
        """End it before its end (a request elsewhere, an error), with its followers."""
        self.job.cancel(why)
        with self._lock:
            self._over = True
            followers, self._followers = self._followers, []
        for follower in followers:
            follower.job.cancel(why)
