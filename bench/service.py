"""The engine service on the default model: alternating clients, suggestions while an answer streams, and
recovery from a crash, each against a baseline measured in the same run.

    python -m bench.service [--keystrokes 8] [--json bench/results/service.json]

- Alternation: a request in a .py file, one in a notebook cell, then the file again with a word typed;
  tokens evaluated by that third request and its latency, with one KV slot per client (kv_slots 3)
  against one shared KV cache (kv_slots 1), and against the file alone (no notebook in between).
- Suggestions while an answer of 200+ tokens streams (an `ask`, as `%%ask` sends it): the median latency
  of keystroke requests in a file, against the same requests with the service idle.
- Recovery: the service is killed with SIGKILL; seconds from the kill to the next correct suggestion
  (the client restarts the service, which loads the model and evaluates the prompt again).

Everything runs through the real service (`completion.service`) in a private runtime directory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from completion.service.client import ServiceClient
from completion.types import FimRequest

WAIT_S = 600  # a bound on any one request on a loaded 2-core machine


def source_file() -> str:
    """A real module (jinja2's, installed with tabwise): about 150 lines above the cursor."""
    import jinja2.lexer

    text = Path(jinja2.lexer.__file__).read_text(encoding="utf-8")
    return "\n".join(text.split("\n")[:150]) + "\n"


NOTEBOOK = "".join(
    f"# %%\nfrom statistics import mean\nreadings_{n} = [{', '.join(str(n * k % 97) for k in range(12))}]\n"
    f"print(mean(readings_{n}))\n"
    for n in range(12)
)


@dataclass(frozen=True)
class Request:
    """What one suggestion cost."""

    evaluated: int
    latency_ms: float  # from sending the request to its answer
    engine_ms: float  # of that, from the engine taking it to its end (the rest: the queue, the socket)
    text: str


def ask(client: ServiceClient, request: FimRequest) -> Request:
    """One suggestion, timed from sending it."""
    began = time.perf_counter()
    suggestion = client.complete(request).result(WAIT_S)
    timings = suggestion.timings
    return Request(timings.evaluated_tokens, (time.perf_counter() - began) * 1000, timings.total_ms, suggestion.text)


def alternation(client: ServiceClient, slots: int, with_notebook: bool) -> Request:
    """File, (notebook cell,) file again with a word typed: what the last request cost."""
    client.configure({"kv_slots": slots, "speculate": False}).result(WAIT_S)
    text = source_file() + f"# run {time.time_ns()} slots {slots}\n"  # a fresh prompt: nothing cached yet
    ask(client, FimRequest(text, "\n", path="lexer.py", document="lexer.py", max_tokens=8))
    if with_notebook:
        ask(client, FimRequest(NOTEBOOK + f"# {time.time_ns()}\n", "\n", path="nb.ipynb", document="nb", max_tokens=8))
    return ask(client, FimRequest(text + "token_", "\n", path="lexer.py", document="lexer.py", max_tokens=8))


def keystrokes(client: ServiceClient, count: int, tag: str) -> list[Request]:
    """`count` requests a few tokens apart in one file, as a user typing a line at a time would send."""
    text = source_file() + f"# {tag} {time.time_ns()}\n"
    ask(client, FimRequest(text, "\n", path="lexer.py", document="keys.py", max_tokens=8))  # the file is open
    results = []
    for n in range(count):
        text += f"value_{n} = "
        results.append(ask(client, FimRequest(text, "\n", path="lexer.py", document="keys.py", max_tokens=8)))
        text += f"{n}\n"
    return results


def during_answer(client: ServiceClient, count: int) -> tuple[list[Request], int]:
    """The keystroke requests while an answer of 200+ tokens streams; also how long the answer was."""
    stream = client.ask(
        "Explain in detail, step by step, how a lexer for a template language works, "
        "with examples of tokens, states and error handling."
    )
    pieces: list[str] = []
    started = threading.Event()

    def read() -> None:
        for chunk in stream:
            pieces.append(chunk.text)
            started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started.wait(WAIT_S)
    results = keystrokes(client, count, "busy")
    still_streaming = reader.is_alive()
    reader.join(WAIT_S)
    tokens = stream.result(WAIT_S).timings.generated_tokens
    if not still_streaming:
        print("  (the answer ended before the keystrokes did: the figure is a lower bound)", file=sys.stderr)
    return results, tokens


def recovery(client: ServiceClient) -> float:
    """Seconds from SIGKILL of the service to the next correct suggestion."""
    request = FimRequest("def add(a, b):\n    return ", "\n\n\nprint(add(2, 3))\n", path="add.py", max_tokens=8)
    assert "a + b" in ask(client, request).text
    pid = int(client.status().result(WAIT_S)["service"]["pid"])
    killed = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    while True:
        try:
            text = client.complete(request).result(WAIT_S).text
        except Exception as exc:  # the request pending at the crash, or sent before the restart, fails
            print(f"  ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        if "a + b" in text:
            return time.perf_counter() - killed


def median_ms(results: list[Request]) -> float:
    return statistics.median(r.latency_ms for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keystrokes", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as runtime, ServiceClient("test", runtime) as client:
        client.connect()
        shared = alternation(client, 1, True)
        own = alternation(client, 3, True)
        alone = alternation(client, 3, False)
        report["alternation"] = {
            "kv_slots_1": shared.__dict__,
            "kv_slots_3": own.__dict__,
            "file_alone": alone.__dict__,
        }
        print("alternation (file, notebook cell, file again): the third request")
        for name, r in (("one KV cache", shared), ("a KV slot per client", own), ("file alone", alone)):
            engine = f"({r.engine_ms:.0f} in the engine)"
            print(f"  {name:22} evaluated {r.evaluated:5} tokens, {r.latency_ms:8.0f} ms {engine}")
        print(
            f"  slot per client vs shared: x{own.latency_ms / shared.latency_ms:.2f} latency; vs file alone: "
            f"x{own.latency_ms / alone.latency_ms:.2f}"
        )

        idle = keystrokes(client, args.keystrokes, "idle")
        busy, answer_tokens = during_answer(client, args.keystrokes)
        report["while_answering"] = {
            "idle_median_ms": median_ms(idle),
            "busy_median_ms": median_ms(busy),
            "answer_tokens": answer_tokens,
            "keystrokes": args.keystrokes,
        }
        print(
            f"suggestions while a {answer_tokens}-token answer streams: median {median_ms(busy):.0f} ms against "
            f"{median_ms(idle):.0f} ms idle (x{median_ms(busy) / median_ms(idle):.2f})"
        )

        seconds = recovery(client)
        report["recovery_s"] = seconds
        print(f"recovery: {seconds:.1f} s from SIGKILL of the service to the next correct suggestion")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
