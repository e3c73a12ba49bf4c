"""One worker thread that owns the model and runs jobs one at a time, in priority order.

llama.cpp's context is not thread-safe and one CPU has no room for two generations, so every model
call goes through this queue. Callers hold a `Job`: they wait on its future, or cancel it. A cancel
before the job starts finishes it at once; a cancel while it runs is seen between two tokens.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from completion.errors import Cancelled

T = TypeVar("T")

# Lower runs first: model loading, then keystroke completions, then background work, then chat.
PRIORITY_LOAD, PRIORITY_INLINE, PRIORITY_BACKGROUND, PRIORITY_CHAT = 0, 10, 20, 30


@dataclass(eq=False)
class Job(Generic[T]):
    """A unit of model work; `run` gets the job itself, to check `cancelled` between tokens."""

    run: Callable[[Job[T]], T]
    priority: int
    document: str | None = None  # a newer inline job for the same document supersedes this one
    future: Future[T] = field(default_factory=Future)
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float = 0.0
    _cancel: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _state: str = "pending"  # pending -> running -> done, or pending -> done when cancelled early
    _why: str = "cancelled"

    def __post_init__(self) -> None:
        self.future.add_done_callback(self._on_done)

    def _on_done(self, future: Future[T]) -> None:
        if future.cancelled():  # cancelled through the future itself, as asyncio.wrap_future does
            self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called; running code stops at its next check."""
        return self._cancel.is_set()

    def wanted(self) -> bool:
        """Not cancelled: the `keep_going` of the evaluation or generation the job runs."""
        return not self.cancelled

    def cancel(self, why: str = "cancelled") -> None:
        """Stop this job: at once if it has not started, else at its next token."""
        with self._lock:
            self._why = why
            self._cancel.set()
            if self._state == "pending":
                self._state = "done"
                with contextlib.suppress(InvalidStateError):  # the future may be cancelled already
                    self.future.set_exception(Cancelled(why))

    def answer(self, value: T) -> None:
        """Give the caller its result now while the job goes on running (a suggestion shown when its time
        budget ends, its generation continuing into the cache); the job's own end then settles nothing."""
        with self._lock:
            if self._state == "running" and not self.future.done():
                self.future.set_result(value)

    @property
    def answered(self) -> bool:
        """True once the caller has its result (early, by answer(), or at the end)."""
        return self.future.done()

    def finish_now(self, value: T) -> None:
        """Settle a job that needs no model work (it is never queued)."""
        if self._start():
            self._finish(value)

    def raise_if_cancelled(self) -> None:
        """Raise Cancelled if the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled(self._why)

    def result(self, timeout: float | None = None) -> T:
        """Wait for the result; re-raises the job's error (Cancelled when cancelled)."""
        return self.future.result(timeout)

    def _start(self) -> bool:
        with self._lock:
            if self._state != "pending":
                return False
            if not self.future.set_running_or_notify_cancel():  # cancelled through the future
                self._state = "done"
                return False
            self._state = "running"  # from now on only this job's own result can settle the future
            self.started_at = time.perf_counter()
            return True

    def _finish(self, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            self._state = "done"
            if self.future.done():  # answered early: the caller has what it waited for
                return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(value)


class Worker:
    """The thread and queue behind the engine."""

    def __init__(self, name: str = "tabwise-engine") -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Job[Any] | None]] = queue.PriorityQueue()
        self._order = itertools.count()  # FIFO within one priority
        self._latest: dict[str, Job[Any]] = {}  # the newest inline job per document
        self._lock = threading.Lock()
        self._running: Job[Any] | None = None
        self.last_outcome = ""  # how the last job that ran ended: "done", "cancelled" or "error"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Job[T]) -> Job[T]:
        """Queue `job`; an older job for the same document is cancelled as superseded."""
        with self._lock:
            if job.document is not None:
                older = self._latest.get(job.document)
                if older is not None:
                    older.cancel("superseded by a newer request")
                self._latest[job.document] = job
            running = self._running
            if running is not None and running.priority == PRIORITY_BACKGROUND and job.priority == PRIORITY_INLINE:
                running.cancel("yielding to a live request")  # it stops within one step of its prompt, or one token
            self._queue.put((job.priority, next(self._order), job))
        return job

    def supersede(self, document: str | None) -> None:
        """Cancel the newest job for `document`: it was answered another way (the suggestion cache)."""
        if document is None:
            return
        with self._lock:
            older = self._latest.pop(document, None)
        if older is not None:
            older.cancel("superseded by a newer request")

    def pending(self) -> int:
        """Jobs waiting (including cancelled ones not yet skipped)."""
        return self._queue.qsize()

    def busy(self) -> bool:
        """True while a job runs."""
        return self._running is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is queued and running, then end the thread."""
        with self._lock:
            if self._running is not None:
                self._running.cancel("engine stopped")
            for _, _, job in list(self._queue.queue):
                if job is not None:
                    job.cancel("engine stopped")
        self._queue.put((-1, -1, None))
        self._thread.join(timeout)

    def run_urgent(self) -> None:
        """Called by a running job between two of its tokens (an answer streaming for seconds): run the live
        requests queued now, on this thread, then return so that the job goes on where it was."""
        if threading.current_thread() is not self._thread:
            return
        while True:
            with self._lock:
                priority, _, job = self._queue.queue[0] if self._queue.queue else (None, 0, None)
                if priority != PRIORITY_INLINE or job is None:  # a load, the stop, or only background work
                    return
                self._queue.get_nowait()
            interrupted = self._running
            self._run(job)
            self._running = interrupted

    def _loop(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job[Any]) -> None:
        """Run one job to its end; its error goes to its caller and never ends the worker."""
        if not job._start():
            return
        self._running = job
        outcome = "done"
        try:
            job._finish(job.run(job))
        except Exception as exc:
            if not job.answered:  # else only the work after the answer (its continuation) ended early
                outcome = "cancelled" if isinstance(exc, Cancelled) else "error"
            job._finish(error=exc)
        finally:
            if job.priority != PRIORITY_BACKGROUND:  # warm-ups and speculations are not what users see
                self.last_outcome = outcome
            self._running = None
            with self._lock:
                if job.document is not None and self._latest.get(job.document) is job:
                    del self._latest[job.document]
