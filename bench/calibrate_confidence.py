"""Calibrate the confidence thresholds (completion/fim/confidence.py) on tabwise's own functions.

    python -m bench.calibrate_confidence [--functions 6] [--seed 0] [--threads 2] [--record FILE]
        [--load FILE] [--json FILE]

Functions of tabwise's own engine (completion/, bench/replay/tasks.py `project_tasks`; the typing replay's
jinja2 functions stay unseen) are typed back as the replay's users type them: at each place either user
asks (bench/replay/users.py), the default model in process completes the body with the engine's own
pipeline, its rules of confidence off and its time budget long enough that the whole suggestion is
written; the suggestion cache is emptied before each request, so that each place has a generation. Each
generation's pieces and token log-probabilities are recorded (`--record`; `--load` reads them back
without the model). Then for each pair of thresholds the real Shaper shapes the recorded pieces
again with those thresholds, and each user judges the result against what comes next: the characters it
takes, and whether a suggestion was shown of which it takes nothing. The chosen pair removes the most
shown-but-untaken suggestions (both users together), then the most wrong characters shown, while issue
25's user (tab-or-nothing) takes no fewer characters and accept-words at most `--tolerance` (5%) fewer
(see `calibrate`).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.replay.tasks import Task, project_tasks
from bench.replay.users import USER_MODELS, right_chars
from completion.config import EngineConfig
from completion.context.syntax import SyntaxCache
from completion.fim.confidence import Confidence
from completion.fim.running import prepare
from completion.fim.shaper import Shaper
from completion.runtime import Backend, Generation, SamplingParams, TokenLogprob
from completion.types import FimRequest

HOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)  # the first line's probability below which nothing shows
SYNTAX = SyntaxCache()  # the plan's parse trees, as the engine's documents store keeps them
CUTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)  # a token's probability below which the suggestion ends


@dataclass
class Sample:
    """One request's generation as recorded: the request's text around the cursor, what the model wrote
    piece by piece with its tokens' log-probabilities, and what the user types next."""

    prefix: str
    suffix: str
    pieces: list[str]
    logprobs: list[tuple[int, float]]
    truth: str


class Recording:
    """A backend whose generations are recorded (the last one's pieces and log-probabilities)."""

    def __init__(self, backend: Backend) -> None:
        self.backend, self.info = backend, backend.info
        self.pieces: list[str] = []
        self.generation: Generation | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def generate(self, prompt: str, params: SamplingParams, *args: Any, **kwargs: Any) -> Generation:
        """The engine's generation, its tokens' log-probabilities noted (its rules are off: it asks none)."""
        self.generation = self.backend.generate(prompt, replace(params, logprobs=True), *args, **kwargs)
        self.pieces = []
        return _Recorded(self.generation, self.pieces)


class _Recorded(Generation):
    def __init__(self, generation: Generation, pieces: list[str]) -> None:
        self._generation, self._pieces = generation, pieces
        self.logprobs = generation.logprobs

    def __next__(self) -> str:
        piece = next(self._generation)
        self._pieces.append(piece)
        for name in ("prompt_tokens", "reused_tokens", "generated_tokens", "stop_reason"):
            setattr(self, name, getattr(self._generation, name))
        return piece

    def close(self) -> None:
        self._generation.close()


def record(tasks: Sequence[Task], threads: int) -> Iterator[Sample]:
    """Each place either user asks in each task, completed by the default model with confidence off."""
    from completion.engine import Engine
    from completion.runtime.host import default_factory

    recording: list[Recording] = []

    def factory(config: EngineConfig, path: Path) -> Backend:
        recording.append(Recording(default_factory(config, path)))
        return recording[-1]

    config = EngineConfig(n_threads=threads, speculate=False, time_budget_ms=600_000)
    with Engine(config, factory) as engine:
        engine.load(600)
        for number, task in enumerate(tasks):
            places = sorted({at for user in USER_MODELS.values() for at in user.pauses(task.body)})
            for at in places:
                request = FimRequest(task.before + task.body[:at], task.after, f"task{number}.py", language="python")
                recording[-1].generation = None
                engine.document_closed(request.path, request.path)  # no answer from the cache: one generation each
                cost = engine.complete(request, 600).timings
                print(f"{cost.total_ms:7.0f} ms, {cost.evaluated_tokens} evaluated, {cost.generated_tokens} written")
                generation = recording[-1].generation
                if generation is not None:
                    logprobs = [(t.end, t.logprob) for t in generation.logprobs]
                    yield Sample(request.prefix, request.suffix, list(recording[-1].pieces), logprobs, task.body[at:])


def shaped(sample: Sample, confidence: Confidence) -> str:
    """The suggestion the engine shows for `sample` with `confidence`'s thresholds."""
    request = FimRequest(sample.prefix, sample.suffix, "task.py", language="python")
    prepared = prepare(request, SYNTAX)
    shaper = Shaper(request, prepared.plan, prepared.rules, confidence)
    logprobs = [TokenLogprob(end, logprob) for end, logprob in sample.logprobs]
    for piece in sample.pieces:
        if shaper.feed(piece, logprobs):
            break
    return shaper.finish()


def score(samples: Sequence[Sample], confidence: Confidence) -> dict[str, Any]:
    """Per user: characters taken, suggestions shown, and shown of which nothing was taken; and the characters
    shown that were wrong (past the right start of each suggestion)."""
    result: dict[str, Any] = {name: {"taken": 0, "shown": 0, "nothing_taken": 0} for name in USER_MODELS}
    result["wrong_chars"] = 0
    for sample in samples:
        text = shaped(sample, confidence)
        result["wrong_chars"] += len(text) - right_chars(text, sample.truth)
        for name, user in USER_MODELS.items():
            taken = user.take(text, sample.truth)
            result[name]["taken"] += len(taken)
            result[name]["shown"] += bool(text)
            result[name]["nothing_taken"] += bool(text) and not taken
    return result


def calibrate(samples: Sequence[Sample], tolerance: float) -> tuple[Confidence, list[dict[str, Any]]]:
    """The grid's scores, and the pair that removes the most shown-but-untaken suggestions (both users), then
    the most wrong characters shown, while issue 25's user (tab-or-nothing) takes no fewer characters and
    accept-words at most `tolerance` fewer: a request's characters overstate what holding it back costs the
    replay's user, who types on and is shown the rest at the next pause."""
    rows: list[dict[str, Any]] = []
    for hold, cut in itertools.product(HOLDS, CUTS):
        rows.append({"hold": hold, "cut": cut, **score(samples, Confidence(hold, cut))})
    base = rows[0]
    floor = {"tab-or-nothing": base["tab-or-nothing"]["taken"], "accept-words": base["accept-words"]["taken"]}
    floor["accept-words"] *= 1 - tolerance
    keeps = [r for r in rows if all(r[name]["taken"] >= floor[name] for name in USER_MODELS)]
    best = min(keeps, key=lambda r: (sum(r[n]["nothing_taken"] for n in USER_MODELS), r["wrong_chars"]))
    return Confidence(best["hold"], best["cut"]), rows


def report(samples: Sequence[Sample], chosen: Confidence, rows: list[dict[str, Any]]) -> None:
    print(f"{len(samples)} requests with a generation of their own")
    print(
        "hold  cut  | " + " | ".join(f"{name}: taken, shown, nothing taken" for name in USER_MODELS) + " | wrong chars"
    )
    for row in rows:
        mark = "  <- chosen" if (row["hold"], row["cut"]) == (chosen.hold, chosen.cut) else ""
        cells = " | ".join(
            f"{row[n]['taken']:5d} {row[n]['shown']:4d} {row[n]['nothing_taken']:4d}" for n in USER_MODELS
        )
        print(f"{row['hold']:.2f} {row['cut']:.2f} | {cells} | {row['wrong_chars']:5d}{mark}")
    print(f"chosen: confidence_hold={chosen.hold}, confidence_cut={chosen.cut}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--functions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", type=Path, help="write the recorded generations here")
    parser.add_argument("--load", type=Path, help="read recorded generations instead of running the model")
    parser.add_argument("--json", type=Path, help="write the grid and the choice here")
    parser.add_argument("--tolerance", type=float, default=0.05, help="accept-words' characters it may lose")
    args = parser.parse_args()
    if args.load:
        samples = [Sample(**entry) for entry in json.loads(args.load.read_text())]
    else:
        samples = []
        for sample in record(project_tasks(args.functions, args.seed), args.threads):
            samples.append(sample)
            print(f"{len(samples):4d} {''.join(sample.pieces)[:60]!r}  wanted {sample.truth[:30]!r}", flush=True)
            if args.record:  # as it goes: a run cut short still calibrates on what it recorded
                args.record.write_text(json.dumps([asdict(s) for s in samples]))
    chosen, rows = calibrate(samples, args.tolerance)
    report(samples, chosen, rows)
    if args.json:
        args.json.write_text(json.dumps({"chosen": asdict(chosen), "requests": len(samples), "grid": rows}, indent=1))


if __name__ == "__main__":
    main()
