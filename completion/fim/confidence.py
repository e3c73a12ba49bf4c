"""How much of a suggestion the model itself is sure of, from its own token probabilities.

A small model writes a right line and then guesses, or guesses from the first token on; a wrong suggestion
shown costs the user a read and a dismissal. Where the runtime gives each token's log-probability (llama.cpp
in process, llama-server's `n_probs`, OpenAI's `logprobs`), a suggestion is held back whose beginning (its
first HOLD_TOKENS tokens of code) the model finds unlikely, and cut past them before the first token it was
unsure of: at the end of the last whole line before it that stands alone, or, within the first line, at the
last word's end where the text stands (completion/fim/shape.py `standing_end`: no bracket or string left
open). The hold judges a beginning, not the whole first line: a product of probabilities falls with every
token, so a long line would be held however sure its start (`df["` -> `region"] = df["region"].str...`).
Pure: text and numbers in, an index out; the shaper applies it as the model writes. Thresholds:
EngineConfig, calibrated by bench/calibrate_confidence.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from completion.config import EngineConfig
from completion.fim.shape import standing_end
from completion.languages import LanguageRules
from completion.runtime import TokenLogprob

HOLD_TOKENS = 3  # of code, judged by the hold: on the calibration 1 hid too few, the whole first line too many


@dataclass(frozen=True)
class Confidence:
    """The thresholds, as probabilities; 0 turns a rule off."""

    hold: float = 0.0  # the beginning's probability (its tokens' product) below which nothing is shown
    cut: float = 0.0  # a token less probable than this ends the suggestion before it

    @classmethod
    def of(cls, config: EngineConfig) -> Confidence:
        return cls(config.confidence_hold, config.confidence_cut)

    @property
    def active(self) -> bool:
        return self.hold > 0 or self.cut > 0


SURE = Confidence()  # no rule: everything the model wrote is shown (the golden table, a runtime without them)


@dataclass(frozen=True)
class Written:
    """A suggestion as the shaper holds it, and where it sits in what the model wrote."""

    text: str  # the shaper's text: what the model wrote from `start` on, less what a stop rule cut
    start: int  # where `text` begins in the generated text (past an appended comment the shaper dropped)
    line_before: str  # the cursor's line before the cursor
    rules: LanguageRules
    closes: int = 0  # brackets open at the cursor that nothing below closes (the plan's)


def confident_end(written: Written, logprobs: Sequence[TokenLogprob], confidence: Confidence) -> int | None:
    """Where to end `written.text` so that only what the model was sure of is shown: 0 to hold it all back,
    None to keep all of it (so far: called again as the model writes, each time on all of it)."""
    if not confidence.active or not logprobs:
        return None
    code = len(written.text) - len(written.text.lstrip())
    beginning = _beginning_end(written, logprobs, code)
    if _logprob_between(logprobs, written.start, written.start + beginning) < _log(confidence.hold):
        return 0  # a product of probabilities only falls as the text goes on: decided at once
    unsure = unsure_at(logprobs, written.start + beginning, confidence.cut)  # past the beginning: the hold's
    if unsure is None or unsure - written.start > len(written.text):
        return None  # none, past what is kept (a stop rule cut before it), or its text has not come yet
    return _cut_before(written, unsure - written.start)


def unsure_at(logprobs: Sequence[TokenLogprob], start: int, cut: float) -> int | None:
    """Where in the generated text the first token at or past `start` that is less probable than `cut`
    begins; None if there is none."""
    floor, begin = _log(cut), 0
    for token in logprobs:
        if begin >= start and token.logprob < floor:
            return begin
        begin = token.end
    return None


def _logprob_between(logprobs: Sequence[TokenLogprob], start: int, end: int) -> float:
    """The sum of the log-probabilities of the tokens that begin in [start, end) of the generated text."""
    total, begin = 0.0, 0
    for token in logprobs:
        if start <= begin < end:
            total += token.logprob
        begin = token.end
    return total


def _beginning_end(written: Written, logprobs: Sequence[TokenLogprob], code: int) -> int:
    """Where the beginning the hold judges ends in `written.text`: after its first HOLD_TOKENS tokens that
    hold code, within the first line that has code (all written so far, while they have not come)."""
    ends = [token.end - written.start for token in logprobs if token.end - written.start > code]
    return min(_first_line_end(written.text), ends[HOLD_TOKENS - 1] if len(ends) >= HOLD_TOKENS else len(written.text))


def _first_line_end(text: str) -> int:
    """The end of the first line that has code in it (a suggestion may begin with the end of the cursor's
    line); the text's length while that line is still being written."""
    offset = 0
    for line in text.split("\n"):
        offset += len(line)
        if line.strip():
            return offset
        offset += 1
    return len(text)


def _cut_before(written: Written, unsure: int) -> int:
    """The end of the last whole line before `unsure` that stands alone; within the first line, the last
    word's end before it where the text stands; 0 where nothing does."""
    text = written.text[:unsure]
    if (lines := standing_end(text, written.line_before, written.rules, written.closes)) is not None:
        return lines
    if _first_line_end(text) < len(text):
        return 0  # past the first line, and no whole line before it stands
    for end in range(len(text), 0, -1):
        if _in_word(written.text, end) or text[end - 1].isspace():  # the unsure token may begin mid-word
            continue
        if standing_end(text[:end] + "\n", written.line_before, written.rules, written.closes) == end:
            return end
    return 0


def _in_word(text: str, end: int) -> bool:
    """True if `end` splits a word (or a number) of `text`."""
    return end < len(text) and _word_char(text[end - 1]) and _word_char(text[end])


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _log(probability: float) -> float:
    return math.log(probability) if probability > 0 else -math.inf
