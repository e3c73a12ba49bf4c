"""Prompt evaluation speed by step size on this CPU, against the warm-up's own step in the same run.

A warm-up evaluates a cold prompt PREFILL_BATCH tokens at a time so that a live request waits at most one
step; a longer step evaluates faster but makes that wait longer. The steps alternate over the rounds, the
same tokens evaluated afresh each time, so that a noisy neighbour on the machine hits them alike.

    python -m bench.prompt_steps --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from completion.runtime.llama_backend import PREFILL_BATCH, PROMPT_STEP

STEPS = sorted({16, 32, 64, 128, 256, PREFILL_BATCH, PROMPT_STEP})
PROMPT_TOKENS = 640  # about a cold prompt's first two thirds


def measure(rounds: int, threads: int) -> dict[int, list[float]]:
    """Tokens per second per step size, one figure per round."""
    from llama_cpp import Llama

    from completion.weights.models import default_model_path

    model = Llama(str(default_model_path()), n_ctx=2048, n_batch=max(STEPS), n_threads=threads, verbose=False)
    source = (Path(__file__).resolve().parents[1] / "completion" / "fim" / "pipeline.py").read_text()
    tokens = model.tokenize(source.encode())[:PROMPT_TOKENS]
    rates: dict[int, list[float]] = {step: [] for step in STEPS}
    for _ in range(rounds):
        for step in STEPS:
            model.reset()  # the next eval drops the KV cells past 0: every token is evaluated again
            model.n_batch = step
            began = time.perf_counter()
            model.eval(tokens)
            rates[step].append(len(tokens) / (time.perf_counter() - began))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rates = measure(args.rounds, args.threads)
    baseline = statistics.median(rates[PREFILL_BATCH])
    rows = {
        step: {"tokens_per_s": statistics.median(r), "ratio": statistics.median(r) / baseline}
        for step, r in rates.items()
    }
    print(f"| step | prompt tokens/s (median of {args.rounds}) | x step {PREFILL_BATCH} (the warm-up's) |")
    print("|---|---|---|")
    for step, row in rows.items():
        print(f"| {step} | {row['tokens_per_s']:.1f} | x{row['ratio']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"prompt_tokens": PROMPT_TOKENS, "steps": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
