"""How import statements name workspace files, one strategy per language family.

A strategy reads one top-level import statement (a tree-sitter node of a type in the language's
`LanguageRules.imports`) and returns the workspace-relative paths it may refer to that exist; the
context gatherer then shows how to call what those files define.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from tree_sitter import Node

SCRIPT_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", "/index.ts", "/index.tsx", "/index.js")


class Files(Protocol):
    """What resolving needs of a workspace (`completion.context.workspace.Workspace` is one)."""

    def exists(self, path: str) -> bool:
        """True if the workspace-relative, "/"-separated `path` is a file there."""
        ...


def no_names(statement: Node) -> set[str]:
    """Imports that name no definitions (`import x`): none."""
    return set()


@dataclass(frozen=True)
class Imports:
    """How one language's import statements resolve to workspace files."""

    # (workspace, importing file's workspace-relative path, import statement) -> files it refers to
    resolve: Callable[[Files, str, Node], list[str]]
    # the names a statement imports by name (`from x import a`): shown from the imported files even
    # where not used near the cursor
    names: Callable[[Node], set[str]] = no_names


def text_of(node: Node) -> str:
    """The source text of a node."""
    return (node.text or b"").decode("utf-8", errors="replace")


def python_module_files(files: Files, current: str, module: str) -> list[str]:
    """Candidate files for a Python module named in `current` ("pkg.mod", ".mod", "..")."""
    dots = len(module) - len(module.lstrip("."))
    parts = [p for p in module.lstrip(".").split(".") if p]
    if dots:
        base = PurePosixPath(current).parent
        for _ in range(dots - 1):
            base = base.parent
        roots = [base]
    else:  # absolute: from the root, or from a source folder such as src/
        roots = [PurePosixPath("."), PurePosixPath("src")]
    found = []
    for root in roots:
        stem = root.joinpath(*parts) if parts else root
        for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
            normal = str(PurePosixPath(candidate))
            if files.exists(normal):
                found.append(normal)
    return found


def _python_files(files: Files, current: str, statement: Node) -> list[str]:
    """`from X import a, b`: X, and X.a where a is a submodule; `import X, Y`: X and Y."""
    module = statement.child_by_field_name("module_name")
    names = [text_of(n).split(" as ")[0] for n in statement.children_by_field_name("name")]
    if module is None:
        return [t for name in names for t in python_module_files(files, current, name)]
    base = text_of(module)
    prefix = base if base.endswith(".") else base + "."
    targets = python_module_files(files, current, base)
    for name in names:
        targets += python_module_files(files, current, prefix + name)
    return targets


def _python_names(statement: Node) -> set[str]:
    """The names `from x import a, b as c` imports (a, b); none for `import x`."""
    if statement.child_by_field_name("module_name") is None:
        return set()
    return {text_of(n).split(" as ")[0].strip() for n in statement.children_by_field_name("name")}


def script_files(files: Files, current: str, specifier: str) -> list[str]:
    """The file a relative JS/TS import names ("./util", "../lib/x.js"); none for a package."""
    if not specifier.startswith("."):
        return []  # a package: not workspace code
    base = PurePosixPath(current).parent / specifier
    parts: list[str] = []
    for part in base.parts:  # normalise ".." without touching the disk
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    stem = "/".join(parts)
    candidates = [stem] if PurePosixPath(stem).suffix else []
    candidates += [stem + suffix for suffix in SCRIPT_SUFFIXES]
    return [c for c in candidates if files.exists(c)][:1]


def _script_statement_files(files: Files, current: str, statement: Node) -> list[str]:
    """`import ... from './x'`: the file of its source."""
    source = statement.child_by_field_name("source")
    return [] if source is None else script_files(files, current, text_of(source).strip("'\"`"))


PYTHON_IMPORTS = Imports(_python_files, _python_names)
SCRIPT_IMPORTS = Imports(_script_statement_files)  # JavaScript and TypeScript, with or without JSX
