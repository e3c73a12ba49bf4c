"""Completion quality: the raw model with a plain FIM prompt against the full engine, same tasks, same run.

    python -m bench.quality --single 40 --multi 30 --crossfile 25 [--seed 0] [--model PATH]

Sets: HumanEval single-line and multi-line infilling (exact match and functional pass, the tests
run in a subprocess with a timeout) and a cross-file set from real packages (exact match), where the
engine runs once without and once with cross-file context. Both systems decode greedily, at most 64
tokens. Exact match follows Qwen's rule for single lines (first line of the output, the second if it
starts with a newline, compared stripped); multi-line compares all non-blank lines, stripped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.tasks import Task, crossfile_tasks, humaneval_tasks, sample
from completion.config import EngineConfig
from completion.engine import Engine
from completion.models import resolve_model_path
from completion.prompt import build_fim_prompt
from completion.runtime import SamplingParams
from completion.runtime.llama_backend import LlamaBackend
from completion.types import FimRequest
from completion.workspace import Workspace
from prompts import fim_format

MAX_TOKENS = 64
# Pure-Python packages tabwise's own dependencies bring into the venv (nobody here wrote them).
CROSSFILE_PACKAGES = [
    "jinja2", "gguf", "packaging", "psutil", "requests", "urllib3", "httpx", "nbformat", "jupyter_client",
]  # fmt: skip
TEST_TIMEOUT_S = 15


def first_line(text: str) -> str:
    """Qwen's single-line rule: the first line, or the second when the output starts with a newline."""
    lines = text.split("\n")
    return lines[1] if text.startswith("\n") and len(lines) > 1 else lines[0]


def same_lines(output: str, reference: str) -> bool:
    """Multi-line exact match: the non-blank lines, stripped."""

    def norm(text: str) -> list[str]:
        return [line.strip() for line in text.split("\n") if line.strip()]

    return norm(output) == norm(reference)


def passes(task: Task, middle: str) -> bool:
    """Run the HumanEval tests on the program with `middle` in the hole (a subprocess, with a timeout)."""
    program = f"{task.prefix}{middle}{task.suffix}\n\n{task.test}\n\ncheck({task.entry_point})\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "program.py"
        path.write_text(program, encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, str(path)], cwd=folder, capture_output=True, timeout=TEST_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


class Plain:
    """The baseline: the raw model on a plain prefix/suffix FIM prompt of the same token budget."""

    def __init__(self, path: Path, config: EngineConfig) -> None:
        self.backend = LlamaBackend.load(config, path)
        self.config = config
        self.format = fim_format("qwen2.5-coder")

    def __call__(self, task: Task) -> str:
        request = FimRequest(task.prefix, task.suffix, path=task.path)
        prompt = build_fim_prompt(
            request, self.format, self.backend.token_count, self.config.context_tokens, self.config.suffix_tokens
        )
        generation = self.backend.generate(prompt.text, SamplingParams(MAX_TOKENS, stop=self.format.stop))
        try:
            return "".join(generation)
        finally:
            generation.close()


def engine_system(engine: Engine) -> Callable[[Task], str]:
    """The full engine: context, plan, stop rules and clean-up."""

    def run(task: Task) -> str:
        request = FimRequest(
            task.prefix, task.suffix, path=task.path, language="python", max_tokens=MAX_TOKENS, time_budget_ms=120_000
        )
        return engine.complete(request).text

    return run


def score(tasks: list[Task], system: Callable[[Task], str], multi: bool, functional: bool) -> dict[str, float]:
    """Exact match and pass rates (percent) and seconds per task."""
    exact = passed = 0
    started = time.perf_counter()
    for task in tasks:
        output = system(task)
        if multi:
            exact += same_lines(output, task.middle)
            middle = output
        else:
            line = first_line(output)
            exact += line.strip() == task.middle.strip()
            middle = line
        if functional:
            passed += passes(task, middle)
    n = max(len(tasks), 1)
    result = {"exact": 100 * exact / n, "seconds_per_task": (time.perf_counter() - started) / n}
    if functional:
        result["pass"] = 100 * passed / n
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=40, help="single-line HumanEval tasks (of 1,033)")
    parser.add_argument("--multi", type=int, default=30, help="multi-line HumanEval tasks (of 5,815)")
    parser.add_argument("--crossfile", type=int, default=25, help="cross-file tasks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    path = resolve_model_path(args.model)
    config = EngineConfig(model_path=path)
    site = Path(sysconfig.get_paths()["purelib"])
    sets = {
        "single-line": sample(humaneval_tasks("single"), args.single, args.seed),
        "multi-line": sample(humaneval_tasks("multi"), args.multi, args.seed),
        "cross-file": sample(crossfile_tasks(site, CROSSFILE_PACKAGES), args.crossfile, args.seed),
    }
    plain = Plain(path, config)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with Engine(config) as bare, Engine(config, workspace=Workspace(site)) as full:
        for name, tasks in sets.items():
            if not tasks:
                continue
            multi, functional = name == "multi-line", name != "cross-file"
            print(f"{name}: {len(tasks)} tasks", file=sys.stderr, flush=True)
            results[name] = {"plain": score(tasks, plain, multi, functional)}
            if name == "cross-file":
                results[name]["engine, no cross-file context"] = score(tasks, engine_system(bare), multi, functional)
            results[name]["engine"] = score(tasks, engine_system(full), multi, functional)
    print(table(results, {name: len(tasks) for name, tasks in sets.items()}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def table(results: dict[str, dict[str, dict[str, float]]], sizes: dict[str, int]) -> str:
    """The results as one Markdown table."""
    rows = ["| set | n | system | exact match % | tests pass % | s/task |", "|---|---|---|---|---|---|"]
    for name, systems in results.items():
        for system, figures in systems.items():
            passed = f"{figures['pass']:.1f}" if "pass" in figures else "-"
            rows.append(
                f"| {name} | {sizes[name]} | {system} | {figures['exact']:.1f} | {passed} | "
                f"{figures['seconds_per_task']:.1f} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
