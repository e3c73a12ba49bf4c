"""The shaper: one suggestion shaped as the model writes it, every stage of completion/fim/shape.py in order.

Fed piece by piece, it drops a comment the model appended to the user's line, says when a stop rule ends
the suggestion, what of the text stands on its own to be shown now, and the final, cleaned text. Pure:
no model, no clock, no job; the pipeline and the golden table drive the same object.
"""

from __future__ import annotations

from completion.fim.plan import Plan
from completion.fim.shape import added_comment_end, clean_suggestion, complete_line, standing_end, stop_index
from completion.languages import LanguageRules
from completion.types import FimRequest


class Shaper:
    """The suggestion for one request, shaped while it is written."""

    def __init__(self, request: FimRequest, plan: Plan, rules: LanguageRules) -> None:
        self._request, self._plan, self._rules = request, plan, rules
        self._line_before = request.prefix.rsplit("\n", 1)[-1]
        self._first_line = True  # the first line is not over yet: a comment appended to it may still go
        self.text = ""  # what the model wrote, less an appended comment and what a stop rule cut
        self.stopped = False  # a stop rule ended the suggestion before the model did
        self._last_piece = 0  # where in `text` the last piece fed begins (a cut there may be mid-word)

    def feed(self, piece: str) -> bool:
        """Add what the model wrote next; True once a stop rule ends the suggestion (the rest is not wanted).
        A line is judged once it ends, so a half-written line is never cut."""
        self._last_piece = len(self.text)
        self.text += piece
        if self._first_line and "\n" in self.text:  # before anything of it is shown or followed
            self._drop_appended_comment()
        if "\n" in piece and (cut := self._stop_at(self.text)) is not None:
            self.text, self.stopped = self.text[:cut], True
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
            self.text, self.stopped = self.text[:stop], True
        return self._clean(self.text if not cut or self.stopped else self.text[: self._standing_when_cut()])

    def _standing_when_cut(self) -> int:
        """How much of a text a limit cut stands: its whole lines that stand alone, else a first line the model
        closed, else nothing."""
        stands = standing_end(self.text, self._line_before, self._rules, self._plan.closes)
        if stands is not None:
            return stands
        closed = complete_line(self.text, self._last_piece, self._line_before, self._rules, self._plan.closes)
        return len(self.text) if closed else 0

    def _drop_appended_comment(self) -> None:
        dropped = added_comment_end(self.text, self._line_before, self._request.suffix, self._rules)
        self.text, self._last_piece = self.text[dropped:], max(0, self._last_piece - dropped)
        self._first_line = False

    def _stop_at(self, text: str) -> int | None:
        return stop_index(text, self._plan, self._line_before, self._request.suffix, self._rules)

    def _clean(self, text: str) -> str:
        return clean_suggestion(text, self._request.prefix, self._request.suffix, self._plan.max_indent)
