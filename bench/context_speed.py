"""Context gathering time per keystroke on a 5,000-line file, against a cold parse in the same run.

    python -m bench.context_speed [--lines 5000] [--keystrokes 200]

Replays typing one line, a character at a time, in the middle of a real module (jinja2's compiler,
repeated to the wanted length) and times what the engine does before the model runs: the plan
(where nothing fits, no model work), the tree-sitter context (incremental re-parse, folded view,
imports), and prompt assembly with the real tokenizer. The baseline gathers the same context with a
fresh parser cache each time (a cold parse), so the ratio shows what incremental parsing buys.
"""

from __future__ import annotations

import argparse
import statistics
import sysconfig
import time
from functools import lru_cache
from pathlib import Path

from completion.context.gatherer import ContextGatherer
from completion.context.syntax import SyntaxCache
from completion.fim.plan import plan_completion
from completion.fim.prompt import build_fim_prompt
from completion.languages import rules_for
from completion.types import FimRequest
from completion.weights.models import resolve_model_path
from prompts import fim_format

TYPED = "        result = self.visit_expression(node.test, frame, strict=True)"


def document(lines: int) -> tuple[str, str]:
    """A Python module of about `lines` lines, split in the middle at the start of a method body line."""
    source = (Path(sysconfig.get_paths()["purelib"]) / "jinja2" / "compiler.py").read_text(encoding="utf-8")
    rows = source.split("\n")
    text = "\n".join((rows * (lines // len(rows) + 1))[:lines])
    middle = text.index("\n    def ", len(text) // 2)
    cut = text.index("\n", text.index(":\n", middle) + 2) + 1
    return text[:cut], text[cut:]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--keystrokes", type=int, default=len(TYPED))
    args = parser.parse_args()
    import llama_cpp  # the tokenizer only: vocab_only loads the header, not the weights

    vocab = llama_cpp.Llama(str(resolve_model_path()), vocab_only=True, verbose=False)

    @lru_cache(maxsize=16_384)  # as the engine does: lines and snippets recur on every keystroke
    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=True))

    prefix, suffix = document(args.lines)
    rules, fmt = rules_for("python"), fim_format("qwen2.5-coder")
    gatherer = ContextGatherer()
    typed = (TYPED * (args.keystrokes // len(TYPED) + 1))[: args.keystrokes]
    context_s, prompt_s, cold_s = [], [], []
    gatherer.gather(FimRequest(prefix, suffix, path="compiler.py", document="d"), "python")  # the file opens
    for n in range(1, len(typed) + 1):
        request = FimRequest(prefix + typed[:n], suffix, path="compiler.py", document="d", language="python")
        started = time.perf_counter()
        plan_completion(request, "python", gatherer.syntax, rules)
        context = gatherer.gather(request, "python")
        gathered = time.perf_counter()
        build_fim_prompt(request, fmt, count, 1024, 32, context)
        built = time.perf_counter()
        context_s.append(gathered - started)
        prompt_s.append(built - gathered)
        cold = ContextGatherer(syntax=SyntaxCache())
        started = time.perf_counter()
        plan_completion(request, "python", cold.syntax, rules)
        cold.gather(request, "python")
        cold_s.append(time.perf_counter() - started)
    lines = (prefix + suffix).count("\n") + 1
    print(f"{lines} lines, {len(typed)} keystrokes (median per keystroke)")
    print("| stage | median ms | p95 ms |")
    print("|---|---|---|")
    for name, samples in [
        ("plan + context (incremental parse)", context_s),
        ("prompt assembly (real tokenizer)", prompt_s),
        ("baseline: plan + context, cold parse", cold_s),
    ]:
        p95 = sorted(samples)[int(0.95 * (len(samples) - 1))] * 1000
        print(f"| {name} | {median_ms(samples):.2f} | {p95:.2f} |")
    print(f"\ncold / incremental: {median_ms(cold_s) / median_ms(context_s):.1f}x")


if __name__ == "__main__":
    main()
