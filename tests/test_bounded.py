"""BoundedDict: the one drop-the-oldest mapping the caches in completion/ share."""

from __future__ import annotations

import pytest

from completion.bounded import BoundedDict
from completion.fim.cache import DOCUMENTS, SuggestionCache
from completion.types import FimRequest


def test_keeps_the_newest_entries_up_to_its_limit() -> None:
    kept: BoundedDict[str, int] = BoundedDict(3)
    for i, key in enumerate("abcde"):
        kept[key] = i
    assert list(kept.items()) == [("c", 2), ("d", 3), ("e", 4)]


def test_storing_an_existing_key_keeps_its_place() -> None:
    kept: BoundedDict[str, int] = BoundedDict(2)
    kept["a"], kept["b"] = 1, 2
    kept["a"] = 3  # as an OrderedDict: a stays oldest
    kept["c"] = 4
    assert list(kept.items()) == [("b", 2), ("c", 4)]


def test_a_key_moved_to_the_end_outlives_older_ones() -> None:
    kept: BoundedDict[str, int] = BoundedDict(2)
    kept["a"], kept["b"] = 1, 2
    kept.move_to_end("a")  # a cache that counts a read as use does this
    kept["c"] = 3
    assert list(kept) == ["a", "c"]
    kept.pop("a")
    kept["a"] = 5  # pop and store again: new
    kept["d"] = 6
    assert list(kept) == ["a", "d"]


def test_other_ways_of_storing_are_bounded_too() -> None:
    kept: BoundedDict[int, int] = BoundedDict(2)
    kept.update({1: 1, 2: 2, 3: 3})
    kept.setdefault(4, 4)
    assert list(kept) == [3, 4]


def test_only_evictable_entries_are_dropped() -> None:
    in_use = {"a", "c"}
    kept: BoundedDict[str, int] = BoundedDict(2, evictable=lambda key, value: key not in in_use)
    for i, key in enumerate("abcd"):
        kept[key] = i
    assert list(kept) == ["a", "c", "d"]  # b went; a and c are in use, so the dict stays over its limit
    in_use.clear()
    kept["e"] = 4
    assert list(kept) == ["d", "e"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        BoundedDict(0)


def test_the_suggestion_cache_drops_its_least_recently_stored_document() -> None:
    def at(document: str) -> FimRequest:
        return FimRequest(prefix="x = ", suffix="", document=document)

    cache = SuggestionCache()
    for i in range(DOCUMENTS):
        cache.put(at(f"doc{i}"), "1")
    cache.put(at("doc0"), "2")  # stored again: now the newest
    cache.put(at("new"), "3")
    assert cache.lookup(at("doc1")) is None
    assert (cache.lookup(at("doc0")), cache.lookup(at("doc2")), cache.lookup(at("new"))) == ("2", "1", "3")
