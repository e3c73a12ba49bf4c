"""Keystroke-to-suggestion latency: typing function bodies back into real code, several ways, one run.

    python -m bench.typing_replay [--functions 3] [--seed 0] [--naive] [--server PATH/llama-server] [--json FILE]

Takes functions from jinja2's sources (installed with tabwise; nobody here wrote them), deletes each
body and types it back (100 ms a character). After every third word, and at each new line's
indentation, the simulated user pauses and asks for a suggestion, as an editor does, and waits for it.
The simulated user reads each suggestion and takes what is right of it: all of it with Tab when all of it
is what they were about to type, else its right start up to a word's end (VS Code's accept-next-word),
nothing when not even a word is right. After an accept the editor asks again at once at the new cursor,
and the user goes on typing from there. For each request it records the time from the last keystroke (or
the accept) to the suggestion, the prompt tokens evaluated (not reused), the suggestion's length, the
characters the user accepted (what the suggestion saved them typing) and, as earlier runs reported it, the
characters it got right (its common prefix with what comes next). The same user, with the same body and
pauses, works with:

- tabwise: the real language server over stdio (`python -m lsp_server`), didChange per keystroke,
  textDocument/inlineCompletion at each pause; the engine runs in the tabwise service the server starts
  (in a private TABWISE_RUNTIME_DIR, stopped at the end);
- in-process (the baseline for the service's cost): the same keystrokes and requests sent straight to
  a `completion.engine.Engine` in this process, as the language server did before the service
  (document_opened, document_edited with the request at the cursor for the warm-up, complete), with
  the same settings;
- naive (with `--naive`): llama-cpp-python with a fresh full prompt per request, no KV reuse, as most
  local tutorials do: the same window around the cursor as llama.vscode's (256 lines above, 64 below),
  cut to the token budget llama-server's /infill gives it, in the FIM format;
- llama-server: llama.cpp's own server run as llama.vscode's README says (`-ub 1024 -b 1024 --ctx-size 0
  --cache-reuse 256`), sent llama.vscode's requests to `/infill`: its default window, the line before the
  cursor as `prompt`, `input_extra` chunks of the files typed into before (its ring of chunks),
  `cache_prompt`, `n_predict` 128, `n_indent`, `t_max_predict_ms` 2500; multi-line answers kept as
  llama.vscode shows them, and its cache of answers (typing or accepting what an answer begins with
  shows the rest without a request). Runs when `--server` points at a built binary.

Both tabwise systems wait for the model to be loaded before the typing starts. They take the functions
in turn, each function typed into a fresh language server and service, then into a fresh in-process
engine (the service stopped first), the order alternating from one function to the next, so that a
neighbour's load drifting on a shared machine hits both alike; compare them within one run.

It prints one table: median and 95th percentile latency, characters saved (accepted) of the characters
the bodies have, accepts and their mean length, characters right per request, tokens evaluated per
request, and tabwise's ratios against each baseline. The systems' requests differ once their accepts do
(a user who accepted a line does not type it), so latencies are compared as distributions.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.processes import private_runtime, runtime_env, stop_services
from completion.types import FimRequest
from completion.weights.models import resolve_model_path

CHAR_S = 0.1  # a keystroke every 100 ms while a word is typed
REQUEST_S = 600.0  # a bound on any one request or model load (a loaded 2-core machine)
# llama.vscode's defaults (src/configuration.ts) and llama-server's /infill budget for its -b 1024:
N_PREFIX_LINES, N_SUFFIX_LINES, N_PREDICT, T_MAX_PREDICT_MS = 256, 64, 128, 2500
RING_CHUNKS, RING_CHUNK_LINES = 16, 64
PREFIX_TAKE, SUFFIX_TAKE = 768, 254  # 3/4 and 1/4 of the batch, minus the markers
SOURCES = ("compiler.py", "lexer.py", "parser.py", "environment.py", "utils.py")


@dataclass(frozen=True)
class Task:
    """A function whose body is typed back: the text before the body, the body, the text after it."""

    name: str
    before: str
    body: str
    after: str


@dataclass
class Measure:
    """What one system did at each request."""

    verbose: bool = False  # print each request
    latencies_ms: list[float] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # characters suggested
    accepted: list[int] = field(default_factory=list)  # characters the user took (0: typed on)
    right: list[int] = field(default_factory=list)  # characters matching what comes next

    def add(self, latency_ms: float, evaluated: int, suggestion: str, truth: str) -> str:
        """One request: its latency, prompt tokens evaluated, and the suggestion against what comes next;
        returns what the user accepts of it."""
        taken = accepted_part(suggestion, truth)
        self.latencies_ms.append(latency_ms)
        self.evaluated.append(evaluated)
        self.lengths.append(len(suggestion))
        self.accepted.append(len(taken))
        self.right.append(right_chars(suggestion, truth))
        if self.verbose:
            wanted = "" if taken == suggestion else f"  wanted {truth[:30]!r}"
            print(f"{latency_ms:8.0f} ms {evaluated:5d} tokens {len(taken):3d} taken  {suggestion[:50]!r}{wanted}")
        return taken


def tasks(count: int, seed: int) -> list[Task]:
    """`count` function bodies of 120-400 characters from jinja2 (docstrings kept, the rest removed)."""
    root = Path(sysconfig.get_paths()["purelib"]) / "jinja2"
    found: list[Task] = []
    for name in SOURCES:
        source = (root / name).read_text(encoding="utf-8")
        lines = source.splitlines(keepends=True)
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef) or node.end_lineno is None:
                continue
            body = node.body[1:] if ast.get_docstring(node) else node.body
            if not body:
                continue
            start, end = body[0].lineno - 1, node.end_lineno
            text = "".join(lines[start:end])
            if 120 <= len(text) <= 400 and text.count("\n") >= 3:
                found.append(Task(f"{name}:{node.name}", "".join(lines[:start]), text, "".join(lines[end:])))
    return random.Random(seed).sample(found, count)


def pauses(body: str, every: int = 3) -> list[int]:
    """Offsets in `body` where the user pauses and asks: at each line's indentation, and after every
    `every`-th word (before a space, bracket or line end)."""
    words = [i for i in range(1, len(body)) if body[i] in " \n(" and body[i - 1] not in " \n("]
    line_starts = [
        i + 1 + len(body[i + 1 :]) - len(body[i + 1 :].lstrip(" ")) for i, c in enumerate(body[:-1]) if c == "\n"
    ]
    return sorted(set(words[every - 1 :: every]) | {i for i in line_starts if i < len(body)})


def right_chars(suggestion: str, truth: str) -> int:
    """Characters of `suggestion` that match what the user types next."""
    count = 0
    for got, want in zip(suggestion, truth, strict=False):
        if got != want:
            break
        count += 1
    return count


def accepted_part(suggestion: str, truth: str) -> str:
    """What the user takes of `suggestion` when `truth` is what they were about to type: all of it when it is
    all right (Tab), else its right start up to the end of a word (accept-next-word), "" when that is only
    white space."""
    count = right_chars(suggestion, truth)
    if count < len(suggestion):
        while 0 < count < len(truth) and _in_word(truth[count - 1]) and _in_word(truth[count]):
            count -= 1  # the last word is not all right: it is not taken
    return truth[:count] if truth[:count].strip() else ""


def _in_word(char: str) -> bool:
    return char.isalnum() or char == "_"


@dataclass(frozen=True)
class Window:
    """What llama.vscode sends around a cursor: lines above, the line's text before the cursor, the rest."""

    prefix: str  # up to N_PREFIX_LINES whole lines above the cursor's line
    line: str  # the cursor's line before the cursor ("" when it is only indentation)
    indent: int  # that indentation, which llama.vscode strips from the answer
    suffix: str  # the rest of the line and up to N_SUFFIX_LINES lines below


def window(before: str, after: str) -> Window:
    """llama.vscode's context for a cursor between `before` and `after`."""
    *above, line = before.split("\n")
    rest, *below = after.split("\n")
    prefix = "".join(f"{text}\n" for text in above[-N_PREFIX_LINES:])
    suffix = rest + "\n" + "".join(f"{text}\n" for text in below[:N_SUFFIX_LINES])
    if line.strip():
        return Window(prefix, line, 0, suffix)
    return Window(prefix, "", len(line), suffix)


def shown(answer: str, indent: int) -> str:
    """An answer as llama.vscode shows it: trailing blank lines and the indentation already typed dropped."""
    lines = answer.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    text = "\n".join(lines)
    return text[min(indent, len(text) - len(text.lstrip(" \t"))) :]


def ring_chunks(done: list[Task]) -> list[dict[str, str]]:
    """llama.vscode's ring of extra context: a chunk of RING_CHUNK_LINES lines around the place typed into
    in each file worked on before (it picks one when a file is entered or edited), newest last."""
    chunks = []
    for number, task in enumerate(done[-RING_CHUNKS:]):
        lines = (task.before + task.body + task.after).split("\n")
        middle = task.before.count("\n")
        text = "\n".join(lines[max(0, middle - RING_CHUNK_LINES // 2) : middle + RING_CHUNK_LINES // 2]) + "\n"
        chunks.append({"filename": f"task{number}.py", "text": text})
    return chunks


# -- the three systems ------------------------------------------------------------------------------


class Typist(Protocol):
    """One system as the simulated user works with it: keys, accepts and requests at the cursor."""

    async def type(self, text: str) -> None:
        """Type `text` a key at a time."""

    async def accept(self, text: str) -> None:
        """Take `text` of the suggestion shown (one edit, as Tab or accept-word makes it)."""

    async def ask(self) -> tuple[str, int]:
        """The suggestion at the cursor, and the prompt tokens evaluated for it."""
        ...


async def replay(task: Task, typist: Typist, measure: Measure) -> None:
    """Type the body into `typist`: at each pause ask, take what is right, and after an accept ask again at
    the new cursor (as an editor does) until nothing is taken; then type on to the next pause."""
    offset, points = 0, pauses(task.body)
    while True:
        stop = next((point for point in points if point > offset), len(task.body))
        await typist.type(task.body[offset:stop])
        offset = stop
        while offset < len(task.body):
            asked_at = time.perf_counter()
            suggestion, evaluated = await typist.ask()
            taken = measure.add((time.perf_counter() - asked_at) * 1000, evaluated, suggestion, task.body[offset:])
            if not taken:
                break
            await typist.accept(taken)
            offset += len(taken)
        if offset >= len(task.body):
            return


@dataclass
class TextTypist:
    """A system that sees only the text at each request (the baselines): `answer(prefix, suffix)`."""

    task: Task
    answer: Callable[[str, str], tuple[str, int]]
    typed: str = ""

    async def type(self, text: str) -> None:
        self.typed += text

    async def accept(self, text: str) -> None:
        self.typed += text

    async def ask(self) -> tuple[str, int]:
        return self.answer(self.task.before + self.typed, self.task.after)


class AnswerCache:
    """llama.vscode's cache of answers: where the user typed or accepted what an answer begins with (the
    text after the cursor unchanged), the rest of it is shown without a request."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str, str]] = []  # (prefix, suffix, answer), newest last

    def lookup(self, prefix: str, suffix: str) -> str | None:
        for before, after, answer in reversed(self.answers):
            typed = prefix[len(before) :]
            if after == suffix and prefix.startswith(before) and len(typed) < len(answer) and answer.startswith(typed):
                return answer[len(typed) :]
        return None

    def put(self, prefix: str, suffix: str, answer: str) -> None:
        self.answers = [*self.answers[-249:], (prefix, suffix, answer)]  # its LRU holds 250


def run_naive(tasks_: list[Task], threads: int, verbose: bool = False) -> Measure:
    import llama_cpp

    llm = llama_cpp.Llama(str(resolve_model_path(None)), n_ctx=4096, n_threads=threads, verbose=False)
    measure = Measure(verbose)

    def tokens(text: str) -> list[int]:
        return list(llm.tokenize(text.encode(), add_bos=False, special=False))

    def ask(prefix: str, suffix: str) -> tuple[str, int]:
        near = window(prefix, suffix)
        before = llm.detokenize(tokens(near.prefix + near.line)[-PREFIX_TAKE:]).decode(errors="ignore")
        after = llm.detokenize(tokens(near.suffix)[:SUFFIX_TAKE]).decode(errors="ignore")
        prompt = f"<|fim_prefix|>{before}<|fim_suffix|>{after}<|fim_middle|>"
        llm.reset()  # no reuse: a fresh prompt every time
        out = llm.create_completion(prompt, max_tokens=N_PREDICT, temperature=0, stop=["\n\n"])
        return shown(str(out["choices"][0]["text"]), near.indent), int(out["usage"]["prompt_tokens"])

    for task in tasks_:
        asyncio.run(replay(task, TextTypist(task, ask), measure))
    return measure


def run_llama_server(tasks_: list[Task], binary: Path, threads: int, verbose: bool = False) -> Measure:
    from tests.processes import free_port  # loopback only

    port = free_port()
    command = [str(binary), "-m", str(resolve_model_path(None)), "--port", str(port), "--host", "127.0.0.1",
               "-t", str(threads), "-ub", "1024", "-b", "1024", "--ctx-size", "0", "--cache-reuse", "256",
               "--no-webui"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        measure = Measure(verbose)
        extra: list[dict[str, str]] = []
        cache = AnswerCache()

        def ask(prefix: str, suffix: str) -> tuple[str, int]:
            if (cached := cache.lookup(prefix, suffix)) is not None:
                return cached, 0
            near = window(prefix, suffix)
            body = {  # what llama.vscode sends (src/llama-server.ts)
                "id_slot": 0, "input_prefix": near.prefix, "input_suffix": near.suffix, "input_extra": extra,
                "prompt": near.line, "n_predict": N_PREDICT, "top_k": 40, "top_p": 0.99, "stream": False,
                "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True, "t_max_prompt_ms": 500,
                "t_max_predict_ms": T_MAX_PREDICT_MS, **({"n_indent": near.indent} if near.indent else {}),
            }  # fmt: skip
            request = urllib.request.Request(url + "/infill", data=json.dumps(body).encode(), method="POST")
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=300) as response:
                answer = json.loads(response.read())
            text = shown(str(answer["content"]), near.indent)
            cache.put(prefix, suffix, text)
            return text, int(answer["timings"]["prompt_n"])

        for number, task in enumerate(tasks_):
            extra[:] = ring_chunks(tasks_[:number])
            asyncio.run(replay(task, TextTypist(task, ask), measure))
        return measure
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_tabwise(tasks_: list[Task], threads: int, verbose: bool = False, measure: Measure | None = None) -> Measure:
    """The language server, with the service it starts in a private runtime directory (stopped after);
    adds to `measure` when given."""
    measure = Measure(verbose) if measure is None else measure
    with private_runtime("tw-replay-") as folder:
        try:
            return asyncio.run(asyncio.wait_for(_run_tabwise(tasks_, threads, measure, folder), 3 * 3600))
        finally:
            stop_services(folder / "run")


@dataclass
class EditorTypist(ABC):
    """A document in an editor: the cursor's position (LSP: 0-based line, UTF-16 column) and version; keys
    and accepts are edits at the cursor that a subclass sends (`_change`), after which they move on."""

    line: int
    column: int = 0
    version: int = 1

    def moved(self, text: str) -> None:
        from lsp_server.convert import after_insert

        after = after_insert(self.position(), text)
        self.line, self.column, self.version = after.line, after.character, self.version + 1

    def position(self) -> Any:
        from lsprotocol import types

        return types.Position(self.line, self.column)

    @abstractmethod
    def _change(self, text: str) -> None:
        """Send the edit that inserts `text` at the cursor (then call moved)."""

    async def type(self, text: str) -> None:
        for char in text:
            self._change(char)
            await asyncio.sleep(CHAR_S)

    async def accept(self, text: str) -> None:
        self._change(text)


class LspTypist(EditorTypist):
    """The real language server: didChange per key (and one per accept), inlineCompletion to ask."""

    def __init__(self, client: Any, uri: str, line: int) -> None:
        super().__init__(line)
        self.client, self.uri = client, uri

    def _change(self, text: str) -> None:
        from lsprotocol import types

        position = self.position()
        self.moved(text)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri),
                [types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text=text)],
            )
        )

    async def ask(self) -> tuple[str, int]:
        from lsprotocol import types

        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=self.position(),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
        result = await asyncio.wait_for(self.client.text_document_inline_completion_async(params), REQUEST_S)
        status = await asyncio.wait_for(self.client.protocol.send_request_async("tabwise/status", {}), REQUEST_S)
        suggestion = result.items[0].insert_text if result and result.items else ""
        return (suggestion if isinstance(suggestion, str) else suggestion.value), int(status.lastEvaluatedTokens)


async def _run_tabwise(tasks_: list[Task], threads: int, measure: Measure, folder: Path) -> Measure:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("typing-replay", "1")
    env = {**os.environ, **runtime_env(folder)}
    await client.start_io(sys.executable, "-m", "lsp_server", env=env, cwd=str(folder))
    options = {"threads": threads}  # everything else as a user gets it
    await asyncio.wait_for(
        client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
        ),
        REQUEST_S,
    )
    client.initialized(types.InitializedParams())
    deadline = time.monotonic() + REQUEST_S
    while time.monotonic() < deadline:  # the model loaded before the typing starts, as for the in-process run
        status = await asyncio.wait_for(client.protocol.send_request_async("tabwise/status", {}), REQUEST_S)
        if status.state == "ready":
            break
        if status.error:
            raise RuntimeError(f"the language server's service failed: {status.error}")
        await asyncio.sleep(0.2)
    for number, task in enumerate(tasks_):
        uri = f"file:///replay/task{number}.py"
        text = task.before + task.after
        item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        await replay(task, LspTypist(client, uri, task.before.count("\n")), measure)
    await asyncio.wait_for(client.shutdown_async(None), 30)
    client.exit(None)
    await asyncio.wait_for(client.stop(), 30)
    return measure


class EngineTypist(EditorTypist):
    """An Engine in this process, sent what the language server sends the service: per edit
    document_edited with the request at the cursor after it (what the warm-up evaluates), and to ask,
    complete with the server's limits on the request (its settings' defaults)."""

    def __init__(self, engine: Any, uri: str, path: str, task: Task) -> None:
        from pygls.workspace import TextDocument

        super().__init__(task.before.count("\n"))
        self.engine, self.uri, self.path = engine, uri, path
        self.document = TextDocument(uri, task.before + task.after, version=1, language_id="python")
        engine.document_opened(uri, path, self.document.source, "python", True, "")

    def _at(self) -> FimRequest:
        from lsp_server.convert import text_request

        request = text_request(self.document, self.position(), None)  # no workspace folder, as in the LSP run
        config = self.engine.config
        return dataclasses.replace(request, max_tokens=config.max_tokens, time_budget_ms=config.time_budget_ms)

    def _change(self, text: str) -> None:
        from lsprotocol import types

        position, line = self.position(), self.line
        self.document.apply_change(
            types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text=text)
        )
        self.moved(text)
        self.engine.document_edited(self.uri, self.path, self.document.source, line, self._at(), "")

    async def ask(self) -> tuple[str, int]:
        suggestion = self.engine.complete(self._at(), REQUEST_S)
        return suggestion.text, self.engine.status().last_evaluated_tokens


def run_in_process(
    tasks_: list[Task], threads: int, verbose: bool = False, measure: Measure | None = None, config: Any = None
) -> Measure:
    """The same user with an Engine in this process (EngineTypist), as the language server ran it before
    the service. `config` (an EngineConfig) replaces the server's settings, e.g. for a remote backend
    (bench/team.py)."""
    from completion.config import EngineConfig
    from completion.engine import Engine

    config = config or EngineConfig(n_threads=threads, preload=True)  # what the server's configure gives the service
    engine = Engine(config)
    try:
        engine.load(REQUEST_S)
        measure = Measure(verbose) if measure is None else measure
        for number, task in enumerate(tasks_):
            typist = EngineTypist(engine, f"file:///replay/task{number}.py", f"task{number}.py", task)
            asyncio.run(replay(task, typist, measure))
        return measure
    finally:
        engine.close()


# -- report -----------------------------------------------------------------------------------------


def summary(measure: Measure, typing_minutes: float) -> dict[str, float]:
    """One system's figures; `typing_minutes` is the time the bodies take to type whole (CHAR_S a key)."""
    latencies = sorted(measure.latencies_ms)
    taken = [count for count in measure.accepted if count]
    return {
        "requests": len(latencies),
        "median_ms": statistics.median(latencies),
        "p95_ms": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "chars_saved": sum(taken),
        "chars_typed_without": round(typing_minutes * 60 / CHAR_S),  # the bodies' characters
        "saved_per_min": sum(taken) / typing_minutes,
        "accepts": len(taken),
        "accepted_mean_chars": statistics.mean(taken) if taken else 0.0,
        "suggested_mean_chars": statistics.mean(measure.lengths),
        "right_per_request": statistics.mean(measure.right),
        "evaluated_per_request": statistics.mean(measure.evaluated),
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
        "latencies_ms": {"tabwise": served.latencies_ms, "in-process": baseline.latencies_ms},
        "evaluated": {"tabwise": served.evaluated, "in-process": baseline.evaluated},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--server", type=Path, help="a llama-server binary built from the llama.cpp sources")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--naive", action="store_true", help="also the naive way (the slowest: ~15 s a request)")
    parser.add_argument("--skip-in-process", action="store_true", help="leave out the in-process engine")
    parser.add_argument("--verbose", action="store_true", help="print every request")
    args = parser.parse_args()
    chosen = tasks(args.functions, args.seed)
    typing_minutes = sum(len(task.body) for task in chosen) * CHAR_S / 60
    if args.skip_in_process:
        results = {"tabwise": summary(run_tabwise(chosen, args.threads, args.verbose), typing_minutes)}
    else:  # function by function, alternating which goes first: a neighbour's load drifting hits both alike
        served, baseline = Measure(args.verbose), Measure(args.verbose)
        systems: list[tuple[str, Callable[..., Measure], Measure]] = [
            ("tabwise (language server, service)", run_tabwise, served),
            ("in-process engine", run_in_process, baseline),
        ]
        for number, task in enumerate(chosen):
            for name, run, measure in systems if number % 2 == 0 else systems[::-1]:
                print(f"-- {task.name}: {name}", file=sys.stderr)
                run([task], args.threads, args.verbose, measure)
        results = {"tabwise": summary(served, typing_minutes), "in-process": summary(baseline, typing_minutes)}
        paired_ = paired(served, baseline)
    if args.naive:
        results["naive"] = summary(run_naive(chosen, args.threads, args.verbose), typing_minutes)
    if args.server:
        results["llama-server"] = summary(
            run_llama_server(chosen, args.server, args.threads, args.verbose), typing_minutes
        )
    print(f"{len(chosen)} functions ({', '.join(task.name for task in chosen)}), {typing_minutes:.1f} min of typing")
    print("| system | requests | median ms | p95 ms | chars saved | accepts (mean chars) | suggested chars/request "
          "| right chars/request | tokens evaluated/request |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['requests']} | {row['median_ms']:.0f} | {row['p95_ms']:.0f} | "
              f"{row['chars_saved']} of {row['chars_typed_without']} | {row['accepts']} "
              f"({row['accepted_mean_chars']:.1f}) | {row['suggested_mean_chars']:.1f} | "
              f"{row['right_per_request']:.1f} | {row['evaluated_per_request']:.0f} |")  # fmt: skip
    ours = results["tabwise"]
    for name, row in results.items():
        if name != "tabwise":
            print(f"tabwise / {name}: median latency x{ours['median_ms'] / row['median_ms']:.2f}, "
                  f"p95 x{ours['p95_ms'] / row['p95_ms']:.2f}, chars saved x"
                  f"{ours['chars_saved'] / max(row['chars_saved'], 1e-9):.2f}")  # fmt: skip
    if "in-process" in results:
        cost = ours["median_ms"] / results["in-process"]["median_ms"] - 1
        print(f"the service's cost at the median: {cost:+.1%} (target: at most +5%)")
        print(
            f"request by request while both users did the same ({paired_['same_path']} requests), where both "
            f"evaluated the same tokens ({paired_['same_work']} requests): "
            f"median ratio x{paired_['median_ratio']:.2f}; answered without the model (cache, "
            f"{paired_['cached']} requests): median {paired_['cached_ms'][0]:.1f} ms through the service, "
            f"{paired_['cached_ms'][1]:.1f} ms in process"
        )
        results["paired"] = paired_
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
