"""A dict that keeps at most `limit` entries, dropping the oldest.

Several caches in completion/ (parse trees, suggestions, layouts, outlines, ...) keep only the newest
entries so memory stays bounded however many documents a session touches. They share this one class
instead of each repeating a drop-the-oldest loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from itertools import islice
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(OrderedDict[K, V]):
    """An OrderedDict that drops its oldest entries once a store puts it over `limit`.

    Order is OrderedDict's: storing a new key puts it last, storing an existing key keeps its place.
    A cache where use should count as new moves the key itself (pop and store again, or move_to_end),
    so each cache decides what "recent" means for it. With `evictable`, only entries it allows are dropped
    (the oldest of them), so the dict may stay over `limit` while the others are in use.
    """

    def __init__(self, limit: int, evictable: Callable[[K, V], bool] | None = None) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit  # entries kept; the oldest beyond it are dropped
        self._evictable = evictable or (lambda key, value: True)
        super().__init__()

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if (over := len(self) - self.limit) > 0:
            oldest = (k for k, v in self.items() if k != key and self._evictable(k, v))
            for old in list(islice(oldest, over)):
                del self[old]
