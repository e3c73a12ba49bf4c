"""The replay's figures: per user model and system, then tabwise's ratios to each other system, and the
headline, the worse of the user models on each figure (a change must hold up for every way of working)."""

from __future__ import annotations

import statistics
from typing import Any

from bench.replay.measure import Measure

# Issue 25's targets for tabwise / llama-server: figure -> (True when higher is better, the bound).
TARGETS = {"median": (False, 0.1), "p95": (False, 0.5), "saved": (True, 1.2)}
RATIOS = ("median", "p95", "saved", "shown_nothing_taken", "first_p95")  # the figures compared, as `ratios` names them
# A latency under this is an answer from the client's own cache: no ratio to it says how fast anything is.
MIN_BASELINE_MS = 1.0


def p95(values: list[float]) -> float:
    """The 95th percentile as the earlier runs reported it (the nearest rank, the largest of few values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


def summary(measure: Measure, characters: int) -> dict[str, Any]:
    """One system's figures for one user model; `characters` is the length of the bodies typed."""
    latencies = measure.latencies_ms
    taken = [count for count in measure.accepted if count]
    nothing = sum(1 for length, count in zip(measure.lengths, measure.accepted, strict=True) if length and not count)
    first = [ms for ms, is_first in zip(latencies, measure.first, strict=True) if is_first]
    return {
        "requests": len(latencies),
        "median_ms": statistics.median(latencies),
        "p95_ms": p95(latencies),
        "first_requests": len(first),  # one a function: the first request after its file was opened
        "first_p95_ms": p95(first),
        "chars_saved": sum(taken),
        "chars_typed_without": characters,  # the bodies' characters
        "saved_per_min": sum(taken) / (characters * measure.user.key_s / 60),
        "shown_nothing_taken": nothing,  # a suggestion shown (non-empty) of which the user took nothing
        "shown_nothing_taken_per_request": nothing / len(latencies),
        "accepts": len(taken),
        "accepted_mean_chars": statistics.mean(taken) if taken else 0.0,
        "suggested_mean_chars": statistics.mean(measure.lengths),
        "right_per_request": statistics.mean(measure.right),
        "evaluated_per_request": statistics.mean(measure.evaluated),
        "latencies_ms": latencies,
        "per_request": measure.requests,  # each request: latency, tokens, line, how it was answered
    }


def _ratio(ours: float, theirs: float, least: float = 0.0) -> float | None:
    return ours / theirs if theirs and theirs >= least else None


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float | None]:
    """tabwise's figures over another system's (None where the other's is 0, or a latency under
    MIN_BASELINE_MS)."""
    return {
        "median": _ratio(ours["median_ms"], theirs["median_ms"], MIN_BASELINE_MS),
        "p95": _ratio(ours["p95_ms"], theirs["p95_ms"], MIN_BASELINE_MS),
        "saved": _ratio(ours["chars_saved"], theirs["chars_saved"]),
        "shown_nothing_taken": _ratio(
            ours["shown_nothing_taken_per_request"], theirs["shown_nothing_taken_per_request"]
        ),
        "first_p95": _ratio(ours["first_p95_ms"], theirs["first_p95_ms"], MIN_BASELINE_MS),
    }


def headline(by_user: dict[str, dict[str, float | None]], targets: bool) -> dict[str, dict[str, Any]]:
    """Per figure, the worse of the user models' ratios (the lower for characters saved, else the higher),
    which user model it was, the user models with no ratio, and with `targets` whether issue 25's target for
    it is met (never where a user model has no ratio: nothing shows it met there)."""
    worst: dict[str, dict[str, Any]] = {}
    for figure in RATIOS:
        known = [(value, user) for user, row in by_user.items() if (value := row[figure]) is not None]
        if not known:
            continue
        value, user = min(known) if figure == "saved" else max(known)
        unknown = [user for user, row in by_user.items() if row[figure] is None]
        worst[figure] = {"ratio": value, "user": user, "no_ratio": unknown}
        if targets and figure in TARGETS:
            higher, bound = TARGETS[figure]
            worst[figure]["target"] = bound
            worst[figure]["met"] = not unknown and (value >= bound if higher else value <= bound)
    return worst


def results(measures: dict[str, dict[str, Measure]], characters: int) -> dict[str, Any]:
    """Everything the run found, by user model then system, with tabwise's ratios and the headline."""
    users: dict[str, Any] = {}
    for user, systems in measures.items():
        rows = {name: summary(measure, characters) for name, measure in systems.items()}
        others = {name: ratios(rows["tabwise"], row) for name, row in rows.items() if name != "tabwise"}
        users[user] = {"about": next(iter(systems.values())).user.about, "systems": rows, "ratios": others}
    baselines = {name for user in users.values() for name in user["ratios"]}
    return {
        "users": users,
        "headline": {
            name: headline(
                {user: row["ratios"][name] for user, row in users.items() if name in row["ratios"]},
                name == "llama-server",  # the targets are against llama.vscode's way
            )
            for name in sorted(baselines)
        },
    }


def paired(served: Measure, baseline: Measure) -> dict[str, Any]:
    """The two tabwise systems request by request, as long as their users did the same (took the same of
    each suggestion, so the requests were at the same places): the median ratio of latencies where both
    evaluated the same number of prompt tokens (the same work, so what differs is the service's cost and
    the machine's noise), and the latency of the requests both answered from the cache (no model: the whole
    path through the language server and the service)."""
    same_path = next(
        (i + 1 for i, (a, b) in enumerate(zip(served.accepted, baseline.accepted, strict=False)) if a != b),
        min(len(served.accepted), len(baseline.accepted)),
    )
    pairs = list(zip(served.latencies_ms, baseline.latencies_ms, served.evaluated, baseline.evaluated, strict=False))
    pairs = pairs[:same_path]
    same = [a / max(b, 1e-3) for a, b, x, y in pairs if x == y and x > 0]
    cached = [(a, b) for a, b, x, y in pairs if x == y == 0 and max(a, b) < 100]
    return {
        "same_path": same_path,
        "same_work": len(same),
        "median_ratio": statistics.median(same) if same else float("nan"),
        "cached": len(cached),
        "cached_ms": (
            (statistics.median(a for a, _ in cached), statistics.median(b for _, b in cached)) if cached else (0, 0)
        ),
        "evaluated": {"tabwise": served.evaluated, "in-process": baseline.evaluated},
    }


def print_systems(user: str, found: dict[str, Any]) -> None:
    """One user model's table: a row per system."""
    print(f"\nuser model {user}: {found['about']}")
    print("| system | requests | median ms | p95 ms | first-request p95 ms | chars saved | shown, nothing taken "
          "(per request) | accepts (mean chars) | suggested chars/request | right chars/request "
          "| tokens evaluated/request |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in found["systems"].items():
        print(f"| {name} | {row['requests']} | {row['median_ms']:.0f} | {row['p95_ms']:.0f} | "
              f"{row['first_p95_ms']:.0f} ({row['first_requests']}) | {row['chars_saved']} of "
              f"{row['chars_typed_without']} | {row['shown_nothing_taken']} "
              f"({row['shown_nothing_taken_per_request']:.2f}) | {row['accepts']} ({row['accepted_mean_chars']:.1f}) "
              f"| {row['suggested_mean_chars']:.1f} | {row['right_per_request']:.1f} | "
              f"{row['evaluated_per_request']:.0f} |")  # fmt: skip
    systems = found["systems"]
    if "in-process" in systems:
        cost = systems["tabwise"]["median_ms"] / systems["in-process"]["median_ms"] - 1
        print(f"the service's cost at the median: {cost:+.1%} (target: at most +5%)")
    if "paired" in found:
        pair = found["paired"]
        served, local = pair["cached_ms"]
        print(f"request by request while both tabwise users did the same ({pair['same_path']} requests), where "
              f"both evaluated the same tokens ({pair['same_work']}): median ratio service / in process "
              f"x{pair['median_ratio']:.2f}; answered without the model ({pair['cached']}): median "
              f"{served:.1f} ms through the service, {local:.1f} ms in process")  # fmt: skip


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"x{value:.2f}"


def print_ratios(found: dict[str, Any]) -> None:
    """tabwise over each other system, a row per user model, then the headline: the worse of them."""
    for name, worst in found["headline"].items():
        print(f"\n| tabwise / {name} | median | p95 | chars saved | shown, nothing taken per request "
              "| first-request p95 |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for user, row in found["users"].items():
            if name in row["ratios"]:
                print(f"| {user} | " + " | ".join(_x(row["ratios"][name][figure]) for figure in RATIOS) + " |")
        cells = [_x(worst[figure]["ratio"]) if figure in worst else "n/a" for figure in RATIOS]
        print("| **headline (the worse)** | " + " | ".join(cells) + " |")
        targets = [
            f"{figure} x{worst[figure]['ratio']:.2f} ({'at least' if higher else 'at most'} x{bound}): "
            + ("met" if worst[figure]["met"] else "not met")
            + (f" (no ratio for {', '.join(worst[figure]['no_ratio'])})" if worst[figure]["no_ratio"] else "")
            for figure, (higher, bound) in TARGETS.items()
            if "met" in worst.get(figure, {})
        ]
        if targets:
            print(f"issue 25's targets, the headline against {name}: " + "; ".join(targets))
