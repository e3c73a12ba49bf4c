"""Prompt and generation speed of the weight-buffer choices on this CPU, against each other in one run.

Each choice loads the default model in a child process of its own (a choice that crashes, as the AMX
buffer does on Sapphire Rapids, is reported as crashed instead of ending the run), and the rounds
alternate between choices so that a noisy neighbour on the machine hits them alike. Ratios are against
the choice tabwise makes by itself on this CPU ("auto"), measured in the same run.

    python -m bench.weight_buffers --rounds 3 --json bench/results/weight-buffers.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from completion.runtime.buffers import cpu_flags

CHOICES = {"auto": None, "extra buffers on": True, "extra buffers off": False}
PROMPT_LINES = 40  # ~240 prompt tokens, evaluated fresh each round (a nonce comes first)
GENERATE = 64  # tokens generated per round
CHILD_TIMEOUT_S = 600


def child(setting: str, threads: int | None) -> None:
    """Load the default model with one choice, check it completes correctly, time it; print JSON."""
    from completion.config import EngineConfig
    from completion.runtime import SamplingParams
    from completion.runtime.llama_backend import LlamaBackend
    from completion.weights.models import default_model_path

    config = EngineConfig(extra_buffers=CHOICES[setting], n_threads=threads)
    backend = LlamaBackend.load(config, default_model_path())
    check = "".join(
        backend.generate(
            "<|fim_prefix|>def add(a, b):\n    return<|fim_suffix|>\n<|fim_middle|>", SamplingParams(max_tokens=8)
        )
    )
    body = "".join(f"    {n},\n" for n in range(1, PROMPT_LINES + 1))
    prompt = f"<|fim_prefix|># speed check {time.time_ns()}\nnumbers = [\n{body}<|fim_suffix|><|fim_middle|>"
    began = time.perf_counter()
    generation = backend.generate(prompt, SamplingParams(max_tokens=GENERATE))
    first = 0.0
    for _ in generation:
        first = first or time.perf_counter()
    end = time.perf_counter()
    generated = max(generation.generated_tokens - 1, 1)
    print(
        json.dumps(
            {
                "buffers": dict(backend.info.weight_buffers),
                "reason": backend.info.weight_buffers_reason,
                "correct": "a + b" in check,
                "check": check,
                "prompt_tps": (generation.prompt_tokens - generation.reused_tokens) / (first - began),
                "generation_tps": generated / (end - first),
            }
        )
    )


def run_choice(setting: str, threads: int | None) -> dict[str, object]:
    """One round of one choice in its own process; a crash or a hang is a result, not an error."""
    command = [sys.executable, "-m", "bench.weight_buffers", "--child", setting]
    command += ["--threads", str(threads)] if threads else []
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"crashed": f"no answer within {CHILD_TIMEOUT_S} s"}
    if done.returncode != 0:
        return {"crashed": f"exit status {done.returncode}", "stderr": done.stderr[-400:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, help="threads per run (default: physical cores; 1 on a busy machine)")
    parser.add_argument("--child", choices=list(CHOICES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads)
        return
    flags = cpu_flags()
    cpu = "AMX" if "amx_int8" in flags else ("AVX512" if "avx512f" in flags else "no AVX512")
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in CHOICES}
    for _ in range(args.rounds):
        for name in CHOICES:
            runs[name].append(run_choice(name, args.threads))
    base = _median(runs["auto"], "prompt_tps"), _median(runs["auto"], "generation_tps")
    print(f"CPU: {cpu}; {args.rounds} rounds, alternating, threads {args.threads or 'default'}; ratios against auto")
    print(f"{'choice':20} {'buffers':34} {'correct':8} {'prompt t/s':>11} {'x':>5} {'gen t/s':>8} {'x':>5}")
    table = {}
    for name, results in runs.items():
        crashed = [r["crashed"] for r in results if "crashed" in r]
        good = [r for r in results if "crashed" not in r]
        if not good:
            print(f"{name:20} crashed: {crashed[0]}")
            table[name] = {"crashed": crashed}
            continue
        prompt, gen = _median(good, "prompt_tps"), _median(good, "generation_tps")
        buffers = ", ".join(f"{k} {v:.0f} MiB" for k, v in dict(good[0]["buffers"]).items())  # type: ignore[call-overload]
        correct = all(r["correct"] for r in good)
        print(
            f"{name:20} {buffers:34} {correct!s:8} {prompt:11.1f} {prompt / base[0]:5.2f} "
            f"{gen:8.1f} {gen / base[1]:5.2f}"
        )
        table[name] = {
            "buffers": good[0]["buffers"],
            "reason": good[0]["reason"],
            "correct": correct,
            "prompt_tps": prompt,
            "generation_tps": gen,
            "crashed": crashed,
        }
    if args.json:
        report = {"cpu": cpu, "rounds": args.rounds, "threads": args.threads, "choices": table}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def _median(results: list[dict[str, object]], key: str) -> float:
    values = [float(r[key]) for r in results if key in r]  # type: ignore[arg-type]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    main()
