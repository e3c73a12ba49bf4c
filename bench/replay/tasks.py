"""The functions the simulated users type back: bodies from jinja2's sources (installed with tabwise;
nobody here wrote them, and the engine is not tuned on them), chosen by a seed."""

from __future__ import annotations

import ast
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("compiler.py", "lexer.py", "parser.py", "environment.py", "utils.py")
PACKAGE = Path(sysconfig.get_paths()["purelib"]) / "jinja2"


@dataclass(frozen=True)
class Task:
    """A function whose body is typed back: the text before the body, the body, the text after it."""

    name: str
    before: str
    body: str
    after: str


def tasks(count: int, seed: int) -> list[Task]:
    """`count` function bodies of 120-400 characters from jinja2 (docstrings kept, the rest removed)."""
    found: list[Task] = []
    for name in SOURCES:
        found.extend(_bodies(name, (PACKAGE / name).read_text(encoding="utf-8")))
    return random.Random(seed).sample(found, count)


def project_tasks(count: int, seed: int) -> list[Task]:
    """`count` function bodies of 120-400 characters from tabwise's own engine (completion/): what settings are
    calibrated on, so that the replay's jinja2 functions stay unseen."""
    root = Path(__file__).resolve().parents[2]
    found: list[Task] = []
    for path in sorted((root / "completion").rglob("*.py")):
        found.extend(_bodies(str(path.relative_to(root)), path.read_text(encoding="utf-8")))
    return random.Random(seed).sample(found, count)


def _bodies(name: str, source: str) -> list[Task]:
    """The functions of one source file whose body (after the docstring) is 120-400 characters on 4+ lines."""
    lines = source.splitlines(keepends=True)
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef) or node.end_lineno is None:
            continue
        body = node.body[1:] if ast.get_docstring(node) else node.body
        if not body:
            continue
        start, end = body[0].lineno - 1, node.end_lineno
        text = "".join(lines[start:end])
        if 120 <= len(text) <= 400 and text.count("\n") >= 3:
            found.append(Task(f"{name}:{node.name}", "".join(lines[:start]), text, "".join(lines[end:])))
    return found
