"""One simulated user typing a body into one system, and what is recorded at each request."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.replay.tasks import Task
from bench.replay.users import UserModel, right_chars

REQUEST_S = 600.0  # a bound on any one request or model load (a loaded 2-core machine)


@dataclass
class Measure:
    """What one system did at each request of one user model."""

    user: UserModel
    verbose: bool = False  # print each request
    latencies_ms: list[float] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)  # prompt tokens evaluated (not reused)
    lengths: list[int] = field(default_factory=list)  # characters suggested
    accepted: list[int] = field(default_factory=list)  # characters the user took (0: typed on)
    right: list[int] = field(default_factory=list)  # characters matching what comes next
    first: list[bool] = field(default_factory=list)  # the first request after the function's file was opened
    # Per request: the above, its line in the body, whether it was the first on that line (the prompt's
    # suffix evaluated again), and how the system says it answered (tabwise: bench/replay/trace.py).
    requests: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, latency_ms: float, evaluated: int, suggestion: str, truth: str, first: bool, where: dict[str, Any]
    ) -> str:
        """One request: its latency, prompt tokens evaluated, and the suggestion against what comes next;
        `where` is its line, whether it is the line's first request and how it was answered; returns what
        the user takes of it."""
        taken = self.user.take(suggestion, truth)
        self.requests.append(
            {"latency_ms": round(latency_ms, 1), "evaluated": evaluated, "chars": len(suggestion), "taken": len(taken)}
            | {"first": first, **where}
        )
        self.latencies_ms.append(latency_ms)
        self.evaluated.append(evaluated)
        self.lengths.append(len(suggestion))
        self.accepted.append(len(taken))
        self.right.append(right_chars(suggestion, truth))
        self.first.append(first)
        if self.verbose:
            wanted = "" if taken == suggestion else f"  wanted {truth[:30]!r}"
            how = where["answered"].get("how", "")  # tabwise's way of answering (bench/replay/trace.py)
            shown = f"{suggestion[:50]!r}{wanted}"
            print(f"{latency_ms:8.0f} ms {evaluated:5d} tokens {len(taken):3d} taken {how:>12} {shown}")
        return taken


class Typist(Protocol):
    """One system as the simulated user works with it: keys, accepts and requests at the cursor."""

    async def type(self, text: str, key_s: float) -> None:
        """Type `text` a key at a time, `key_s` seconds apart."""

    async def accept(self, text: str) -> None:
        """Take `text` of the suggestion shown (one edit, as Tab or accept-word makes it)."""

    async def ask(self) -> tuple[str, int]:
        """The suggestion at the cursor, and the prompt tokens evaluated for it."""
        ...

    def answered(self) -> dict[str, Any]:
        """How the system says it answered the last request ({}: it does not say)."""
        ...


async def replay(task: Task, typist: Typist, measure: Measure) -> None:
    """Type the body into `typist` (just opened): at each of the user's pauses ask, take what the user takes,
    and after an accept ask again at the new cursor (as an editor does) until nothing is taken; then type on
    to the next pause."""
    user, offset, first, line = measure.user, 0, True, -1
    points = user.pauses(task.body)
    while offset < len(task.body):
        stop = next((point for point in points if point > offset), len(task.body))
        await typist.type(task.body[offset:stop], user.key_s)
        offset = stop
        while offset < len(task.body):
            asked_at = time.perf_counter()
            suggestion, evaluated = await typist.ask()
            latency_ms = (time.perf_counter() - asked_at) * 1000
            where = {"line": task.body.count("\n", 0, offset), "answered": typist.answered()}
            where["line_first"], line = where["line"] != line, where["line"]
            taken = measure.add(latency_ms, evaluated, suggestion, task.body[offset:], first, where)
            first = False
            if not taken:
                break
            await typist.accept(taken)
            offset += len(taken)


@dataclass
class TextTypist:
    """A system that sees only the text at each request (the baselines): `answer(prefix, suffix)`."""

    task: Task
    answer: Callable[[str, str], tuple[str, int]]
    typed: str = ""

    async def type(self, text: str, key_s: float) -> None:
        self.typed += text  # nothing runs between requests, so the keys' time does not matter

    async def accept(self, text: str) -> None:
        self.typed += text

    async def ask(self) -> tuple[str, int]:
        return self.answer(self.task.before + self.typed, self.task.after)

    def answered(self) -> dict[str, Any]:
        return {}
