"""Language rules, as the FIM stages have always imported them; they live in `completion.languages`."""

from __future__ import annotations

from completion.languages import LanguageRules, rules_for

__all__ = ["LanguageRules", "rules_for"]
