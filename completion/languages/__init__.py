"""The languages tabwise knows: one `Language` entry each (suffixes, grammar, rules, imports).

`register` adds one; the rest of tabwise asks the registry (`language_of`, `rules_for`, `grammar_of`,
`imports_of`) and never branches on a language's name.
"""

from __future__ import annotations

from completion.languages.imports import Files, Imports
from completion.languages.registry import (
    Language,
    find,
    grammar_of,
    imports_of,
    language_of,
    languages,
    register,
    rules_for,
    unregister,
)
from completion.languages.rules import PLAIN_RULES, LanguageRules
from completion.languages.table import BUILTIN

for _language in BUILTIN:
    register(_language)

__all__ = [
    "PLAIN_RULES",
    "Files",
    "Imports",
    "Language",
    "LanguageRules",
    "find",
    "grammar_of",
    "imports_of",
    "language_of",
    "languages",
    "register",
    "rules_for",
    "unregister",
]
