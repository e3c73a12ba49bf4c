"""Requests that follow a running generation: who is on its path, and when each is answered."""

from __future__ import annotations

import pytest

from completion.context.syntax import SyntaxCache
from completion.errors import Cancelled
from completion.fim.continuation import Continuation, Follower
from completion.fim.running import Running, prepare
from completion.schedule.worker import PRIORITY_BACKGROUND, PRIORITY_INLINE, Job
from completion.types import FimRequest, StopReason, Suggestion

ASKED = FimRequest("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", document="d")


def job(priority: int = PRIORITY_INLINE) -> Job[Suggestion]:
    return Job(lambda job: Suggestion("", StopReason.END), priority)


def lines(follower: Follower, rest: str) -> str:
    """Stands: whole lines."""
    return rest[: rest.rfind("\n")] if "\n" in rest else ""


def at(typed: str, **changes: object) -> FimRequest:
    fields = {"prefix": ASKED.prefix + typed, "suffix": ASKED.suffix, "document": "d", **changes}
    return FimRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "typed"),
    [
        (at(""), ""),  # the same place: a Tab on an empty rest, or the editor asking again
        (at("a +"), "a +"),  # typing what it says
        (at("a - "), None),  # typing something else
        (at("a", suffix="\n"), None),  # the code below changed
        (at("a", document="other"), None),  # another document
        (FimRequest("x = ", ASKED.suffix, document="d"), None),  # elsewhere in the document
    ],
)
def test_who_is_on_the_path_of_a_generation(request_: FimRequest, typed: str | None) -> None:
    continuation = Continuation(ASKED, job(), lines)
    continuation.text = "a + b\n"
    assert continuation.typed_along(request_) == typed


def test_a_follower_is_answered_once_a_line_past_its_cursor_stands() -> None:
    continuation = Continuation(ASKED, job(), lines)
    continuation.text = "a + b"
    follower = job()
    assert continuation.follow(at("a"), follower)
    assert not follower.answered  # nothing past "a" is a whole line yet
    continuation.text = "a + b\nc = 1\n"
    continuation.serve()
    assert follower.result(0).text == " + b\nc = 1"


def test_a_follower_never_gets_lines_inside_a_bracket_the_model_has_not_closed() -> None:
    """However long it waits: lines that do not stand are not shown, only the end answers it."""
    asked = FimRequest("def leap(year):\n    return ", "\n", path="leap.py", document="d")
    running = Running.make(prepare(asked, SyntaxCache()), job())
    follower, running.text = job(), "year"
    assert running.follow(FimRequest(asked.prefix + "year", "\n", path="leap.py", document="d"), follower)
    for line in [" % 4 == 0 and (\n", "        year % 100 != 0\n", "        or year % 400 == 0\n"]:
        running.text += line
        running.serve()
        assert not follower.answered, running.text
    running.text += "    )\n"  # closed: now it stands
    running.serve()
    assert follower.result(0).text == " % 4 == 0 and (\n        year % 100 != 0\n        or year % 400 == 0\n    )"


def test_a_newer_follower_supersedes_an_older_one_and_the_end_answers_or_hands_back() -> None:
    continuation = Continuation(ASKED, job(), lines)
    continuation.text = "a + b"
    older, newer, handed_back = job(), job(), []
    assert continuation.follow(at("a"), older)
    assert continuation.follow(at("a +"), newer)
    with pytest.raises(Cancelled):
        older.result(0)

    def answer(follower: Follower) -> Suggestion | None:
        return Suggestion(" b", StopReason.CACHED) if follower.typed == "a +" else None

    continuation.end(answer, handed_back.append)
    assert newer.result(0).text == " b"
    assert not continuation.follow(at("a"), job())  # over: nobody follows it any more
    assert handed_back == []


def test_a_follower_the_end_cannot_answer_is_handed_back_and_cancel_ends_all() -> None:
    continuation, follower, handed_back = Continuation(ASKED, job(), lines), job(), []
    assert continuation.follow(at(""), follower)
    continuation.end(lambda follower: None, handed_back.append)
    assert handed_back == [follower]
    generating, waiting = job(), job()
    cancelled = Continuation(ASKED, generating, lines)
    assert cancelled.follow(at(""), waiting)
    cancelled.cancel("a request elsewhere")
    assert generating.cancelled
    with pytest.raises(Cancelled):
        waiting.result(0)


def test_only_a_generation_nobody_waits_for_is_in_the_background() -> None:
    assert Continuation(ASKED, job(PRIORITY_BACKGROUND), lines).in_background  # a speculation
    live = job()
    assert not Continuation(ASKED, live, lines).in_background
