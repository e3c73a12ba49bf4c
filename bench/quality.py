"""Completion quality: the raw model with a plain FIM prompt against the full engine, same tasks, same run.

    python -m bench.quality --single 40 --multi 30 --crossfile 25 --holes 30 [--seed 0] [--model PATH]

Sets: HumanEval single-line and multi-line infilling (exact match and functional pass, the tests
run in a subprocess with a timeout) and a cross-file set from real packages (exact match), where the
engine runs once without and once with cross-file context. Both systems decode greedily, at most 64
tokens. Exact match follows Qwen's rule for single lines (first line of the output, the second if it
starts with a newline, compared stripped); multi-line compares all non-blank lines, stripped. Edit
similarity (as CrossCodeEval reports it) is how close the same text is to the answer, 0-100: it moves
where exact match on a small sample cannot.

Holes are multi-line HumanEval spans of 2-4 lines (their own sample, seed + 1) tried as in an editor:
the cursor on the new line after the indentation the editor put there, the code below intact, the file
just opened (document_opened, then the request), the engine's default settings and time budget. The
engine is scored twice from one run: its first suggestion, and what a user gets by pressing Tab until the
suggestion ends (each suggestion accepted and a new request made at the new cursor, up to 8 times);
with the latency of each request a user waits for.
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bench.tasks import Task, crossfile_tasks, editor_holes, humaneval_tasks, sample
from completion.config import EngineConfig
from completion.context.workspace import Workspace
from completion.engine import Engine
from completion.fim.prompt import build_fim_prompt
from completion.runtime import SamplingParams
from completion.runtime.llama_backend import LlamaBackend
from completion.types import FimRequest
from completion.weights.models import resolve_model_path
from prompts import fim_format

MAX_TOKENS = 64
# Pure-Python packages tabwise's own dependencies bring into the venv (nobody here wrote them).
CROSSFILE_PACKAGES = [
    "jinja2", "gguf", "packaging", "psutil", "requests", "urllib3", "httpx", "nbformat", "jupyter_client",
]  # fmt: skip
TEST_TIMEOUT_S = 15
TAB_PRESSES = 8  # a user pressing Tab until the suggestion ends gives up after this many


def first_line(text: str) -> str:
    """Qwen's single-line rule: the first line, or the second when the output starts with a newline."""
    lines = text.split("\n")
    return lines[1] if text.startswith("\n") and len(lines) > 1 else lines[0]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def same_lines(output: str, reference: str) -> bool:
    """Multi-line exact match: the non-blank lines, stripped."""
    return _lines(output) == _lines(reference)


def similarity(output: str, reference: str) -> float:
    """Edit similarity of the non-blank lines, stripped: 1.0 for the same text."""
    return difflib.SequenceMatcher(None, "\n".join(_lines(output)), "\n".join(_lines(reference))).ratio()


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

    def __init__(self, backend: LlamaBackend, config: EngineConfig, suffix_tokens: int) -> None:
        self.backend, self.config, self.suffix_tokens = backend, config, suffix_tokens
        self.format = fim_format("qwen2.5-coder")

    def __call__(self, task: Task) -> str:
        request = FimRequest(task.prefix, task.suffix, path=task.path)
        prompt = build_fim_prompt(
            request, self.format, self.backend.token_count, self.config.context_tokens, self.suffix_tokens
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


class EditorUser:
    """The engine as a user in an editor meets it, one run per task: the file opened, a request at the
    cursor, then Tab on each suggestion until one is empty; latencies of the requests waited for."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.answers: dict[str, list[str]] = {}  # per task: the suggestions, in order
        self.first_ms: list[float] = []
        self.tab_ms: list[float] = []

    def _run(self, task: Task) -> list[str]:
        if task.task_id in self.answers:
            return self.answers[task.task_id]
        document, accepted, answers = f"hole:{task.task_id}", "", []
        self.engine.document_opened(document, task.path, task.prefix + task.suffix, "python")
        for press in range(TAB_PRESSES):
            request = FimRequest(task.prefix + accepted, task.suffix, path=task.path, language="python",
                                 document=document)  # fmt: skip
            started = time.perf_counter()
            text = self.engine.complete(request).text
            (self.tab_ms if press else self.first_ms).append((time.perf_counter() - started) * 1000)
            if not text:
                break
            answers.append(text)
            accepted += text
        self.engine.document_closed(document, task.path)
        self.answers[task.task_id] = answers
        return answers

    def first(self, task: Task) -> str:
        """The first suggestion."""
        return next(iter(self._run(task)), "")

    def tab(self, task: Task) -> str:
        """All the suggestions accepted one after another."""
        return "".join(self._run(task))

    def latencies(self) -> dict[str, float]:
        """Median and 95th percentile of the first request and of the requests after a Tab (ms)."""
        figures = {}
        for name, values in (("first", self.first_ms), ("tab", self.tab_ms)):
            ordered = sorted(values) or [0.0]
            figures[f"{name}_median_ms"] = statistics.median(ordered)
            figures[f"{name}_p95_ms"] = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        tasks = max(len(self.answers), 1)
        figures["presses_per_task"] = (len(self.first_ms) + len(self.tab_ms)) / tasks
        figures["suggestions_per_task"] = sum(len(answers) for answers in self.answers.values()) / tasks
        figures["accepted_chars_per_task"] = sum(len("".join(a)) for a in self.answers.values()) / tasks
        figures["first_chars_per_task"] = sum(len(a[0]) for a in self.answers.values() if a) / tasks
        return figures


def score(
    tasks: list[Task], system: Callable[[Task], str], multi: bool, functional: bool, log: TextIO | None = None
) -> dict[str, float]:
    """Exact match and pass rates (percent) and seconds per task; each task's output to `log` as JSON lines."""
    exact = passed = 0
    close = 0.0
    started = time.perf_counter()
    for task in tasks:
        output = system(task)
        middle = output if multi else first_line(output)
        hit = same_lines(middle, task.middle) if multi else middle.strip() == task.middle.strip()
        ok = passes(task, middle) if functional else None
        exact += hit
        passed += bool(ok)
        close += similarity(middle, task.middle)
        if log:
            print(json.dumps({"task": task.task_id, "output": output, "exact": hit, "pass": ok}), file=log, flush=True)
    n = max(len(tasks), 1)
    result = {
        "exact": 100 * exact / n,
        "similarity": 100 * close / n,
        "seconds_per_task": (time.perf_counter() - started) / n,
    }
    if functional:
        result["pass"] = 100 * passed / n
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=40, help="single-line HumanEval tasks (of 1,033)")
    parser.add_argument("--multi", type=int, default=30, help="multi-line HumanEval tasks (of 5,815)")
    parser.add_argument("--crossfile", type=int, default=25, help="cross-file tasks")
    parser.add_argument("--holes", type=int, default=30, help="multi-line holes of 2-4 lines, as in an editor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--outputs", type=Path, help="write every task's output here (JSON lines)")
    args = parser.parse_args()

    path = resolve_model_path(args.model)
    config = EngineConfig(model_path=path)
    site = Path(sysconfig.get_paths()["purelib"])
    sets = {
        "single-line": sample(humaneval_tasks("single"), args.single, args.seed),
        "multi-line": sample(humaneval_tasks("multi"), args.multi, args.seed),
        "cross-file": sample(crossfile_tasks(site, CROSSFILE_PACKAGES), args.crossfile, args.seed),
        "holes": sample(editor_holes(humaneval_tasks("multi")), args.holes, args.seed + 1),
    }
    backend = LlamaBackend.load(config, path)
    plain = Plain(backend, config, config.suffix_tokens)  # the engine's suffix budget
    results: dict[str, dict[str, dict[str, float]]] = {}
    log = args.outputs.open("w", encoding="utf-8") if args.outputs else None
    with Engine(config) as bare, Engine(config, workspace=Workspace(site)) as full:
        for name, tasks in sets.items():
            if not tasks:
                continue
            multi, functional = name in ("multi-line", "holes"), name != "cross-file"
            print(f"{name}: {len(tasks)} tasks", file=sys.stderr, flush=True)
            systems: dict[str, Callable[[Task], str]] = {"plain": plain}
            if name == "cross-file":
                systems["engine, no cross-file context"] = engine_system(bare)
            if name == "holes":
                user = EditorUser(full)
                systems["engine, Tab until it ends"] = user.tab
                systems["engine, first suggestion"] = user.first
            else:
                systems["engine"] = engine_system(full)
            results[name] = {}
            for label, system in systems.items():
                if log:
                    print(json.dumps({"set": name, "system": label}), file=log, flush=True)
                results[name][label] = score(tasks, system, multi, functional, log)
            if name == "holes":
                results[name]["engine, Tab until it ends"].update(user.latencies())
    if log:
        log.close()
    print(table(results, {name: len(tasks) for name, tasks in sets.items()}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def table(results: dict[str, dict[str, dict[str, float]]], sizes: dict[str, int]) -> str:
    """The results as one Markdown table."""
    rows = [
        "| set | n | system | exact match % | edit similarity | tests pass % | s/task |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, systems in results.items():
        for system, figures in systems.items():
            passed = f"{figures['pass']:.1f}" if "pass" in figures else "-"
            rows.append(
                f"| {name} | {sizes[name]} | {system} | {figures['exact']:.1f} | {figures['similarity']:.1f} | "
                f"{passed} | {figures['seconds_per_task']:.1f} |"
            )
    for name, systems in results.items():
        for system, figures in systems.items():
            if "first_median_ms" in figures:
                rows.append(
                    f"\n{name}, {system}: first request median {figures['first_median_ms']:.0f} ms, p95 "
                    f"{figures['first_p95_ms']:.0f} ms; after a Tab median {figures['tab_median_ms']:.0f} ms, p95 "
                    f"{figures['tab_p95_ms']:.0f} ms; per task {figures['presses_per_task']:.1f} requests, "
                    f"{figures['suggestions_per_task']:.1f} suggestions accepted, "
                    f"{figures['accepted_chars_per_task']:.0f} characters in all (the first: "
                    f"{figures['first_chars_per_task']:.0f})"
                )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
