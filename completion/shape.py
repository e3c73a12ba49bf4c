"""Clean up what the model wrote before it is shown: pure functions of (text, request)."""

from __future__ import annotations


def rest_of_line(suffix: str) -> str:
    """The text after the cursor on the cursor's line."""
    return suffix.split("\n", 1)[0]


def next_code_line(suffix: str) -> str:
    """The first non-blank line after the cursor's line, stripped ("" if none)."""
    for line in suffix.split("\n")[1:]:
        if line.strip():
            return line.strip()
    return ""


def repeated_suffix_start(text: str, suffix: str) -> int | None:
    """Where the model began re-typing the suffix's next code line, or None.

    Models often run on past the hole and write the rest of the file again; this is checked while
    streaming, so generation stops there instead of running to max tokens.
    """
    following = next_code_line(suffix)
    if not following or "\n" not in text:
        return None
    offset = text.index("\n") + 1
    for line in text.split("\n")[1:]:
        if line.strip() == following:
            return offset - 1
        offset += len(line) + 1
    return None


def cut_repeated_suffix(text: str, suffix: str) -> str:
    """Drop what the model wrote again of the text that already follows the cursor: the next
    line of the file, or the rest of the cursor's line (a closing ")" that is already there)."""
    cut = repeated_suffix_start(text, suffix)
    if cut is not None:
        text = text[:cut]
    tail = rest_of_line(suffix).strip()
    if tail and "\n" not in text.rstrip() and text.rstrip().endswith(tail):
        text = text.rstrip()[: -len(tail)]
    return text


def clean_suggestion(text: str, suffix: str) -> str:
    """The final text to insert: suffix repeats cut, trailing blank lines and spaces dropped."""
    text = cut_repeated_suffix(text, suffix)
    if "\n" in text:
        text = text.rstrip()
    return text.rstrip(" \t") if rest_of_line(suffix).strip() else text
