"""Clean-up of what the model wrote."""

from __future__ import annotations

from completion.shape import clean_suggestion, cut_repeated_suffix, repeated_suffix_start


def test_retyped_next_line_is_cut() -> None:
    suffix = "\n\nprint(add(1, 2))\n"
    assert cut_repeated_suffix("a + b\n\nprint(add(1, 2))\nmore", suffix) == "a + b\n"
    assert repeated_suffix_start("a + b\n\nprint(add(1, 2))", suffix) == 6


def test_streaming_check_ignores_the_first_line() -> None:
    # The cursor's own line may legitimately equal the next line of the file.
    assert repeated_suffix_start("print(x)", "\nprint(x)\n") is None


def test_closing_bracket_already_after_the_cursor_is_dropped() -> None:
    assert cut_repeated_suffix("a, b)", ")") == "a, b"
    assert clean_suggestion("a, b)", ")\nx = 1\n") == "a, b"


def test_multiline_suggestion_loses_trailing_blank_lines() -> None:
    assert clean_suggestion("if x:\n    y()\n\n", "\n") == "if x:\n    y()"


def test_text_unrelated_to_the_suffix_is_kept() -> None:
    assert clean_suggestion("total += price", "\nreturn total\n") == "total += price"
