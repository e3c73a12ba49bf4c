"""The languages tabwise knows, one entry each, found by language id, alias or file suffix.

Everything that differs between languages (which grammar parses them, their node types and line
conventions, how their imports name files) is read from a language's entry, so adding a language is
one `register` call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePath

from completion.languages.imports import Imports
from completion.languages.rules import PLAIN_RULES, LanguageRules


@dataclass(frozen=True)
class Language:
    """One language: how to recognise its files and everything tabwise knows of its syntax."""

    id: str  # the language id as LSP clients name it ("python", "typescriptreact")
    suffixes: tuple[str, ...] = ()  # file suffixes, lower case with the dot (".py"); path -> this id
    aliases: tuple[str, ...] = ()  # other ids clients send for it ("bash" for "shellscript")
    grammar: str | None = None  # tree-sitter-language-pack grammar name; None: plain lines, no tree
    rules: LanguageRules = PLAIN_RULES
    imports: Imports | None = None  # how its imports resolve to workspace files; None: they do not
    root_markers: tuple[str, ...] = ()  # files that mark a project root ("pyproject.toml")


_by_name: dict[str, Language] = {}  # by id and by alias
_by_suffix: dict[str, Language] = {}
_lock = threading.Lock()  # registering is rare; lookups read the dicts without it


def register(language: Language) -> Language | None:
    """Add `language`, replacing an entry of the same id (returned, so a caller can put it back).

    Raises ValueError where an alias or suffix already belongs to another language."""
    with _lock:
        old = _by_name.get(language.id)
        old = old if old is not None and old.id == language.id else None
        for name in (language.id, *language.aliases):
            if _by_name.get(name, old) is not old:
                raise ValueError(f"{name!r} already names the language {_by_name[name].id!r}")
        for suffix in language.suffixes:
            if _by_suffix.get(suffix.lower(), old) is not old:
                raise ValueError(f"{suffix!r} is already a suffix of {_by_suffix[suffix.lower()].id!r}")
        if old is not None:
            _remove(old)
        _by_name.update(dict.fromkeys((language.id, *language.aliases), language))
        _by_suffix.update(dict.fromkeys((s.lower() for s in language.suffixes), language))
        return old


def unregister(language_id: str) -> None:
    """Forget the language of this id (its aliases and suffixes too)."""
    with _lock:
        language = _by_name.get(language_id)
        if language is not None and language.id == language_id:
            _remove(language)


def _remove(language: Language) -> None:
    for name in (language.id, *language.aliases):
        _by_name.pop(name, None)
    for suffix in language.suffixes:
        _by_suffix.pop(suffix.lower(), None)


def find(language: str) -> Language | None:
    """The entry for a language id or alias; None where tabwise does not know the language."""
    return _by_name.get(language)


def languages() -> list[Language]:
    """Every registered language, in the order registered."""
    with _lock:
        return list(dict.fromkeys(_by_name.values()))


def language_of(path: str) -> str:
    """The language id for `path` by its suffix; "" when unknown (the engine still completes it)."""
    language = _by_suffix.get(PurePath(path).suffix.lower())
    return language.id if language is not None else ""


def rules_for(language: str) -> LanguageRules:
    """Rules for a language id; unknown languages get plain rules (plain line windows)."""
    entry = _by_name.get(language)
    return entry.rules if entry is not None else PLAIN_RULES


def grammar_of(language: str) -> str | None:
    """The tree-sitter grammar name for a language id, or None where tabwise has no grammar for it."""
    entry = _by_name.get(language)
    return entry.grammar if entry is not None else None


def imports_of(language: str) -> Imports | None:
    """How a language's imports resolve to workspace files; None where they do not."""
    entry = _by_name.get(language)
    return entry.imports if entry is not None else None
