"""The shaper: one suggestion shaped as the model writes it, every stage of completion/fim/shape.py in order.

Fed piece by piece, it drops a comment the model appended to the user's line, says when a stop rule ends
the suggestion, what of the text stands on its own to be shown now, and the final, cleaned text. Pure:
no model, no clock, no job; the pipeline and the golden table drive the same object.
"""

from __future__ import annotations

from completion.fim.plan import Plan
from completion.fim.shape import added_comment_end, clean_suggestion, standing_end, stop_index
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

    def feed(self, piece: str) -> bool:
        """Add what the model wrote next; True once a stop rule ends the suggestion (the rest is not wanted).
        A line is judged once it ends, so a half-written line is never cut."""
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

    def as_written(self) -> str:
        """All written so far, cleaned, whatever its last line: for a line that never ends."""
        return self._clean(self.text)

    def finish(self) -> str:
        """The whole suggestion once the model stopped writing: its last line judged too, then cleaned."""
        if self._first_line:
            self._drop_appended_comment()
        if (cut := self._stop_at(self.text + "\n")) is not None and cut < len(self.text):
            self.text, self.stopped = self.text[:cut], True
        return self._clean(self.text)

    def _drop_appended_comment(self) -> None:
        self.text = self.text[added_comment_end(self.text, self._line_before, self._request.suffix, self._rules) :]
        self._first_line = False

    def _stop_at(self, text: str) -> int | None:
        return stop_index(text, self._plan, self._line_before, self._request.suffix, self._rules)

    def _clean(self, text: str) -> str:
        return clean_suggestion(text, self._request.prefix, self._request.suffix, self._plan.max_indent)
