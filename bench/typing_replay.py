"""Keystroke-to-suggestion latency and usefulness: typing function bodies back into real code, for every
system and for two simulated users, in one run.

    python -m bench.typing_replay [--functions 3] [--seed 0] [--users accept-words tab-or-nothing]
        [--naive] [--server PATH/llama-server] [--skip-in-process] [--verbose] [--json FILE] [--code DIR]
        [--workspace]

Takes functions from jinja2's sources (installed with tabwise; nobody here wrote them), deletes each
body and types it back. Two user models (bench/replay/users.py; `--users` picks, both by default), each
typing the same bodies into every system:

- accept-words: 100 ms a key; pauses after every third word and at each new line's indentation, asks for
  a suggestion and waits for it; takes all of it with Tab when all of it is what they were about to type,
  else its right start up to a word's end (VS Code's accept-next-word), nothing when not even a word is
  right;
- tab-or-nothing (issue 25's user): 80 ms a key; asks at every space, `(` and `.` typed and at each line's
  indentation, waits; takes all of it when all of it is right, else its first line (llama.vscode's
  Shift+Tab) when that is right, else nothing.

After an accept the editor asks again at once at the new cursor, and the user goes on typing from there.
Each request records the time from the last keystroke (or the accept) to the suggestion, the prompt tokens
evaluated (not reused), the suggestion's length, the characters the user took (what it saved them typing),
the characters it got right (its common prefix with what comes next), and whether it was the first request
after the function's file was opened (the cold prompt). The systems (bench/replay/editors.py, baselines.py):

- tabwise: the real language server over stdio (`python -m lsp_server`), didChange per keystroke,
  textDocument/inlineCompletion at each pause; the engine runs in the tabwise service the server starts
  (in a private TABWISE_RUNTIME_DIR, stopped at the end), which logs at debug level how it answered each
  request (bench/replay/trace.py: the cache, following a running generation, its own generation at the
  budget or at its end; tokens evaluated, time in the queue, to the first token and after it); `--code DIR`
  runs the server and its service from another commit's sources, driven by this replay (the same requests);
  `--workspace` opens each function's file in a copy of jinja2 as the workspace folder, as a user with the
  project open has it (the other files on disk for cross-file context; the file itself without the body);
- in-process (the baseline for the service's cost; left out with `--skip-in-process`): the same
  keystrokes and requests sent straight to a `completion.engine.Engine` in this process, as the language
  server did before the service, with the same settings; the two take the functions in turn, each in a
  fresh server or engine, the order alternating from one function to the next, so that a neighbour's load
  drifting on a shared machine hits both alike;
- naive (with `--naive`): llama-cpp-python with a fresh full prompt per request, no KV reuse, as most
  local tutorials do: llama.vscode's window cut to the token budget llama-server's /infill gives it;
- llama-server (with `--server` pointing at a built binary): llama.cpp's own server run as llama.vscode's
  README says (`-ub 1024 -b 1024 --ctx-size 0 --cache-reuse 256`), sent llama.vscode's requests to
  `/infill` (its window, its ring of chunks of the files typed into before, `n_predict` 128,
  `t_max_predict_ms` 2500), its multi-line answers kept as it shows them, and its cache of answers (typing
  or accepting what an answer begins with shows the rest without a request).

Each user model's pass starts every system afresh. It prints, per user model, a table of the systems:
median and 95th percentile latency, the first-request-in-a-file p95, characters saved, suggestions shown
of which nothing was taken (per request), accepts, characters right and tokens evaluated per request; then
tabwise's ratios to each other system per user model and the headline, the worse of the two, with issue
25's targets against llama-server. The systems' requests differ once their accepts do (a user who accepted
a line does not type it), so latencies are compared as distributions.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.replay.baselines import run_llama_server, run_naive
from bench.replay.editors import run_in_process, run_tabwise
from bench.replay.measure import Measure
from bench.replay.report import paired, print_ratios, print_systems, results
from bench.replay.tasks import Task, tasks
from bench.replay.users import USER_MODELS, UserModel


def tabwise_pair(chosen: list[Task], user: UserModel, args: argparse.Namespace) -> dict[str, Measure]:
    """The language server and the in-process engine, function by function, alternating which goes first."""
    served, baseline = Measure(user, args.verbose), Measure(user, args.verbose)
    served_by = functools.partial(run_tabwise, code=args.code, workspace=args.workspace)
    systems = [("tabwise", served_by, served), ("in-process", run_in_process, baseline)]
    for number, task in enumerate(chosen):
        for name, run, measure in systems if number % 2 == 0 else systems[::-1]:
            print(f"-- {user.name}, {task.name}: {name}", file=sys.stderr)
            run([task], args.threads, measure)
    return {"tabwise": served, "in-process": baseline}


def one_user(chosen: list[Task], user: UserModel, args: argparse.Namespace) -> dict[str, Measure]:
    """Every system the options ask for, with this user typing the same bodies into each."""
    if args.skip_in_process:
        print(f"-- {user.name}: tabwise", file=sys.stderr)
        served = run_tabwise(chosen, args.threads, Measure(user, args.verbose), args.code, args.workspace)
        measures = {"tabwise": served}
    else:
        measures = tabwise_pair(chosen, user, args)
    if args.naive:
        print(f"-- {user.name}: naive", file=sys.stderr)
        measures["naive"] = run_naive(chosen, args.threads, Measure(user, args.verbose))
    if args.server:
        print(f"-- {user.name}: llama-server", file=sys.stderr)
        measures["llama-server"] = run_llama_server(chosen, args.server, args.threads, Measure(user, args.verbose))
    return measures


def machine() -> str:
    """The CPU's model name (the figures are this machine's)."""
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--users", nargs="+", choices=list(USER_MODELS), default=list(USER_MODELS))
    parser.add_argument("--server", type=Path, help="a llama-server binary built from the llama.cpp sources")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--naive", action="store_true", help="also the naive way (the slowest: ~15 s a request)")
    parser.add_argument("--skip-in-process", action="store_true", help="leave out the in-process engine")
    parser.add_argument("--verbose", action="store_true", help="print every request")
    parser.add_argument(
        "--workspace", action="store_true", help="tabwise gets the tasks' package as its workspace folder"
    )
    parser.add_argument(
        "--code", type=Path, help="run the language server from these tabwise sources (another commit's worktree)"
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    chosen = tasks(args.functions, args.seed)
    characters = sum(len(task.body) for task in chosen)
    load_before = os.getloadavg()[0]
    measures = {name: one_user(chosen, USER_MODELS[name], args) for name in args.users}
    found: dict[str, Any] = {
        "functions": [task.name for task in chosen],
        "characters": characters,
        "machine": machine(),
        "load_average_before": load_before,  # other work on the same cores
        "load_average_after": os.getloadavg()[0],
        **results(measures, characters),
    }
    for name, systems in measures.items():
        if "in-process" in systems:
            found["users"][name]["paired"] = paired(systems["tabwise"], systems["in-process"])
    print(f"{len(chosen)} functions ({', '.join(found['functions'])}), {characters} characters; {found['machine']}")
    for name, user in found["users"].items():
        print_systems(name, user)
    print_ratios(found)
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
