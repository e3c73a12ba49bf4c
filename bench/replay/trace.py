"""How tabwise answered each request of a replay, from the service's debug lines (completion/fim/trace.py),
and where the time went, by the way requests were answered: to compare two commits on the same requests.

    python -m bench.replay.trace BEFORE.json NOW.json [--user tab-or-nothing]

prints, from two `bench.typing_replay --json` files, a table of tabwise's requests by how they were
answered (count, median and p95 latency, evaluated tokens), then the requests that were the first on
their line (where the prompt's suffix is evaluated again) and those that waited for their time budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

MARK = "completion.fim.trace: answered "  # the service log's per-completion line (debug level)
WAIT_S = 2.0  # a line the service writes before it answers; a request without one after this has none
# The ways of answering, in the table's order (completion/fim/trace.py says what each is).
KINDS = ("cache", "follow", "follow-end", "queued-cache", "budget", "end", "nothing", "cancelled", "error", "unknown")


class TraceLog:
    """The service's log, read from where the last request's line ended."""

    def __init__(self, path: Path) -> None:
        self.path, self._offset = path, 0

    def skip(self) -> None:
        """Forget what is logged so far (the lines before the typing: the model's load)."""
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def next_answered(self) -> dict[str, Any]:
        """The newest per-completion line since the last call ({} when none comes within WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            found = self._read()
            if found or time.monotonic() > deadline:
                return found[-1] if found else {}
            time.sleep(0.02)

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        whole = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(whole)
        lines = whole.decode("utf-8", "replace").splitlines()
        return [json.loads(line.split(MARK, 1)[1]) for line in lines if MARK in line]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _row(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Count, latency (median, p95, total) and tokens evaluated (median, total) of some requests."""
    if not requests:
        return {"count": 0}
    latencies = [r["latency_ms"] for r in requests]
    tokens = [r["evaluated"] for r in requests]
    return {
        "count": len(requests),
        "median_ms": statistics.median(latencies),
        "p95_ms": _p95(latencies),
        "total_s": sum(latencies) / 1000,
        "median_evaluated": statistics.median(tokens),
        "total_evaluated": sum(tokens),
    }


def breakdown(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests by how they were answered; the first in each file (a cold prompt); the others first on
    their line (the prompt's suffix evaluated again) and later on it; and the generated ones by where their
    time went (the queue, to the first token, after it)."""
    by = {kind: _row([r for r in requests if r["answered"].get("how", "unknown") == kind]) for kind in KINDS}
    generated = [r["answered"] for r in requests if r["answered"].get("how") in ("budget", "end")]
    warm = [r for r in requests if not r["first"] and r["answered"].get("how") in ("budget", "end")]
    return {
        "all": _row(requests),
        "by_how": {kind: row for kind, row in by.items() if row["count"]},
        "first_in_file": _row([r for r in requests if r["first"]]),  # the cold prompt
        "line_first": _row([r for r in requests if r["line_first"] and not r["first"]]),
        "line_first_generated": _row([r for r in warm if r["line_first"]]),
        "later_on_line_generated": _row([r for r in warm if not r["line_first"]]),
        "generated_ms": {
            part: statistics.median(a[part] for a in generated) if generated else 0.0
            for part in ("queued_ms", "first_token_ms", "past_first_token_ms")
        },
    }


def _cells(row: dict[str, Any]) -> str:
    if not row.get("count"):
        return "0 | | | "
    return (
        f"{row['count']} | {row['median_ms']:,.0f} | {row['p95_ms']:,.0f} | "
        f"{row['median_evaluated']:,.0f} ({row['total_evaluated']:,})"
    )


def compare(runs: dict[str, dict[str, Any]]) -> None:
    """A table: a row per way of answering, for each run its requests' count, median and p95 latency, and
    the median (total) prompt tokens evaluated."""
    names = list(runs)
    heads = " | ".join(f"{name}: requests | median ms | p95 ms | evaluated median (sum)" for name in names)
    print(f"| answered by | {heads} |")
    print("|---|" + "---|---|---|---|" * len(names))
    kinds = [kind for kind in KINDS if any(kind in run["by_how"] for run in runs.values())]
    for kind in kinds:
        print(f"| {kind} | " + " | ".join(_cells(runs[n]["by_how"].get(kind, {})) for n in names) + " |")
    for label, key in (
        ("all", "all"),
        ("the first in its file (cold)", "first_in_file"),
        ("first on its line, not the file's first", "line_first"),
        ("generated, first on its line, not the file's first", "line_first_generated"),
        ("generated, later on its line", "later_on_line_generated"),
    ):
        print(f"| {label} | " + " | ".join(_cells(runs[n][key]) for n in names) + " |")
    for name in names:
        parts = runs[name]["generated_ms"]
        print(f"{name}: generated requests' median ms: " + ", ".join(f"{k} {v:,.0f}" for k, v in parts.items()))


def _place(request: dict[str, Any]) -> tuple[str, int] | None:
    answered = request["answered"]
    return (answered["document"], answered["cursor"]) if "cursor" in answered else None


def transitions(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """For the requests made at the same place (document and cursor) in both runs, how each run answered:
    {before's way: {now's way: count}}."""
    first = {place: r for r in before if (place := _place(r)) is not None}
    found: dict[str, dict[str, int]] = {}
    for request in now:
        if (place := _place(request)) is None or place not in first:
            continue
        was, became = first[place]["answered"]["how"], request["answered"]["how"]
        found.setdefault(was, {}).setdefault(became, 0)
        found[was][became] += 1
    return found


def print_transitions(names: list[str], found: dict[str, dict[str, int]]) -> None:
    """The same places in two runs: a row per way the first answered, the second's ways with counts."""
    print(f"\nthe same places in both runs: {names[0]} -> {names[1]}")
    for was, became in found.items():
        print(f"  {was} ({sum(became.values())}): " + ", ".join(f"{how} {count}" for how, count in became.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="typing_replay --json files, e.g. before then now")
    parser.add_argument("--user", default="tab-or-nothing")
    args = parser.parse_args()
    requests = {
        path.stem: json.loads(path.read_text())["users"][args.user]["systems"]["tabwise"]["per_request"]
        for path in args.runs
    }
    compare({name: breakdown(each) for name, each in requests.items()})
    names = list(requests)
    if len(names) == 2:
        print_transitions(names, transitions(requests[names[0]], requests[names[1]]))


if __name__ == "__main__":
    main()
