"""Suggestions already made, reused without the model.

Two cases answer at once: the user returns to a position they had (same text before and after the
cursor), and the user types what a suggestion begins with (the text after the cursor unchanged, the
text before it grown by a prefix of the suggestion): the rest of that suggestion is still the answer.
Keys are whole texts, so an edit anywhere else misses; nothing is ever invalidated by hand.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from completion.bounded import BoundedDict
from completion.types import FimRequest

PER_DOCUMENT = 16  # suggestions remembered per document, newest first
DOCUMENTS = 64  # documents remembered
MAX_CHAIN = 4  # suggestions prepared one after another that a cached answer may run on into


@dataclass(frozen=True)
class Remembered:
    """A suggestion and where it was made."""

    prefix: str
    suffix: str
    text: str
    notes: str = ""  # what the prompt was told beside the code (a kernel's variables): other notes, other answer


class SuggestionCache:
    """Per-document rings of recent suggestions; safe to use from several threads."""

    def __init__(self) -> None:
        self._documents: BoundedDict[str, list[Remembered]] = BoundedDict(DOCUMENTS)
        self._lock = threading.Lock()

    @staticmethod
    def _key(request: FimRequest) -> str:
        return request.document or request.path

    def put(self, request: FimRequest, text: str) -> None:
        """Remember `text` as the suggestion for `request`; an empty one too, for that very place (the
        model, asked with the code below in view, had nothing to add there: asking again would not help)."""
        key = self._key(request)
        with self._lock:
            ring = self._documents.pop(key, [])
            ring = [Remembered(request.prefix, request.suffix, text, request.notes)] + [
                old for old in ring if (old.prefix, old.suffix) != (request.prefix, request.suffix)
            ]
            self._documents[key] = ring[:PER_DOCUMENT]

    def lookup(self, request: FimRequest) -> str | None:
        """The suggestion still valid at `request`, or None. Where a suggestion was prepared for the
        place its rest leads to (speculation), it follows on: accepting would show it next anyway."""
        with self._lock:
            ring = list(self._documents.get(self._key(request), ()))
        text = next((rest for old in ring if (rest := _rest(old, request)) is not None), None)
        if text is None:
            return None
        for _ in range(MAX_CHAIN):
            more = next((o.text for o in ring if _leads_on(o, request, text)), "")
            if not more:
                break
            text += more
        return text

    def clear(self) -> None:
        """Drop every suggestion (another model answers from now on)."""
        with self._lock:
            self._documents.clear()

    def forget(self, document: str) -> None:
        """Drop a closed document's suggestions."""
        with self._lock:
            self._documents.pop(document, None)


def _rest(old: Remembered, request: FimRequest) -> str | None:
    """What of `old` is still ahead at `request`: the user typed a proper prefix of it, or nothing."""
    if old.suffix != request.suffix or old.notes != request.notes or not request.prefix.startswith(old.prefix):
        return None
    typed = request.prefix[len(old.prefix) :]
    if not old.text:
        return "" if not typed else None
    return old.text[len(typed) :] if len(typed) < len(old.text) and old.text.startswith(typed) else None


def _leads_on(old: Remembered, request: FimRequest, text: str) -> bool:
    """True if `old` was made where accepting `text` at `request` leads (compared in place: a prefix can
    be a whole file, and a lookup runs on every request)."""
    return (
        len(old.prefix) == len(request.prefix) + len(text)
        and old.suffix == request.suffix
        and old.notes == request.notes
        and old.prefix.endswith(text)
        and old.prefix.startswith(request.prefix)
    )
