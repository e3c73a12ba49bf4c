"""The typing replay's simulated users (bench/replay): where each asks, what each takes of a suggestion, and
how a run's figures are compared. Pure logic: a wrong decision here would skew every benchmark figure."""

from __future__ import annotations

import asyncio

from bench.replay.measure import Measure, TextTypist, replay
from bench.replay.report import headline, ratios, results
from bench.replay.tasks import Task
from bench.replay.users import ACCEPT_WORDS, TAB_OR_NOTHING, all_or_first_line, every_space_bracket_dot, right_words

BODY = "        if key in self._mapping:\n            self._remove(key)\n        return value\n"


def marked(body: str, points: list[int]) -> str:
    return "".join("|" + char if i in points else char for i, char in enumerate(body))


def test_issue_25s_user_asks_at_every_space_bracket_dot_and_indentation() -> None:
    assert marked(BODY, every_space_bracket_dot(BODY)) == (
        "        |if |key |in |self.|_mapping:\n            |self.|_remove(|key)\n        |return |value\n"
    )


def test_the_word_user_asks_after_every_third_word_and_at_new_lines() -> None:
    assert marked(BODY, ACCEPT_WORDS.pauses(BODY)) == (
        "        if key in| self._mapping:\n            |self._remove(key)|\n        |return value\n"
    )


def test_tab_or_nothing_takes_all_or_the_first_line_or_nothing() -> None:
    truth = "self._remove(key)\nreturn value\n"
    assert all_or_first_line("self._remove(key)\nreturn", truth) == "self._remove(key)\nreturn"  # all right
    assert all_or_first_line("self._remove(key)\nraise", truth) == "self._remove(key)"  # the first line right
    assert all_or_first_line("self._remove(k)", truth) == ""  # some words right, but not the line
    assert all_or_first_line("\nreturn value", truth) == ""  # an empty first line is nothing to take


def test_the_word_user_takes_the_right_words() -> None:
    truth = "self._remove(key)\nreturn value\n"
    assert right_words("self._remove(k)", truth) == "self._remove("  # up to the last whole right word
    assert right_words("self._remove(key)\nraise", truth) == "self._remove(key)\n"
    assert right_words("other", truth) == ""


def test_shown_nothing_taken_and_the_first_request_in_a_file_are_counted() -> None:
    task = Task("t", "def f(key, value):\n", "    return key\n", "")
    answers = iter(["pass", "key"])  # at the indentation: wrong; after "return ": right

    def ask(prefix: str, suffix: str) -> tuple[str, int]:
        return next(answers, ""), 0

    measure = Measure(TAB_OR_NOTHING)
    asyncio.run(replay(task, TextTypist(task, ask), measure))
    row = results({"tab-or-nothing": {"tabwise": measure}}, len(task.body))["users"]["tab-or-nothing"]
    assert measure.first == [True, False, False]  # after the accept the editor asks again
    assert row["systems"]["tabwise"]["shown_nothing_taken"] == 1
    assert row["systems"]["tabwise"]["chars_saved"] == 3


def test_the_headline_is_the_worse_user_model() -> None:
    by_user = {
        "a": {"median": 0.05, "p95": 0.6, "saved": 1.3, "shown_nothing_taken": None, "first_p95": 1.0},
        "b": {"median": 0.2, "p95": 0.4, "saved": 1.1, "shown_nothing_taken": 0.5, "first_p95": 0.5},
    }
    worst = headline(by_user, True)
    assert {figure: (row["ratio"], row["user"]) for figure, row in worst.items()} == {
        "median": (0.2, "b"),
        "p95": (0.6, "a"),
        "saved": (1.1, "b"),
        "shown_nothing_taken": (0.5, "b"),
        "first_p95": (1.0, "a"),
    }
    assert [worst[figure]["met"] for figure in ("median", "p95", "saved")] == [False, False, False]


def test_a_baseline_answered_from_its_own_cache_gives_no_latency_ratio_and_no_target_met() -> None:
    ours = {"median_ms": 900.0, "p95_ms": 2000.0, "chars_saved": 120, "shown_nothing_taken_per_request": 0.5}
    theirs = {"median_ms": 0.01, "p95_ms": 5000.0, "chars_saved": 100, "shown_nothing_taken_per_request": 0.5}
    row = ratios({**ours, "first_p95_ms": 1500.0}, {**theirs, "first_p95_ms": 15000.0})
    assert row["median"] is None and row["p95"] == 0.4 and row["first_p95"] == 0.1
    worst = headline({"a": row, "b": {**row, "median": 0.05}}, True)
    assert worst["median"]["ratio"] == 0.05 and worst["median"]["no_ratio"] == ["a"]
    assert not worst["median"]["met"] and worst["p95"]["met"]
