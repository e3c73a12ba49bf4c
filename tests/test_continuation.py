"""Requests that follow a running generation: who is on its path, and when each is answered."""

from __future__ import annotations

import pytest

from completion.errors import Cancelled
from completion.fim.continuation import Continuation, Follower
from completion.schedule.worker import PRIORITY_BACKGROUND, PRIORITY_INLINE, Job
from completion.types import FimRequest, StopReason, Suggestion

ASKED = FimRequest("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", document="d")


def job(priority: int = PRIORITY_INLINE) -> Job[Suggestion]:
    return Job(lambda job: Suggestion("", StopReason.END), priority)


def lines(follower: Follower, rest: str, overdue: bool) -> str:
    """Stands: whole lines (or, overdue, anything written)."""
    return rest if overdue else rest[: rest.rfind("\n")] if "\n" in rest else ""


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
    assert continuation.follow(at("a"), follower, patience_s=60)
    assert not follower.answered  # nothing past "a" is a whole line yet
    continuation.text = "a + b\nc = 1\n"
    continuation.serve()
    assert follower.result(0).text == " + b\nc = 1"


def test_an_overdue_follower_gets_whole_lines_that_do_not_stand() -> None:
    never_stands = Continuation(ASKED, job(), lambda follower, rest, overdue: rest if overdue else "")
    never_stands.text = "a + b"
    follower = job()
    assert never_stands.follow(at(""), follower, patience_s=0)
    assert follower.result(0).text == "a + b"


def test_a_newer_follower_supersedes_an_older_one_and_the_end_answers_or_hands_back() -> None:
    continuation = Continuation(ASKED, job(), lines)
    continuation.text = "a + b"
    older, newer, handed_back = job(), job(), []
    assert continuation.follow(at("a"), older, patience_s=60)
    assert continuation.follow(at("a +"), newer, patience_s=60)
    with pytest.raises(Cancelled):
        older.result(0)

    def answer(follower: Follower) -> Suggestion | None:
        return Suggestion(" b", StopReason.CACHED) if follower.typed == "a +" else None

    continuation.end(answer, handed_back.append)
    assert newer.result(0).text == " b"
    assert not continuation.follow(at("a"), job(), patience_s=60)  # over: nobody follows it any more
    assert handed_back == []


def test_a_follower_the_end_cannot_answer_is_handed_back_and_cancel_ends_all() -> None:
    continuation, follower, handed_back = Continuation(ASKED, job(), lines), job(), []
    assert continuation.follow(at(""), follower, patience_s=60)
    continuation.end(lambda follower: None, handed_back.append)
    assert handed_back == [follower]
    generating, waiting = job(), job()
    cancelled = Continuation(ASKED, generating, lines)
    assert cancelled.follow(at(""), waiting, patience_s=60)
    cancelled.cancel("a request elsewhere")
    assert generating.cancelled
    with pytest.raises(Cancelled):
        waiting.result(0)


def test_only_a_generation_nobody_waits_for_is_in_the_background() -> None:
    assert Continuation(ASKED, job(PRIORITY_BACKGROUND), lines).in_background  # a speculation
    live = job()
    assert not Continuation(ASKED, live, lines).in_background
