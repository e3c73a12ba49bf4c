"""A file's outline from its syntax tree: imports, definitions and their signatures.

Signatures are what a model needs to call something correctly (the header, a docstring, a class's
method headers), in a fraction of the tokens of the whole definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property

from tree_sitter import Node, Query, QueryCursor, Tree

from completion.context.syntax import node_text
from completion.languages import LanguageRules, grammar_of

SHORT_DEFINITION_LINES = 3  # a definition this short is shown whole
MAX_SIGNATURE_LINES = 24  # a class outline is cut after this many lines
MAX_INTERFACE_LINES = 12  # lines of another file's class shown (its constructor and first methods)
ASSIGNMENTS = frozenset({"assignment", "expression_statement"})
# Node kinds that name things, in the grammars that have them (module.func() names func too).
NAME_KINDS = ("identifier", "type_identifier", "property_identifier", "field_identifier", "constant")


@dataclass(eq=False)
class Definition:
    """A named definition in a file; its signature is made only when it is shown."""

    name: str
    start: int  # byte offsets in the file
    end: int
    node: Node
    rules: LanguageRules
    data: bytes
    top_level: bool = True  # module-level (what other files can import), not a class's method

    @cached_property
    def signature(self) -> str:
        """What to show the model instead of the whole definition."""
        return signature(self.node, self.rules, self.data)

    @cached_property
    def interface(self) -> str:
        """What another file needs to call it (see `interface`)."""
        return interface(self.node, self.rules, self.data)


@dataclass(frozen=True)
class Outline:
    """Imports and definitions of one file, in file order."""

    imports: tuple[Node, ...]
    definitions: tuple[Definition, ...]

    def named(self, names: set[str]) -> list[Definition]:
        """The definitions of `names`, in file order."""
        return [d for d in self.definitions if d.name in names]


def _inner(node: Node, rules: LanguageRules) -> Node:
    """The definition inside a wrapper (decorated_definition, export_statement), else the node."""
    if node.type in rules.wrappers:
        inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration")
        if inner is not None:
            return inner
        named = [c for c in node.named_children if c.type in rules.definitions]
        return named[0] if named else node
    return node


def definition_name(node: Node) -> str | None:
    """The defined name of a definition node, or of a simple `NAME = value` assignment."""
    name = node.child_by_field_name("name")
    if name is not None:
        return node_text(name)
    if node.type in ("lexical_declaration", "variable_declaration"):
        declarator = next((c for c in node.named_children if c.type == "variable_declarator"), None)
        return definition_name(declarator) if declarator is not None else None
    if node.type == "type_declaration":  # Go: type X struct {...}
        spec = next((c for c in node.named_children if c.type == "type_spec"), None)
        return definition_name(spec) if spec is not None else None
    if node.type == "expression_statement" and node.named_children:
        return definition_name(node.named_children[0])
    if node.type == "assignment":
        left = node.child_by_field_name("left")
        return node_text(left) if left is not None and left.type == "identifier" else None
    return None


def _docstring(body: Node | None) -> str:
    """A Python docstring: the first statement of the body when it is a string."""
    if body is None or not body.named_children:
        return ""
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children:
        first = first.named_children[0]
    return node_text(first) if first.type == "string" else ""


def signature(node: Node, rules: LanguageRules, data: bytes) -> str:
    """The header of a definition (and its docstring, and for classes its members' headers), indented
    as in the file."""
    wrapper, node = node, _inner(node, rules)
    lead = " " * wrapper.start_point.column
    text = lead + data[wrapper.start_byte : wrapper.end_byte].decode("utf-8", errors="replace")
    if text.count("\n") < SHORT_DEFINITION_LINES:
        return text
    body = node.child_by_field_name("body")
    if body is None:  # a long assignment or declaration: its first line
        return text.split("\n", 1)[0] + f" {rules.comment} ..."
    header = lead + data[wrapper.start_byte : body.start_byte].decode("utf-8", errors="replace").rstrip()
    braces = body.text is not None and body.text.startswith(b"{")
    indent = lead + "    "
    lines = [header + " {" if braces else header]
    doc = _docstring(body)
    if doc:
        lines.append(indent + doc)
    members = [c for c in body.named_children if _inner(c, rules).type in rules.definitions]
    for member in members:
        lines.extend(signature(member, rules, data).split("\n")[:3])
    lines = lines[:MAX_SIGNATURE_LINES]
    if not members:  # an elided body that is still valid code
        lines.append(f"{indent}{rules.comment} ..." if braces else f"{indent}...")
    if braces:
        lines.append(lead + "}")
    return "\n".join(lines)


def _one_line_header(node: Node, rules: LanguageRules, data: bytes) -> str:
    """A definition's header (decorators and parameters included) on one line, without its body."""
    body = _inner(node, rules).child_by_field_name("body")
    line_end = data.find(b"\n", node.start_byte, node.end_byte)
    end = body.start_byte if body is not None else line_end if line_end >= 0 else node.end_byte
    text = _without_comments(node, end, rules, data).decode("utf-8", errors="replace")
    text = re.sub(r"([(\[])\s+", r"\1", " ".join(text.split()))
    return re.sub(r",?\s+([)\]])", r"\1", text).removesuffix(" {")


def _without_comments(node: Node, end: int, rules: LanguageRules, data: bytes) -> bytes:
    """The node's text up to `end` without its comments (by the tree: a `#` in a default string stays)."""
    comments: list[Node] = []
    pending = [node]
    while pending:
        for child in pending.pop().children:
            if child.start_byte < end:
                (comments if child.type in rules.comments else pending).append(child)
    kept, start = [], node.start_byte
    for comment in sorted(comments, key=lambda c: c.start_byte):
        kept.append(data[start : comment.start_byte])
        start = comment.end_byte
    kept.append(data[start:end])
    return b"".join(kept)


def interface(node: Node, rules: LanguageRules, data: bytes) -> str:
    """How a definition is called, for another file's prompt: its header with all parameters on one line,
    the first line of its docstring, and for a class the headers of its constructor and public methods.
    A call needs the parameters, which `signature` may cut in a long multi-line header. A short
    definition is shown whole."""
    if node.end_point.row - node.start_point.row < SHORT_DEFINITION_LINES:
        return signature(node, rules, data)
    inner = _inner(node, rules)
    body = inner.child_by_field_name("body")
    lines = [_one_line_header(node, rules, data)]
    doc = _docstring(body).strip("\"' \n").split("\n", 1)[0].strip()
    if doc:
        lines.append(f'    """{doc}"""' if rules.offside else f"    {rules.comment} {doc}")
    members = (
        [c for c in body.named_children if _inner(c, rules).type in rules.definitions]
        if body is not None and "class" in inner.type
        else []
    )
    for member in members:
        name = definition_name(_inner(member, rules)) or ""
        if name == "__init__" or name == "constructor" or not name.startswith("_"):
            lines.append("    " + _one_line_header(member, rules, data))
    return "\n".join(lines[:MAX_INTERFACE_LINES])


def outline(tree: Tree, data: bytes, rules: LanguageRules) -> Outline:
    """Top-level imports and definitions (including a class's own methods) of a parsed file."""
    imports: list[Node] = []
    definitions: list[Definition] = []
    for child in tree.root_node.named_children:
        inner = _inner(child, rules)
        if child.type in rules.imports:
            imports.append(child)
        elif inner.type in rules.definitions or inner.type in ASSIGNMENTS:
            name = definition_name(inner)
            if name:
                definitions.append(Definition(name, child.start_byte, child.end_byte, child, rules, data))
            body = inner.child_by_field_name("body")
            for member in body.named_children if body is not None and inner.type in rules.scopes else []:
                member_name = definition_name(_inner(member, rules))
                if member_name and _inner(member, rules).type in rules.definitions:
                    definitions.append(
                        Definition(member_name, member.start_byte, member.end_byte, member, rules, data, False)
                    )
    return Outline(tuple(imports), tuple(definitions))


@cache
def _identifier_query(grammar: str) -> Query | None:
    from tree_sitter_language_pack import get_language

    language = get_language(grammar)  # type: ignore[arg-type]
    kinds = [kind for kind in NAME_KINDS if language.id_for_node_kind(kind, True)]
    return Query(language, "[" + " ".join(f"({kind})" for kind in kinds) + "] @name") if kinds else None


def identifiers(tree: Tree, language: str, start: int, end: int) -> set[str]:
    """Names used between two byte offsets."""
    grammar = grammar_of(language)
    query = _identifier_query(grammar) if grammar is not None else None
    if query is None or end <= start:
        return set()
    cursor = QueryCursor(query)
    cursor.set_byte_range(start, end)
    return {node_text(node) for nodes in cursor.captures(tree.root_node).values() for node in nodes}


def enclosing_scopes(tree: Tree, data: bytes, offset: int, rules: LanguageRules) -> list[Node]:
    """Definitions (functions, classes) around a cursor's byte offset, outermost first.

    A node ends at its last token, so the cursor is placed at the last non-blank byte before it;
    on a blank line only definitions indented less than the cursor's column can hold it.
    """
    anchor = len(data[:offset].rstrip()) - 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = offset - line_start if not data[line_start:offset].strip() else None
    node: Node | None = tree.root_node.descendant_for_byte_range(max(anchor, 0), max(anchor, 0))
    chain: list[Node] = []
    while node is not None:
        if node.type in rules.scopes and (column is None or node.start_point.column < column):
            wrapper = node.parent if node.parent is not None and node.parent.type in rules.wrappers else node
            chain.append(wrapper)
        node = node.parent
    return chain[::-1]
