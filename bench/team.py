"""tabwise for a team: the engine on one shared llama-server (-np 4) against the engine in process, and
1, 2 and 4 simulated users typing at once against that one server.

    python -m bench.team --server build/llama-server/build/bin/llama-server [--functions 2] [--json FILE]

Every user is the typing replay's in-process engine (bench/typing_replay.py: jinja2 function bodies typed
back at 100 ms a character, a suggestion asked for at each pause), its backend set to `llama-server` at
the server this benchmark starts on loopback with the default model: `-np 4` slots of 4,096 tokens, no
slot pinned by any request, `cache_prompt` on every request. It reports:

- the replay on the server against the replay in process, function by function in alternating order
  (same run, same request points): median and p95 latency, characters saved per minute of typing;
- 1, 2 and 4 users at once, each typing a different function: each user's median and p95 latency, and
  the suggestions answered per second by the server in total;
- token counts: how many tokenize round trips a keystroke cost, and the error of the characters-per-token
  estimate (what the openai backend uses where a server has no tokenize route) against the server's own
  counts on the lines of the replayed files.

On a CPU the server's cores are what users share: the figures are as measured on the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.replay.editors import run_in_process
from bench.replay.measure import Measure
from bench.replay.report import p95, summary
from bench.replay.tasks import Task, tasks
from bench.replay.users import ACCEPT_WORDS
from completion.config import EngineConfig
from completion.runtime.llama_server_backend import LlamaServerBackend
from completion.runtime.openai_backend import RatioCounter
from completion.runtime.remote import RemoteServer
from completion.weights.models import resolve_model_path
from tests.servers import llama_server

SLOTS = 4  # -np: requests the server runs at once
SLOT_CONTEXT = 4096  # tokens per slot, the engine's own window
USERS = (1, 2, 4)


def remote_config(url: str, threads: int) -> EngineConfig:
    """What a user's editor gives the engine: the shared server, everything else as the defaults."""
    return EngineConfig(backend="llama-server", backend_url=url, n_threads=threads, preload=True)


def replay_against_local(chosen: list[Task], url: str, threads: int, verbose: bool) -> dict[str, Any]:
    """The replay on the server and in process, function by function, alternating which goes first."""
    remote, local = Measure(ACCEPT_WORDS, verbose), Measure(ACCEPT_WORDS, verbose)
    server = RemoteServer.shared(url, None)
    sent = server.sent.copy()
    for number, task in enumerate(chosen):
        runs = [("llama-server", remote, remote_config(url, threads)), ("in-process", local, None)]
        for name, measure, config in runs if number % 2 == 0 else runs[::-1]:
            print(f"-- {task.name}: {name}", file=sys.stderr)
            run_in_process([task], threads, measure, config)
    keystrokes = sum(len(task.body) for task in chosen)
    return {
        "llama-server": summary(remote, keystrokes),
        "in-process": summary(local, keystrokes),
        "requests_per_keystroke": {path: n / keystrokes for path, n in (server.sent - sent).items()},
    }


def users_at_once(chosen: list[Task], count: int, url: str, threads: int) -> dict[str, Any]:
    """`count` users typing different functions at the same time against the one server."""
    measures = [Measure(ACCEPT_WORDS) for _ in range(count)]
    errors: list[BaseException] = []

    def user(number: int) -> None:
        task = chosen[number % len(chosen)]
        try:
            run_in_process([task], threads, measures[number], remote_config(url, threads))
        except Exception as exc:  # a user's failure is reported, not lost in its thread
            errors.append(exc)

    workers = [threading.Thread(target=user, args=(n,)) for n in range(count)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    rows = [
        {"requests": len(m.latencies_ms), "median_ms": statistics.median(m.latencies_ms), "p95_ms": p95(m.latencies_ms)}
        for m in measures
    ]
    answered = sum(row["requests"] for row in rows)
    return {"users": rows, "suggestions_per_s": answered / elapsed, "elapsed_s": elapsed}


def token_counts(chosen: list[Task], url: str) -> dict[str, Any]:
    """The server's counts of the replayed files' lines against the characters-per-token estimate."""
    backend = LlamaServerBackend.connect(EngineConfig(backend="llama-server", backend_url=url))
    ratio = RatioCounter.measure(backend.server, "/v1", "")
    lines = sorted({line + "\n" for task in chosen for line in (task.before + task.body + task.after).splitlines()})
    exact = [backend.token_count(line) for line in lines]
    estimated = [ratio(line) for line in lines]
    errors = [abs(e - x) for e, x in zip(estimated, exact, strict=True)]
    return {
        "lines": len(lines),
        "chars_per_token": ratio.chars_per_token,
        "mean_abs_error_tokens": statistics.mean(errors),
        "total_error": (sum(estimated) - sum(exact)) / sum(exact),  # what a budget of many lines sees
        "lines_exact": sum(e == 0 for e in errors) / len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", type=Path, required=True, help="a llama-server binary (make's $(LLAMA_SERVER))")
    parser.add_argument("--functions", type=int, default=2, help="functions typed in the replay comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    chosen = tasks(max(args.functions, max(USERS)), args.seed)
    results: dict[str, Any] = {"load_average_before": os.getloadavg()[0]}  # other work on the same cores
    model = resolve_model_path(None)
    with (
        tempfile.TemporaryDirectory() as folder,
        llama_server(model, Path(folder), SLOTS, False, args.threads, SLOT_CONTEXT, args.server.resolve()) as server,
    ):
        results["token_counts"] = token_counts(chosen, server.url)
        results["replay"] = replay_against_local(chosen[: args.functions], server.url, args.threads, args.verbose)
        results["users"] = {str(n): users_at_once(chosen, n, server.url, args.threads) for n in USERS}
    results["load_average_after"] = os.getloadavg()[0]
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def report(results: dict[str, Any]) -> None:
    replay = results["replay"]
    print("| engine | requests | median ms | p95 ms | chars saved/min | tokens evaluated/request |")
    print("|---|---|---|---|---|---|")
    for name in ("llama-server", "in-process"):
        row = replay[name]
        print(f"| {name} | {row['requests']} | {row['median_ms']:.0f} | {row['p95_ms']:.0f} | "
              f"{row['saved_per_min']:.1f} | {row['evaluated_per_request']:.0f} |")  # fmt: skip
    remote, local = replay["llama-server"], replay["in-process"]
    print(f"llama-server / in-process: median x{remote['median_ms'] / local['median_ms']:.2f}, "
          f"p95 x{remote['p95_ms'] / local['p95_ms']:.2f}, chars saved "
          f"x{remote['saved_per_min'] / max(local['saved_per_min'], 1e-9):.2f}")  # fmt: skip
    per_key = ", ".join(f"{path} {n:.2f}" for path, n in replay["requests_per_keystroke"].items())
    print(f"HTTP requests a keystroke, by route: {per_key}")
    print("| users at once | each user's median ms | each user's p95 ms | suggestions/s in total |")
    print("|---|---|---|---|")
    for count, row in results["users"].items():
        medians = ", ".join(f"{user['median_ms']:.0f}" for user in row["users"])
        p95s = ", ".join(f"{user['p95_ms']:.0f}" for user in row["users"])
        print(f"| {count} | {medians} | {p95s} | {row['suggestions_per_s']:.2f} |")
    before, after = results["load_average_before"], results["load_average_after"]
    print(f"load average (1 min) before {before:.1f}, after {after:.1f}")
    counts = results["token_counts"]
    print(f"token counts of {counts['lines']} lines: the estimate ({counts['chars_per_token']:.2f} chars a token) "
          f"is off by {counts['mean_abs_error_tokens']:.2f} tokens a line on average, {counts['total_error']:+.1%} "
          f"over all of them; {counts['lines_exact']:.0%} of lines exact")  # fmt: skip


if __name__ == "__main__":
    main()
