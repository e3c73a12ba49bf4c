"""When to evaluate a prompt ahead of the user (warm-up), for every front end alike.

The first suggestion at a new place pays for its whole prompt (~1,000 tokens, ~13 s cold on 2 cores);
evaluated ahead of time, it re-evaluates a few tokens. So, per document:

- opening it warms its end at once, where code is most often added;
- the first edit somewhere new (more than NEW_PLACE_LINES from its last edit) warms there at once;
- any other edit warms at the edit once the user pauses for PAUSE_S.

A live request for the document cancels what is pending there (it evaluates that place itself), and
closing the document forgets it. The warm-up itself (`Engine.warm`) runs only when the model is idle and
a live request stops it within one small batch. Times are seconds, lines 0-based.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from completion.bounded import BoundedDict
from completion.schedule.worker import Job
from completion.types import FimRequest

log = logging.getLogger(__name__)

PAUSE_S = 0.5  # typing pauses longer than this warm the prompt at the edit
NEW_PLACE_LINES = 20  # an edit this far from the last one starts somewhere new: warm there at once
DOCUMENTS_KEPT = 256  # documents whose last edited line is remembered (closed ones are dropped at once)

Warm = Callable[[FimRequest], "Job[int] | None"]  # queues a warm-up (Engine.warm); None: nothing to warm there


class Timers:
    """Callbacks due later, one per key, on one daemon thread; a newer one for a key replaces the older."""

    def __init__(self, name: str = "tabwise-warmup") -> None:
        self._due: dict[str, tuple[float, Callable[[], None]]] = {}  # key -> (monotonic due time, callback)
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def call_later(self, key: str, delay_s: float, callback: Callable[[], None]) -> None:
        """Run `callback` on the timer thread in `delay_s` seconds, replacing what was due for `key`."""
        with self._wake:
            self._due[key] = (time.monotonic() + delay_s, callback)
            self._wake.notify()

    def cancel(self, key: str) -> None:
        """Drop what is due for `key`, if anything."""
        with self._wake:
            self._due.pop(key, None)

    def stop(self) -> None:
        """Drop everything due and end the thread."""
        with self._wake:
            self._stopped = True
            self._due.clear()
            self._wake.notify()
        self._thread.join(5)

    def _loop(self) -> None:
        while (callback := self._next()) is not None:
            try:
                callback()
            except Exception:  # this thread's error boundary: a failed warm-up must not end later ones
                log.exception("warm-up failed")

    def _next(self) -> Callable[[], None] | None:
        """The next callback once it is due; None when stopped."""
        with self._wake:
            while not self._stopped:
                if not self._due:
                    self._wake.wait()
                    continue
                key, (due, callback) = min(self._due.items(), key=lambda item: item[1][0])
                if (wait := due - time.monotonic()) > 0:
                    self._wake.wait(wait)
                    continue
                del self._due[key]
                return callback
            return None


class WarmupPolicy:
    """Decides when and where to warm; `warm` does it. Thread-safe: front ends report from any thread."""

    def __init__(self, warm: Warm, pause_s: float = PAUSE_S, new_place_lines: int = NEW_PLACE_LINES) -> None:
        self._warm = warm
        self._pause_s = pause_s
        self._new_place_lines = new_place_lines
        self._timers = Timers()  # per document: the warm-up due after a pause
        self._lines: BoundedDict[str, int] = BoundedDict(DOCUMENTS_KEPT)  # per document: the line of its last edit
        self._newest: tuple[str, Job[int]] | None = None  # the last warm-up queued, and its document
        self._lock = threading.Lock()

    def opened(self, document: str, at: FimRequest | None) -> None:
        """`document` was opened; `at` is the request at its end (None: nothing to warm)."""
        if at is not None:
            self._timers.call_later(document, 0, lambda: self._start(document, at))

    def edited(self, document: str, line: int | None, at: FimRequest | None) -> None:
        """`document` was edited at `line` (None: unknown); `at` is the request at the cursor after the edit
        (None: the place is unknown, so what was pending there is dropped)."""
        with self._lock:
            last = self._lines.get(document)
            if line is not None:
                self._lines.pop(document, None)  # re-inserted last: the newest stay
                self._lines[document] = line
        if at is None:
            self._timers.cancel(document)
            return
        somewhere_new = line is not None and (last is None or abs(line - last) > self._new_place_lines)
        self._timers.call_later(document, 0 if somewhere_new else self._pause_s, lambda: self._start(document, at))

    def live(self, document: str) -> None:
        """A live request for `document` came: it evaluates that place itself, so nothing there is warmed."""
        self._timers.cancel(document)
        with self._lock:
            newest = self._newest
            if newest is None or newest[0] != document:
                return
            self._newest = None
        newest[1].cancel("a live request came")  # queued: dropped; running: the worker stops it anyway

    def closed(self, document: str) -> None:
        """`document` was closed: cancel its warm-ups and forget it."""
        self.live(document)
        with self._lock:
            self._lines.pop(document, None)

    def stop(self) -> None:
        """Cancel everything pending; no warm-up starts after this."""
        self._timers.stop()

    def _start(self, document: str, at: FimRequest) -> None:
        """On the timer thread: start the warm-up (Engine.warm only queues it)."""
        job = self._warm(at)
        with self._lock:
            self._newest = (document, job) if job is not None else None
