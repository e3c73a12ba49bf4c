"""The simulated users: when each asks for a suggestion, how fast it types, and what it takes of what it is
shown. Pure functions of the text, so a change to the engine is judged on more than one way of working (a
change tuned to one user moved the other the wrong way: issue 25)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class UserModel:
    """One way of working with suggestions; after anything is taken the editor asks again at the new cursor."""

    name: str
    key_s: float  # seconds between keystrokes
    pauses: Callable[[str], list[int]]  # body -> offsets where the user stops and asks (the text before typed)
    take: Callable[[str, str], str]  # (suggestion, what the user types next) -> the start of it the user takes
    about: str  # one line for the report


def right_chars(suggestion: str, truth: str) -> int:
    """Characters of `suggestion` that match what the user types next."""
    count = 0
    for got, want in zip(suggestion, truth, strict=False):
        if got != want:
            break
        count += 1
    return count


def indentations(body: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each line's leading spaces in `body`, the first line's too."""
    starts = [0, *(i + 1 for i, char in enumerate(body) if char == "\n")]
    return [(start, len(body) - len(body[start:].lstrip(" "))) for start in starts]


def every_third_word(body: str, every: int = 3) -> list[int]:
    """After every `every`-th word (before a space, bracket or line end), and at each new line's indentation
    (not the first line's: the user starts typing the body without asking)."""
    words = [i for i in range(1, len(body)) if body[i] in " \n(" and body[i - 1] not in " \n("]
    lines = {end for _, end in indentations(body)[1:] if end < len(body)}
    return sorted(set(words[every - 1 :: every]) | lines)


def every_space_bracket_dot(body: str) -> list[int]:
    """Right after each space, `(` and `.` typed (not the spaces of a line's indentation: an editor indents a
    new line at once), and at each line's indentation, the first line's too."""
    spans = indentations(body)
    indented = {i for start, end in spans for i in range(start, end)}
    typed = {i + 1 for i, char in enumerate(body[:-1]) if char in " (." and i not in indented}
    return sorted(typed | {end for _, end in spans if 0 < end < len(body)})


def right_words(suggestion: str, truth: str) -> str:
    """All of `suggestion` with Tab when all of it is right, else its right start up to the end of a word
    (VS Code's accept-next-word); "" when that is only white space."""
    count = right_chars(suggestion, truth)
    if count < len(suggestion):
        while 0 < count < len(truth) and _in_word(truth[count - 1]) and _in_word(truth[count]):
            count -= 1  # the last word is not all right: it is not taken
    return truth[:count] if truth[:count].strip() else ""


def all_or_first_line(suggestion: str, truth: str) -> str:
    """All of `suggestion` (Tab) when all of it is right, else its first line (llama.vscode's Shift+Tab) when
    that line is right; nothing otherwise: this user never picks words out of a suggestion."""
    first = suggestion.split("\n", 1)[0]
    taken = suggestion if truth.startswith(suggestion) else first if truth.startswith(first) else ""
    return taken if taken.strip() else ""


def _in_word(char: str) -> bool:
    return char.isalnum() or char == "_"


ACCEPT_WORDS = UserModel(
    "accept-words",
    0.1,
    every_third_word,
    right_words,
    "100 ms a key, asks after every third word and at a new line's indentation, takes the right words",
)
TAB_OR_NOTHING = UserModel(
    "tab-or-nothing",
    0.08,
    every_space_bracket_dot,
    all_or_first_line,
    "80 ms a key, asks at every space, ( and . and at a new line's indentation, takes all or the first line",
)
USER_MODELS = {user.name: user for user in (ACCEPT_WORDS, TAB_OR_NOTHING)}
