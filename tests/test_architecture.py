"""The layering docs/architecture.md describes, checked on the source: imports go one way with no cycle
(lazy and TYPE_CHECKING imports included), the engine never imports a front end, and functions stay short."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("completion", "prompts", "lsp_server", "jupyter_ext", "cli")
FRONT_ENDS = ("lsp_server", "jupyter_ext", "cli")
LONGEST_FUNCTION = 45  # lines, in the engine and the front ends
ENGINE_FACADE_LINES = 250


def _modules() -> dict[str, Path]:
    """Every first-party module by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The first-party modules `path` imports, anywhere in it; `from package import module` names the module."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
            yield from submodules
            if len(submodules) < len(node.names) and node.module in modules:
                yield node.module


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(path, modules)) - {name} for name, path in modules.items()}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        name, path = stack.pop()
        for imported in graph[name]:
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    cycles = [cycle for name in graph if (cycle := _cycle_from(name, graph))]
    assert not cycles, " -> ".join(cycles[0])


def test_the_engine_never_imports_a_front_end() -> None:
    graph = _graph()
    wrong = [(name, sorted(i for i in imported if i.split(".")[0] in FRONT_ENDS)) for name, imported in graph.items()]
    assert [(name, i) for name, i in wrong if name.startswith("completion") and i] == []


def _functions(package: str) -> Iterator[tuple[str, int]]:
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("package", ["completion", "lsp_server", "jupyter_ext"])
def test_functions_are_short(package: str) -> None:
    assert [f"{where} ({lines} lines)" for where, lines in _functions(package) if lines > LONGEST_FUNCTION] == []


def test_the_engine_is_a_thin_facade() -> None:
    lines = len((ROOT / "completion" / "engine.py").read_text(encoding="utf-8").splitlines())
    assert lines <= ENGINE_FACADE_LINES
