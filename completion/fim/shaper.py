"""The shaper: one suggestion shaped as the model writes it, every stage of completion/fim/shape.py in order.

Fed piece by piece, it drops the space the model doubled after one the user typed and a comment the model
appended to the user's line, says when a stop rule ends the suggestion, cuts it where the model stopped
being sure of what it wrote (completion/fim/confidence.py), what of the text stands on its own to be shown
now, and the final, cleaned text. Pure: no model, no clock, no job; the pipeline and the golden table drive
the same object.
"""

from __future__ import annotations

from collections.abc import Sequence

from completion.fim.confidence import SURE, Confidence, Written, confident_end
from completion.fim.plan import Plan
from completion.fim.shape import added_comment_end, clean_suggestion, complete_line, standing_end, stop_index
from completion.languages import LanguageRules
from completion.runtime import TokenLogprob
from completion.types import FimRequest


class Shaper:
    """The suggestion for one request, shaped while it is written."""

    def __init__(self, request: FimRequest, plan: Plan, rules: LanguageRules, confidence: Confidence = SURE) -> None:
        self._request, self._plan, self._rules, self._confidence = request, plan, rules, confidence
        self._line_before = request.prefix.rsplit("\n", 1)[-1]
        self._first_line = True  # the first line is not over yet: a comment appended to it may still go
        # the user just typed a space after code: the model's own leading space (` to` after `has `) would double it
        self._space_typed = self._line_before.endswith(" ") and bool(self._line_before.strip())
        self._start = 0  # where `text` begins in what the model wrote (past a dropped comment)
        self._logprobs: Sequence[TokenLogprob] = ()  # the generation's tokens so far (its own growing list)
        self._last_piece = 0  # where in `text` the last piece fed begins (a cut there may be mid-word)
        self.text = ""  # what the model wrote, less an appended comment and what a stop rule or doubt cut
        self.stopped = False  # a stop rule, or the model's doubt, ended the suggestion before the model did
        self.past_stop = ""  # what the model wrote past a stop rule's cut (its next line says why it stopped)

    def feed(self, piece: str, logprobs: Sequence[TokenLogprob] = ()) -> bool:
        """Add what the model wrote next, with the log-probabilities of its tokens so far; True once a stop
        rule or the model's doubt ends the suggestion (the rest is not wanted). A stop rule judges a line
        once it ends, so a half-written line is never cut by one."""
        self._last_piece = len(self.text)
        self.text += piece
        self._logprobs = logprobs
        if self._space_typed and self.text:
            self._drop_doubled_space()
        if self._first_line and "\n" in self.text:  # before anything of it is shown or followed
            self._drop_appended_comment()
        if "\n" in piece and (cut := self._stop_at(self.text)) is not None:
            self._stop(cut)
        self._cut_where_unsure()
        return self.stopped

    def standing(self) -> str | None:
        """What may be shown now: the longest run of whole lines that stands alone, cleaned; None if none."""
        stands = standing_end(self.text, self._line_before, self._rules, self._plan.closes)
        return None if stands is None else self._clean(self.text[:stands])

    def finish(self, cut: bool = False) -> str:
        """The whole suggestion once generation is over: its last line judged too, then cleaned. `cut`: a
        limit ended it (max tokens), not the model or a stop rule, so its last line is unfinished and only
        what stands is kept (whole lines that close what they open, or a first line the model closed)."""
        if self._first_line:
            self._drop_appended_comment()
        if (stop := self._stop_at(self.text + "\n")) is not None and stop < len(self.text):
            self._stop(stop)
        self._cut_where_unsure()
        return self._clean(self.text if not cut or self.stopped else self.text[: self._standing_when_cut()])

    def _standing_when_cut(self) -> int:
        """How much of a text a limit cut stands: its whole lines that stand alone, else a first line the model
        closed, else nothing."""
        stands = standing_end(self.text, self._line_before, self._rules, self._plan.closes)
        if stands is not None:
            return stands
        closed = complete_line(self.text, self._last_piece, self._line_before, self._rules, self._plan.closes)
        return len(self.text) if closed else 0

    def _drop_doubled_space(self) -> None:
        """Drop one leading space of what the model wrote after a space the user typed: the small model, asked
        after `has `, writes ` to be` as it would after `has` (its tokens carry their space), and a suggestion
        that doubles the space is wrong however right its words."""
        self._space_typed = False
        if self.text.startswith(" "):
            self.text, self._start = self.text[1:], self._start + 1
            self._last_piece = max(0, self._last_piece - 1)

    def _drop_appended_comment(self) -> None:
        dropped = added_comment_end(self.text, self._line_before, self._request.suffix, self._rules)
        self.text, self._start = self.text[dropped:], self._start + dropped
        self._last_piece = max(0, self._last_piece - dropped)
        self._first_line = False

    def _cut_where_unsure(self) -> None:
        """End the text where the model stopped being sure of it (not before an appended comment is judged:
        the comment's tokens are not the suggestion's)."""
        if not self._confidence.active or not self._logprobs:
            return
        if self._first_line and added_comment_end(self.text, self._line_before, self._request.suffix, self._rules):
            return
        written = Written(self.text, self._start, self._line_before, self._rules, self._plan.closes)
        if (end := confident_end(written, self._logprobs, self._confidence)) is not None:
            self.text, self.stopped, self.past_stop = self.text[:end], True, ""  # cut in doubt, not for a reason

    def _stop(self, cut: int) -> None:
        """A stop rule ends the suggestion at `cut`; what was written past it is kept aside."""
        self.text, self.past_stop, self.stopped = self.text[:cut], self.text[cut:], True

    def _stop_at(self, text: str) -> int | None:
        return stop_index(text, self._plan, self._line_before, self._request.suffix, self._rules)

    def _clean(self, text: str) -> str:
        return clean_suggestion(text, self._request.prefix, self._request.suffix, self._plan.max_indent)
