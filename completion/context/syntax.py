"""Parsing with tree-sitter: a parser per language (the grammar its registry entry names), and
incremental re-parsing per document.

A keystroke changes a few bytes of a document; re-parsing it with the old tree, edited to match,
costs a fraction of a full parse. Documents without a grammar get no tree, and every user of this
module then falls back to plain lines.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

from tree_sitter import Node, Parser, Point, Tree

from completion.bounded import BoundedDict
from completion.languages import grammar_of

MAX_CACHED_DOCUMENTS = 32  # parsed documents kept for incremental re-parsing


def parser_for(language: str) -> Parser | None:
    """A parser for the language id, or None where tabwise has no grammar for it."""
    grammar = grammar_of(language)
    return None if grammar is None else _parser(language, grammar)


@cache
def _parser(language: str, grammar: str) -> Parser:
    """One parser per language id (as registered with this grammar)."""
    from tree_sitter_language_pack import get_parser

    return get_parser(grammar)  # type: ignore[arg-type]


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix, by binary search on slices (memcmp, not a Python loop)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the common suffix, at most `limit` bytes."""
    low, high = 0, limit
    while low < high:
        mid = (low + high + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            low = mid
        else:
            high = mid - 1
    return low


def _point(data: bytes, offset: int) -> Point:
    """Row and byte column of a byte offset."""
    row = data.count(b"\n", 0, offset)
    return Point(row, offset - (data.rfind(b"\n", 0, offset) + 1))


@dataclass
class _Parsed:
    data: bytes
    tree: Tree


class SyntaxCache:
    """The last tree of each recent document, re-parsed incrementally on change; thread-safe."""

    def __init__(self) -> None:
        self._documents: BoundedDict[tuple[str, str], _Parsed] = BoundedDict(MAX_CACHED_DOCUMENTS)
        self._lock = threading.Lock()

    def parse(self, key: str, language: str, data: bytes) -> Tree | None:
        """The tree of `data` (UTF-8 bytes); None if the language has no grammar."""
        parser = parser_for(language)
        if parser is None:
            return None
        with self._lock:
            slot = (key, language)
            old = self._documents.pop(slot, None)
            if old is not None and old.data == data:
                tree = old.tree
            elif old is not None:
                tree = parser.parse(data, _edited(old, data))
            else:
                tree = parser.parse(data)
            self._documents[slot] = _Parsed(data, tree)
            return tree

    def forget(self, key: str) -> None:
        """Drop a closed document."""
        with self._lock:
            for slot in [s for s in self._documents if s[0] == key]:
                del self._documents[slot]


def _edited(old: _Parsed, new: bytes) -> Tree:
    """The old tree, edited to describe `new` (one changed span)."""
    start = _common_prefix(old.data, new)
    tail = _common_suffix(old.data, new, min(len(old.data), len(new)) - start)
    old_end, new_end = len(old.data) - tail, len(new) - tail
    tree = old.tree.copy()
    tree.edit(start, old_end, new_end, _point(old.data, start), _point(old.data, old_end), _point(new, new_end))
    return tree


def node_text(node: Node) -> str:
    """The source text of a node."""
    return (node.text or b"").decode("utf-8", errors="replace")


def ancestors(node: Node | None) -> list[Node]:
    """`node` and its ancestors, innermost first."""
    chain: list[Node] = []
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain
