"""Code context for a completion: what of this file and of the workspace the model should see.

Gathered from syntax trees, in a stable order so that llama.cpp's prefix reuse holds while typing:
names are taken from the lines around the cursor but not from the line being typed, so the context
changes only when a line is finished or the cursor moves elsewhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tree_sitter import Node, Tree

from completion.bounded import BoundedDict
from completion.context.outline import Outline, enclosing_scopes, identifiers, outline, signature
from completion.context.syntax import SyntaxCache, node_text
from completion.context.workspace import Workspace
from completion.languages import Imports, LanguageRules, imports_of, language_of, rules_for
from completion.types import ContextFile, FimRequest

NEAR_LINES_ABOVE = 60  # names used this close above the cursor are looked up
NEAR_LINES_BELOW = 20
MAX_FILE_DEFINITIONS = 12  # definitions shown per other file
MAX_SAME_FILE_DEFINITIONS = 12  # definitions of this file offered for the folded view, nearest first
OUTLINE_CACHE = 64  # outlines of other files kept (they change rarely while one file is edited)
RESOLVED_CACHE = 1024  # import statements resolved to files


@dataclass(frozen=True)
class Snippet:
    """A piece of the current file that may be shown above the prefix window."""

    line: int  # 0-based first line in the document
    end_line: int  # 0-based last line
    text: str
    rank: int  # lower is more important: 0 enclosing scope, 1 imports, 2 referenced definition


@dataclass(frozen=True)
class CodeContext:
    """What a prompt may show besides the text around the cursor."""

    snippets: tuple[Snippet, ...] = ()  # same file, by rank then position
    files: tuple[ContextFile, ...] = ()  # other files, in a stable order
    comment: str = "#"  # the language's line comment, for elision marks


def _cursor_offsets(request: FimRequest) -> tuple[bytes, int, int]:
    """The document as bytes, the cursor's byte offset, and the start of the cursor's line."""
    before = request.prefix.encode("utf-8")
    data = before + request.suffix.encode("utf-8")
    return data, len(before), before.rfind(b"\n") + 1


class ContextGatherer:
    """Gathers CodeContext for requests; keeps parse trees and outlines between keystrokes."""

    def __init__(self, workspace: Workspace | None = None, syntax: SyntaxCache | None = None) -> None:
        self.workspace = workspace or Workspace()
        self.syntax = syntax or SyntaxCache()
        self._outlines: BoundedDict[tuple[str, int], Outline] = BoundedDict(OUTLINE_CACHE)
        # import statements resolved to files, by (file, import, version)
        self._resolved: BoundedDict[tuple[str, str, int], list[str]] = BoundedDict(RESOLVED_CACHE)
        self._lock = threading.Lock()

    def gather(self, request: FimRequest, language: str) -> CodeContext:
        """The context for `request`; plain (no snippets, recent chunks only) without a grammar."""
        rules = rules_for(language)
        data, cursor, line_start = _cursor_offsets(request)
        tree = self.syntax.parse(request.document or request.path, language, data)
        recent = tuple(ContextFile(c.path, c.text) for c in self.workspace.recent_chunks(exclude=request.path))
        if tree is None:
            return CodeContext((), (*request.context_files, *recent), rules.comment)
        line_end = _line_end(data, cursor)
        near_start, near_end = (
            _lines_before(data, line_start, NEAR_LINES_ABOVE),
            _lines_after(data, line_end, NEAR_LINES_BELOW),
        )
        names = identifiers(tree, language, near_start, line_start) | identifiers(tree, language, line_end, near_end)
        own = outline(tree, data, rules)
        snippets = self._snippets(tree, data, cursor, own, names, rules)
        files = self._imported(request.path, own, names, language)
        return CodeContext(snippets, (*request.context_files, *files, *recent), rules.comment)

    def _snippets(
        self, tree: Tree, data: bytes, cursor: int, own: Outline, names: set[str], rules: LanguageRules
    ) -> tuple[Snippet, ...]:
        found: list[Snippet] = []
        scopes = enclosing_scopes(tree, data, cursor, rules)
        for scope in scopes:
            header = signature(scope, rules, data).split("\n")
            body = _body_of(scope, rules)
            header_lines = (body.start_point.row if body is not None else scope.end_point.row) - scope.start_point.row
            found.append(_snippet(scope, "\n".join(header[: max(header_lines, 1)]), 0))
        if own.imports:
            first, last = own.imports[0], own.imports[-1]
            text = data[first.start_byte : last.end_byte].decode("utf-8", errors="replace")
            found.append(Snippet(first.start_point.row, last.end_point.row, text, 1))
        inside = {(s.start_byte, s.end_byte) for s in scopes}
        used = [d for d in own.named(names) if (d.start, d.end) not in inside]
        used.sort(key=lambda d: abs(d.start - cursor))  # only the nearest can fit: make only their signatures
        for definition in used[:MAX_SAME_FILE_DEFINITIONS]:
            node = definition.node
            found.append(Snippet(node.start_point.row, node.end_point.row, definition.signature, 2))
        return tuple(found)

    def _imported(self, path: str, own: Outline, names: set[str], language: str) -> list[ContextFile]:
        """How to call what the file imports from the workspace: the names it imports by name (`from x
        import a`) and those used near the cursor, from each file it imports; files with names used near
        the cursor first, and those names first in them (the prompt keeps what fits its budget)."""
        imports = imports_of(language)
        if imports is None:
            return []
        near: list[ContextFile] = []
        rest: list[ContextFile] = []
        seen: set[str] = {path}
        for statement in own.imports:
            imported = imports.names(statement)
            for target in self._resolve_cached(path, statement, imports):
                if target in seen:
                    continue
                seen.add(target)
                other = self._outline_of(target, language)
                if other is None:
                    continue
                top = [d for d in other.definitions if d.top_level]
                used = [d for d in top if d.name in names]
                chosen = (used + [d for d in top if d.name in imported and d.name not in names])[:MAX_FILE_DEFINITIONS]
                if chosen:
                    (near if used else rest).append(ContextFile(target, "\n\n".join(d.interface for d in chosen)))
        return near + rest

    def _resolve_cached(self, path: str, statement: Node, imports: Imports) -> list[str]:
        """Files an import statement refers to; remembered, since imports rarely change while typing."""
        key = (path, node_text(statement), self.workspace.version)
        with self._lock:
            if key in self._resolved:
                return self._resolved[key]
        targets = imports.resolve(self.workspace, path, statement)
        with self._lock:
            self._resolved[key] = targets
        return targets

    def _outline_of(self, path: str, language: str) -> Outline | None:
        text = self.workspace.read(path)
        if text is None:
            return None
        key = (path, hash(text))
        with self._lock:
            if key in self._outlines:
                self._outlines.move_to_end(key)
                return self._outlines[key]
        other_language = language_of(path) or language
        data = text.encode("utf-8")
        tree = self.syntax.parse("outline:" + path, other_language, data)
        if tree is None:
            return None
        result = outline(tree, data, rules_for(other_language))
        with self._lock:
            self._outlines[key] = result
        return result


def _line_end(data: bytes, offset: int) -> int:
    """Byte offset of the end of the line holding `offset`."""
    end = data.find(b"\n", offset)
    return len(data) if end < 0 else end


def _lines_before(data: bytes, line_start: int, lines: int) -> int:
    """Byte offset of the start of the line `lines` lines above the one starting at `line_start`."""
    offset = line_start
    for _ in range(lines):
        if offset == 0:
            break
        offset = data.rfind(b"\n", 0, offset - 1) + 1
    return offset


def _lines_after(data: bytes, line_end: int, lines: int) -> int:
    """Byte offset of the end of the line `lines` lines below the one ending at `line_end`."""
    offset = line_end
    for _ in range(lines):
        if offset >= len(data):
            break
        offset = _line_end(data, offset + 1)
    return offset


def _body_of(node: Node, rules: LanguageRules) -> Node | None:
    inner = node
    if node.type in rules.wrappers:
        inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration") or node
    return inner.child_by_field_name("body")


def _snippet(node: Node, text: str, rank: int) -> Snippet:
    return Snippet(node.start_point.row, node.end_point.row, text, rank)
