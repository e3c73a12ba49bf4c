"""How long a client should wait after a keystroke before asking for a suggestion, from how the user types.

A fast typist's next key usually comes within a short interval, and a request sent in between is wasted
model work; a slow typist should not wait for nothing. So the wait follows the typing rhythm (as Tabby
does): a multiple of the recent intervals between keystrokes, within bounds.
"""

from __future__ import annotations

import threading
from collections import deque
from statistics import median

PAUSE_S = 1.0  # a gap longer than this is a pause, not typing, and does not count
WINDOW = 20  # keystroke intervals remembered
FACTOR = 1.5  # wait this many typical intervals: most next keys arrive within it
MIN_MS, MAX_MS, DEFAULT_MS = 50, 500, 150


class TypingRhythm:
    """Keystroke times in, a debounce hint out. Safe to use from several threads."""

    def __init__(self) -> None:
        self._intervals: deque[float] = deque(maxlen=WINDOW)
        self._last: float | None = None
        self._lock = threading.Lock()

    def keystroke(self, at: float) -> None:
        """A document changed at time `at` (seconds, monotonic)."""
        with self._lock:
            if self._last is not None and 0 < at - self._last <= PAUSE_S:
                self._intervals.append(at - self._last)
            self._last = at

    def debounce_ms(self) -> int:
        """The wait to recommend after a keystroke, in milliseconds."""
        with self._lock:
            if len(self._intervals) < 3:
                return DEFAULT_MS
            typical = median(self._intervals)
        return round(min(MAX_MS, max(MIN_MS, typical * FACTOR * 1000)))
