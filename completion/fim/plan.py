"""Decide what to ask the model for at a cursor: nothing, the rest of the line, or a block.

Decided before any model work, so a cursor where no completion fits costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from tree_sitter import Node, Tree

from completion.context.syntax import SyntaxCache, ancestors, node_text
from completion.languages import LanguageRules
from completion.types import FimRequest

AFTER_CURSOR = set(")]}>'\"`;,:") | {" ", "\t"}  # text after the cursor that still allows a completion
OPENERS, CLOSERS = "([{", ")]}"
STRINGS = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`")  # one-line string literals
BRACKETS_LOOKBACK_LINES = 80  # lines around the cursor searched for brackets open at it, closed below
MID_LINE_MAX_TOKENS = 24  # before closing brackets, only a short completion fits


class Mode(str, Enum):
    """How much the model may write."""

    NONE = "none"  # nothing fits here
    LINE = "line"  # the rest of the current line (or statement, while brackets are open), then maybe more
    BLOCK = "block"  # lines, until one is indented less than `min_indent`


@dataclass(frozen=True)
class Plan:
    """What to ask for at one cursor."""

    mode: Mode
    min_indent: int = 0  # columns: a written line indented less than this ends the completion (LINE: going on)
    max_tokens: int | None = None  # a cap tighter than the request's, or None
    # LINE at a line's end: once the statement is written, go on with the lines below it, down to the
    # body of the definition it is in (at top level: up to a blank line), while the time budget lasts.
    goes_on: bool = False
    # At a line's start where indentation is syntax: the deepest column the first line may start at (the
    # line above does not open a block), or None where any indentation may be right.
    max_indent: int | None = None
    reason: str = ""  # why nothing is asked for
    # Brackets open at the cursor that the code below does not close: the suggestion stands (may be shown
    # alone) only once it has closed them (brackets_to_close).
    closes: int = 0


def bracket_depth(code: str) -> int:
    """Open minus closed brackets, outside string literals."""
    code = STRINGS.sub("", code)
    return sum(code.count(c) for c in OPENERS) - sum(code.count(c) for c in CLOSERS)


def _code_of(line: str, rules: LanguageRules) -> str:
    """A line without its string literals and its line comment."""
    code = STRINGS.sub("", line)
    return code.split(rules.comment, 1)[0] if rules.comment else code


def brackets_to_close(prefix: str, suffix: str, rules: LanguageRules) -> int:
    """Brackets open at the cursor that the code after it does not close (the rest of its line, then the
    lines below that start with a closing bracket): a suggestion there is whole only once it closes them,
    as a dict's last entries come with its closing brace."""
    open_, pending = 0, 0  # scanning backwards: closers not yet matched by an opener
    for line in reversed(prefix.rsplit("\n", BRACKETS_LOOKBACK_LINES)):
        for char in reversed(_code_of(line, rules)):
            if char in CLOSERS:
                pending += 1
            elif char in OPENERS:
                open_, pending = (open_, pending - 1) if pending else (open_ + 1, pending)
    closed = sum(char in CLOSERS for char in _code_of(suffix.split("\n", 1)[0], rules))
    for line in suffix.split("\n", BRACKETS_LOOKBACK_LINES + 1)[1 : BRACKETS_LOOKBACK_LINES + 1]:
        code = _code_of(line, rules).strip()
        if not code:
            continue
        if code[0] not in CLOSERS:
            break
        closed += len(code) - len(code.lstrip(CLOSERS))
        if any(char in OPENERS for char in code):  # `} else {`: what follows is a new block
            break
    return max(0, open_ - closed)


def indent_of(line: str) -> int:
    """Columns of leading white space (a tab counts 4)."""
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(4))


def opens_block(line: str, rules: LanguageRules) -> bool:
    """True if a line ends with one of the language's block openers (comments ignored)."""
    code = line.split(f" {rules.comment}")[0].rstrip() if rules.comment else line.rstrip()
    return bool(code) and code.endswith(rules.block_openers)


def _tree(request: FimRequest, language: str, syntax: SyntaxCache) -> Tree | None:
    return syntax.parse(request.document or request.path, language, (request.prefix + request.suffix).encode("utf-8"))


def _in_comment(tree: Tree | None, offset: int, rules: LanguageRules) -> bool:
    """True if the cursor's byte `offset` is inside a comment."""
    if tree is None:
        return False
    node = tree.root_node.descendant_for_byte_range(max(offset - 1, 0), max(offset - 1, 0))
    for item in ancestors(node):
        if item.type in rules.comments and item.start_byte < offset <= item.end_byte:
            closed_before_cursor = item.end_byte == offset and (item.text or b"").endswith(b"*/")
            return not closed_before_cursor
    return False


def _in_brackets_or_string(tree: Tree | None, offset: int, rules: LanguageRules) -> bool:
    """True if the cursor's byte `offset` is inside an open bracket or a string (unknown without a tree: True)."""
    if tree is None:
        return True
    node = tree.root_node.descendant_for_byte_range(offset, offset)
    return any(
        item.start_byte < offset < item.end_byte
        and (item.type in rules.strings or (item.child_count > 0 and item.children[0].type in ("(", "[", "{")))
        for item in ancestors(node)
    )


def _scope_at(tree: Tree, offset: int, rules: LanguageRules) -> Node | None:
    """The innermost definition (function, class) around the byte just before `offset`."""
    node = tree.root_node.descendant_for_byte_range(max(offset - 1, 0), max(offset - 1, 0))
    return next((item for item in ancestors(node) if item.type in rules.scopes), None)


def _continued_indent(request: FimRequest, tree: Tree | None, rules: LanguageRules) -> int | None:
    """How far a hole in a definition may dedent: down to the next code line's indentation if that line
    is more of the definition the code above the cursor is in (a hole in the middle of a function) and
    not deeper than the cursor, else down to the definition's body (a hole at its end: the function is
    not over because a block is; a next line deeper than the cursor: the hole opens the block that line is
    in, maybe after closing the cursor's own); None outside a definition.

    Judged from the last code line above the cursor, because a cursor on a blank line after a function's
    last statement is, for the parser, already outside it. The definition's own closing line (`}`, `end`)
    is not more of it, nor is the next definition."""
    if tree is None:
        return None
    scope = _scope_at(tree, len(request.prefix.rsplit("\n", 1)[0].rstrip().encode("utf-8")), rules)
    if scope is None:
        return None
    below = request.suffix.split("\n")[1:]
    index = next((i for i, line in enumerate(below) if line.strip()), None)
    row = request.prefix.count("\n") + 1 + (index or 0)
    if index is not None and scope.end_point.row >= row:
        last = scope
        while last.child_count:
            last = last.children[-1]
        closing_line = last.start_point.row == row and below[index].strip() == node_text(last)
        cursor = indent_of(request.prefix.rsplit("\n", 1)[-1])
        if not closing_line and indent_of(below[index]) <= cursor:
            return indent_of(below[index])
    return _body_column(scope)


def _body_column(scope: Node) -> int | None:
    """The column of a definition's first statement (None for an empty body)."""
    body = scope.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    return first.start_point.column if first is not None else None


def _body_indent(tree: Tree | None, offset: int, line_before: str, rules: LanguageRules) -> int | None:
    """The indentation of the body of the definition around the cursor (at byte `offset`, after
    `line_before` on its line; None outside one or without a grammar): lines that go on after a statement
    may close its blocks down to there, not further. Judged at the line's last typed character: after
    `return ` at a method's end, the space is outside the method for the parser, and the floor would be
    the class body (the model then wrote the next method)."""
    typed = offset - (len(line_before) - len(line_before.rstrip(" \t")))  # spaces and tabs: a byte each
    scope = _scope_at(tree, typed, rules) if tree is not None else None
    return _body_column(scope) if scope is not None else None


def plan_completion(request: FimRequest, language: str, syntax: SyntaxCache, rules: LanguageRules) -> Plan:
    """The plan for `request` (language rules, syntax tree where there is a grammar)."""
    line_before = request.prefix.rsplit("\n", 1)[-1]
    rest = request.suffix.split("\n", 1)[0]
    if any(ch not in AFTER_CURSOR for ch in rest):
        return Plan(Mode.NONE, reason="text follows the cursor on its line")
    tree = _tree(request, language, syntax)
    cursor = len(request.prefix.encode("utf-8"))  # the cursor's byte offset, which the tree is indexed by
    if _in_comment(tree, cursor, rules):
        return Plan(Mode.NONE, reason="the cursor is in a comment")
    cap = MID_LINE_MAX_TOKENS if rest.strip() else None
    if line_before.strip():
        body = _body_indent(tree, cursor, line_before, rules)
        floor = min(indent_of(line_before), body if body is not None else indent_of(line_before))
        closes = brackets_to_close(request.prefix, request.suffix, rules)
        return Plan(Mode.LINE, min_indent=floor, max_tokens=cap, goes_on=not rest.strip(), closes=closes)
    previous = next((line for line in reversed(request.prefix.split("\n")[:-1]) if line.strip()), "")
    if previous and opens_block(previous, rules):
        scope = indent_of(previous) + 1
    elif line_before:  # the editor put the cursor at an indentation: that is the scope
        scope = indent_of(line_before)
    else:  # column 0 of an empty line: the scope of the code around it (the shallower of its neighbours)
        following = next((line for line in request.suffix.split("\n")[1:] if line.strip()), "")
        scope = min(indent_of(previous) if previous else 0, indent_of(following) if following else 0)
    continued = _continued_indent(request, tree, rules)
    deepest = indent_of(previous) if rules.offside and previous and not opens_block(previous, rules) else None
    if deepest is not None and _in_brackets_or_string(tree, cursor, rules):
        deepest = None  # a continuation line or a docstring: its indentation is free
    floor = min(scope, continued if continued is not None else scope)
    closes = brackets_to_close(request.prefix, request.suffix, rules)
    return Plan(Mode.BLOCK, min_indent=floor, max_tokens=cap, max_indent=deepest, closes=closes)
