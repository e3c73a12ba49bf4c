"""Keeping <think> text apart from answers, however the stream is cut into pieces."""

from __future__ import annotations

import pytest

from completion.chat.think import ThinkSplitter
from completion.types import ChunkKind


def split(pieces: list[str], **mode: bool) -> tuple[str, str]:
    splitter = ThinkSplitter(**mode)
    chunks = [c for p in pieces for c in splitter.feed(p)] + splitter.finish()
    reasoning = "".join(c.text for c in chunks if c.kind is ChunkKind.REASONING)
    answer = "".join(c.text for c in chunks if c.kind is ChunkKind.ANSWER)
    return reasoning, answer


TEXT = "<think>\nweigh it up\n</think>\n\nThe answer is 42."


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 100])
def test_tags_split_across_pieces(size: int) -> None:
    pieces = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    assert split(pieces, reasoning=True) == ("\nweigh it up\n", "The answer is 42.")


def test_prompt_that_opened_think_already() -> None:
    assert split(["hmm</thi", "nk>\n\nYes."], reasoning=True, starts_inside=True) == ("hmm", "Yes.")


def test_reasoning_model_that_skips_thinking() -> None:
    assert split(["Direct ", "answer."], reasoning=True) == ("", "Direct answer.")


def test_plain_model_passes_tags_through_as_text() -> None:
    assert split(["Use <think> tags."], reasoning=False) == ("", "Use <think> tags.")


def test_unfinished_thinking_stays_reasoning() -> None:
    assert split(["<think>still going </th"], reasoning=True) == ("still going </th", "")
