"""What tabwise needs to know of a language's syntax, as data: node types and line conventions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageRules:
    """Node types (tree-sitter names) and line conventions of one language."""

    comment: str  # line comment prefix, for elision marks ("# ...")
    imports: frozenset[str] = frozenset()  # top-level statements that import
    definitions: frozenset[str] = frozenset()  # statements that define a named thing
    scopes: frozenset[str] = frozenset()  # definitions whose header frames the code inside them
    wrappers: frozenset[str] = frozenset()  # nodes that wrap a definition (decorators, export)
    comments: frozenset[str] = frozenset({"comment"})
    strings: frozenset[str] = frozenset({"string"})
    block_openers: tuple[str, ...] = ("{",)  # a line ending in one of these opens a block
    stop_words: tuple[str, ...] = ()  # a line starting with one of these at column 0 ends a completion
    # A line starting with one of these ends a completion anywhere: a chat-tuned model drifting into a
    # Markdown answer opens a fence.
    stop_lines: tuple[str, ...] = ("```",)
    # A line starting with one of these at the indentation of the line that opened a block goes on with
    # the same statement (`elif`, `else`), so the block's end does not end the completion there.
    clauses: tuple[str, ...] = ()
    # Indentation is syntax (the off-side rule): a line indented deeper than the code above allows is an
    # error, not a style.
    offside: bool = False


PLAIN_RULES = LanguageRules(comment="#")  # a language tabwise knows nothing of: plain line windows
