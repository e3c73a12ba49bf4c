"""The suggestion cache: typed-ahead and revisited positions, and nothing else."""

from __future__ import annotations

from completion.fim.cache import PER_DOCUMENT, SuggestionCache
from completion.types import FimRequest


def request(prefix: str, suffix: str = "\n", document: str = "a.py") -> FimRequest:
    return FimRequest(prefix, suffix, document=document)


def test_typed_ahead_and_revisited() -> None:
    cache = SuggestionCache()
    cache.put(request("x = "), "compute(1, 2)")
    assert cache.lookup(request("x = ")) == "compute(1, 2)"
    assert cache.lookup(request("x = comp")) == "ute(1, 2)"
    assert cache.lookup(request("x = compute(1, 2)")) is None  # all typed: nothing left to offer
    assert cache.lookup(request("x = compare")) is None  # typed something else
    assert cache.lookup(request("x = comp", suffix="")) is None  # the text after the cursor changed
    assert cache.lookup(request("y = 1\nx = comp")) is None  # an edit before the cursor
    assert cache.lookup(request("x = comp", document="b.py")) is None


def test_newest_first_and_bounded() -> None:
    cache = SuggestionCache()
    cache.put(request("x = "), "old()")
    cache.put(request("x = "), "new()")
    assert cache.lookup(request("x = ")) == "new()"
    for n in range(PER_DOCUMENT + 5):
        cache.put(request(f"v{n} = "), f"value{n}")
    assert cache.lookup(request("x = ")) is None  # pushed out
    assert cache.lookup(request(f"v{PER_DOCUMENT + 4} = val")) == f"ue{PER_DOCUMENT + 4}"
    cache.forget("a.py")
    assert cache.lookup(request(f"v{PER_DOCUMENT + 4} = ")) is None


def test_an_empty_suggestion_is_kept_for_its_very_place() -> None:
    cache = SuggestionCache()
    cache.put(request("x = "), "")  # the model had nothing to add there
    assert cache.lookup(request("x = ")) == ""
    assert cache.lookup(request("x = 1")) is None  # anywhere else it says nothing


def test_a_suggestion_runs_on_into_the_one_prepared_after_it() -> None:
    cache = SuggestionCache()
    cache.put(request("total = 0\n"), "for item in items:")
    cache.put(request("total = 0\nfor item in items:"), "\n    total += item")  # speculation: after accepting
    assert cache.lookup(request("total = 0\nfor item")) == " in items:\n    total += item"
    assert cache.lookup(request("total = 0\nfor each")) is None  # typed something else: nothing follows


def test_a_suggestion_made_with_other_notes_is_not_reused() -> None:
    cache = SuggestionCache()
    before = FimRequest('df["', '"]\n', document="nb", notes="df: DataFrame 3 rows: region str")
    cache.put(before, "region")
    assert cache.lookup(before) == "region"
    after_a_cell_ran = FimRequest('df["', '"]\n', document="nb", notes="df: DataFrame 9 rows: city str")
    assert cache.lookup(after_a_cell_ran) is None
