"""Prompt templates as data: fill-in-the-middle formats per model family and the chat prompts.

The files beside this module are the templates; this module only loads them, so a new model family
or a better wording is a data change, not a code change.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class FimFormat:
    """How one model family spells a fill-in-the-middle prompt (all fields are str.format templates)."""

    name: str
    markers: tuple[str, ...]  # special tokens that identify the family in a vocabulary
    repo_form: bool  # other files before the current one (below); False: as a commented header in the prefix
    repo_header: str  # {repo}: opens the repository-level prompt, "" where the family has none
    context_file: str  # {path}, {text}: one other file (or chunk) shown before the current one
    current_file: str  # {path}: names the file being edited, just before the infill
    infill: str  # {prefix}, {suffix}
    stop: tuple[str, ...]  # strings that end a completion

    @property
    def infill_markers(self) -> tuple[str, str, str]:
        """The infill's text before the prefix, between prefix and suffix, and after the suffix: every
        family here orders them prefix-suffix-middle, so what follows the last is the middle so far."""
        opening, rest = self.infill.split("{prefix}")
        between, closing = rest.split("{suffix}")
        return opening, between, closing


@cache
def fim_formats() -> tuple[FimFormat, ...]:
    """All fill-in-the-middle formats shipped in prompts/fim, in a stable order."""
    folder = resources.files(__package__).joinpath("fim")
    formats = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            raw = tomllib.loads(entry.read_text(encoding="utf-8"))
            raw["markers"] = tuple(raw["markers"])
            raw["stop"] = tuple(raw["stop"])
            formats.append(FimFormat(**raw))
    return tuple(formats)


def fim_format(name: str) -> FimFormat:
    """The format called `name`; KeyError names the known ones."""
    for fmt in fim_formats():
        if fmt.name == name:
            return fmt
    known = ", ".join(f.name for f in fim_formats())
    raise KeyError(f"unknown FIM format {name!r} (known: {known})")


@cache
def chat_template(name: str) -> str:
    """The text of prompts/chat/<name>.md, a str.format template."""
    return resources.files(__package__).joinpath("chat", f"{name}.md").read_text(encoding="utf-8").strip()
