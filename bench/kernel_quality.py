"""Completions that need the kernel's state: the engine with the kernel summary against the engine without it.

    python -m bench.kernel_quality [--model PATH] [--json PATH] [--outputs PATH]

Notebook tasks where the right completion is a fact that only the data holds: a column of a CSV file
(`orders["`), a key of a JSON config (`cfg["database"]["`), a row count (`assert len(orders) == `), an
array's shape. The notebook's first cell reads the files (written here from a fixed seed), so its source
names no column, key or size; that cell runs in this process into a namespace, and the summary is made
from it by the same code the kernel runs (jupyter_ext/kernel_summary.py). Both systems are the same engine
in the same run on the same requests (the default model, greedy), alternating task by task; one
request's notes hold the summary, the other's are empty. Settings for quality, not speed: speculation
off, at most 24 tokens (only the first line is scored) and a time budget a loaded machine does not hit.
A task is right when the suggestion's first line starts with one of its answers as a whole word (any
real column where any is right). Costs: prompt tokens, tokens evaluated and time to the first token of
each task's first request (its own document; the engine's KV slots keep what the tasks' prompts share,
the summary and the first cell, as they would for one notebook), then of one more keystroke there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from completion.config import EngineConfig
from completion.context.notebook import Cell, notebook_request
from completion.engine import Engine
from completion.types import FimRequest
from completion.weights.models import resolve_model_path
from jupyter_ext.kernel_summary import summarize

LOAD = """import json
import numpy as np
import pandas as pd

orders = pd.read_csv("orders.csv")
sensors = pd.read_csv("sensors.csv")
with open("config.json") as f:
    cfg = json.load(f)
with open("users.json") as f:
    users = json.load(f)
X = np.load("features.npy")
y = np.load("labels.npy")"""

ORDER_COLUMNS = ("order_id", "region_code", "unit_price_eur", "qty_shipped", "placed_on")
SENSOR_COLUMNS = ("station_ref", "temp_c_max", "humidity_pct", "reading_ts")
CONFIG_KEYS = ("database", "retry_limit", "feature_flags", "model_dir")
# Quality, not speed: a loaded machine must not cut `365` to `36` (the engine's budget stops a line that runs
# on past twice its time budget); the latencies are still measured and compared.
TIME_BUDGET_MS = 20_000
MAX_TOKENS = 24  # only the first line is scored; it fits


@dataclass(frozen=True)
class KernelTask:
    name: str
    kind: str  # what it needs: columns, keys, shape, rows
    prefix: str  # the current cell up to the cursor
    answers: tuple[str, ...]  # a right suggestion's first line starts with one of these, as a whole word


def right(line: str, answers: tuple[str, ...]) -> bool:
    """`line` starts with one of `answers`, not as the start of a longer name or number (`qty` is not
    `qty_shipped`; `qty_shipped` with or without the closing `"]` is)."""
    for answer in answers:
        rest = line[len(answer) : len(answer) + 1]
        if line.startswith(answer) and not (rest.isalnum() or rest == "_"):
            return True
    return False


TASKS = [
    KernelTask("any order column", "columns", 'orders["', ORDER_COLUMNS),
    KernelTask("any sensor column", "columns", 'sensors["', SENSOR_COLUMNS),
    KernelTask("revenue", "columns", '# revenue of each order\nrevenue = orders["unit_price_eur"] * orders["',
               ("qty_shipped",)),
    KernelTask("group by region", "columns", '# mean price per region\nmean_price = orders.groupby("',
               ("region_code",)),
    KernelTask("numeric column by region", "columns", 'by_region = orders.groupby("region_code")["',
               ("unit_price_eur", "qty_shipped")),
    KernelTask("region column", "columns", "# the customer's region of each order\nregions = orders[\"",
               ("region_code",)),
    KernelTask("hottest day", "columns", '# the hottest reading\nhottest = sensors.loc[sensors["', ("temp_c_max",)),
    KernelTask("humid readings", "columns", '# readings above 80 percent humidity\nhumid = sensors[sensors["',
               ("humidity_pct",)),
    KernelTask("any config key", "keys", 'cfg["', CONFIG_KEYS),
    KernelTask("database host", "keys", 'host = cfg["database"]["', ("hostname",)),
    KernelTask("database port", "keys", 'port = cfg["database"]["', ("port_number",)),
    KernelTask("retries", "keys", '# how many times to retry\nretries = cfg["', ("retry_limit",)),
    KernelTask("user handles", "keys", 'handles = [u["', ("user_handle",)),
    KernelTask("signup year", "keys", '# users who signed up in 2021\nrecent = [u for u in users if u["',
               ("signup_year",)),
    KernelTask("feature matrix shape", "shape", "assert X.shape == (", ("240, 17",)),
    KernelTask("labels shape", "shape", "assert y.shape == (", ("240,",)),
    KernelTask("order rows", "rows", "assert len(orders) == ", ("1204",)),
    KernelTask("sensor rows", "rows", "assert len(sensors) == ", ("365",)),
    KernelTask("user count", "rows", "assert len(users) == ", ("57",)),
]  # fmt: skip


def write_data(folder: Path) -> None:
    """The files the notebook reads, from a fixed seed (their facts are the tasks' answers)."""
    import numpy as np

    rng = random.Random(0)
    rows = [",".join(ORDER_COLUMNS)]
    for n in range(1204):
        region, price, qty = rng.choice(["NE", "SW", "CE"]), round(rng.uniform(1, 90), 2), rng.randint(1, 40)
        rows.append(f"{n + 1},{region},{price},{qty},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
    (folder / "orders.csv").write_text("\n".join(rows) + "\n")
    rows = [",".join(SENSOR_COLUMNS)]
    for day in range(365):
        rows.append(f"st-{day % 4},{rng.uniform(-5, 35):.1f},{rng.uniform(20, 99):.0f},2024-01-01T00:00+{day}d")
    (folder / "sensors.csv").write_text("\n".join(rows) + "\n")
    config = {
        "database": {"hostname": "db.internal", "port_number": 5433, "schema": "sales"},
        "retry_limit": 5,
        "feature_flags": {"beta_export": True},
        "model_dir": "/srv/models",
    }
    (folder / "config.json").write_text(json.dumps(config))
    users = [{"user_handle": f"u{n}", "signup_year": 2018 + n % 6, "plan_tier": "free"} for n in range(57)]
    (folder / "users.json").write_text(json.dumps(users))
    np.save(folder / "features.npy", np.zeros((240, 17)))
    np.save(folder / "labels.npy", np.zeros(240))


def kernel_namespace(folder: Path) -> dict[str, Any]:
    """The first cell run as a kernel runs it (in `folder`): the namespace the summary is made from."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with _chdir(folder):
        exec(compile(LOAD, "<cell 1>", "exec"), namespace)  # the benchmark's own cell, not a user's
    return namespace


@contextlib.contextmanager
def _chdir(folder: Path) -> Iterator[None]:
    """contextlib.chdir, which Python 3.10 lacks."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run(engine: Engine, task: KernelTask, notes: str, label: str) -> dict[str, Any]:
    """The suggestion at the task's cursor on a fresh document, then one more keystroke there (a character
    the suggestion does not start with, one token generated): what typing costs with the notes cached."""
    path = f"{task.name}-{label}.ipynb"
    suggestion = engine.complete(replace(request_at(task.prefix, path, notes), max_tokens=MAX_TOKENS))
    typed = "y" if suggestion.text.startswith("x") else "x"
    keystroke = engine.complete(replace(request_at(task.prefix + typed, path, notes), max_tokens=1))
    line = suggestion.text.split("\n")[0].strip()
    return {
        "task": task.name,
        "kind": task.kind,
        "system": label,
        "suggestion": suggestion.text,
        "right": right(line, task.answers),
        "prompt_tokens": suggestion.timings.prompt_tokens,
        "evaluated": suggestion.timings.evaluated_tokens,
        "first_token_ms": suggestion.timings.prompt_ms,
        "keystroke_evaluated": keystroke.timings.evaluated_tokens,
        "keystroke_first_token_ms": keystroke.timings.prompt_ms,
    }


def request_at(prefix: str, path: str, notes: str) -> FimRequest:
    """A request at the end of the notebook's second cell, as JupyterLab sends it, with `notes`."""
    base = FimRequest(prefix, "", path=path, language="python", document=path, notes=notes)
    return notebook_request([Cell("code", LOAD), Cell("code", prefix)], 1, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--outputs", type=Path, help="write every task's suggestion here (JSON lines)")
    parser.add_argument("--time-budget-ms", type=int, default=TIME_BUDGET_MS)
    args = parser.parse_args()
    config = EngineConfig(model_path=resolve_model_path(args.model))
    config = config.with_changes(speculate=False, time_budget_ms=args.time_budget_ms)
    with tempfile.TemporaryDirectory() as folder:
        write_data(Path(folder))
        summary = summarize(kernel_namespace(Path(folder)))
    print(summary, file=sys.stderr)
    outcomes = []
    with Engine(config) as engine:
        engine.load()
        for task in TASKS:  # the two systems alternate task by task: the same machine state for both
            for label, notes in (("without", ""), ("with", summary)):
                outcomes.append(run(engine, task, notes, label))
                print(json.dumps(outcomes[-1]), file=sys.stderr, flush=True)
    if args.outputs:
        args.outputs.write_text("".join(json.dumps(o) + "\n" for o in outcomes), encoding="utf-8")
    results = figures(outcomes)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "results": results}, indent=2), encoding="utf-8")


COSTS = ("prompt_tokens", "evaluated", "first_token_ms", "keystroke_evaluated", "keystroke_first_token_ms")


def figures(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per system and kind of task: right %, and the costs (median prompt tokens and latency)."""
    results: dict[str, dict[str, float]] = {}
    for system in ("without", "with"):
        mine = [o for o in outcomes if o["system"] == system]
        row = {"right %": 100 * sum(o["right"] for o in mine) / len(mine)}
        for kind in dict.fromkeys(o["kind"] for o in mine):
            of_kind = [o for o in mine if o["kind"] == kind]
            row[f"{kind} right %"] = 100 * sum(o["right"] for o in of_kind) / len(of_kind)
        for key in COSTS:
            row[key] = statistics.median(o[key] for o in mine)
        results[system] = row
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    """The results as one Markdown table, the summary's cost as a ratio to the engine without it."""
    kinds = [key for key in results["with"] if key.endswith(" right %") and key != "right %"]
    header = ["system", "right %", *kinds, *(f"median {key.replace('_', ' ')}" for key in COSTS)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system, label in (("without", "engine, no kernel summary"), ("with", "engine + kernel summary")):
        row = results[system]
        cells = [label] + [f"{row[key]:.0f}" for key in [*header[1 : 2 + len(kinds)], *COSTS]]
        rows.append("| " + " | ".join(cells) + " |")
    with_, without = results["with"], results["without"]
    for key, what in (("first_token_ms", "first suggestion"), ("keystroke_first_token_ms", "next keystroke")):
        ratio = with_[key] / max(without[key], 1e-9)
        rows.append(f"\n{what}: first token x{ratio:.2f} with the summary ({len(TASKS)} tasks)")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
