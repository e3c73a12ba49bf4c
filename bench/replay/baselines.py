"""The systems tabwise is measured against, given the same keys and requests: the naive way (a fresh full
prompt per request in llama-cpp-python) and llama.cpp's own server driven as llama.vscode drives it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.processes import end, free_port
from bench.replay.measure import REQUEST_S, Measure, TextTypist, replay
from bench.replay.tasks import Task
from completion.weights.models import resolve_model_path

# llama.vscode's defaults (src/configuration.ts) and llama-server's /infill budget for its -b 1024:
N_PREFIX_LINES, N_SUFFIX_LINES, N_PREDICT, T_MAX_PREDICT_MS = 256, 64, 128, 2500
RING_CHUNKS, RING_CHUNK_LINES = 16, 64
PREFIX_TAKE, SUFFIX_TAKE = 768, 254  # 3/4 and 1/4 of the batch, minus the markers
ANSWERS_KEPT = 250  # llama.vscode's LRU of answers


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


def run_naive(tasks_: list[Task], threads: int, measure: Measure) -> Measure:
    """llama-cpp-python with a fresh prompt per request, no KV reuse, as most local tutorials do: the same
    window as llama.vscode's, cut to the budget llama-server's /infill gives it, in the FIM format."""
    import llama_cpp

    llm = llama_cpp.Llama(str(resolve_model_path(None)), n_ctx=4096, n_threads=threads, verbose=False)

    def tokens(text: str) -> list[int]:
        return list(llm.tokenize(text.encode(), add_bos=False, special=False))

    def ask(prefix: str, suffix: str) -> tuple[str, int]:
        near = window(prefix, suffix)
        before = llm.detokenize(tokens(near.prefix + near.line)[-PREFIX_TAKE:]).decode(errors="ignore")
        after = llm.detokenize(tokens(near.suffix)[:SUFFIX_TAKE]).decode(errors="ignore")
        prompt = f"<|fim_prefix|>{before}<|fim_suffix|>{after}<|fim_middle|>"
        llm.reset()  # no reuse: a fresh prompt every time
        out = cast(dict[str, Any], llm.create_completion(prompt, max_tokens=N_PREDICT, temperature=0, stop=["\n\n"]))
        return shown(str(out["choices"][0]["text"]), near.indent), int(out["usage"]["prompt_tokens"])

    for task in tasks_:
        asyncio.run(replay(task, TextTypist(task, ask), measure))
    return measure


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
        self.answers = [*self.answers[-(ANSWERS_KEPT - 1) :], (prefix, suffix, answer)]


@dataclass
class LlamaVscode:
    """llama.vscode's client of one llama-server: its request to `/infill`, its ring of chunks of the files
    worked on before, its cache of answers."""

    url: str
    extra: list[dict[str, str]] = field(default_factory=list)  # input_extra: the ring
    cache: AnswerCache = field(default_factory=AnswerCache)

    def ask(self, prefix: str, suffix: str) -> tuple[str, int]:
        """The suggestion shown at a cursor between `prefix` and `suffix`, and the prompt tokens evaluated."""
        if (cached := self.cache.lookup(prefix, suffix)) is not None:
            return cached, 0
        near = window(prefix, suffix)
        body = {  # what llama.vscode sends (src/llama-server.ts)
            "id_slot": 0, "input_prefix": near.prefix, "input_suffix": near.suffix, "input_extra": self.extra,
            "prompt": near.line, "n_predict": N_PREDICT, "top_k": 40, "top_p": 0.99, "stream": False,
            "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True, "t_max_prompt_ms": 500,
            "t_max_predict_ms": T_MAX_PREDICT_MS, **({"n_indent": near.indent} if near.indent else {}),
        }  # fmt: skip
        request = urllib.request.Request(self.url + "/infill", data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=REQUEST_S) as response:
            answer = json.loads(response.read())
        text = shown(str(answer["content"]), near.indent)
        self.cache.put(prefix, suffix, text)
        return text, int(answer["timings"]["prompt_n"])


@contextmanager
def llama_server(binary: Path, threads: int) -> Iterator[str]:
    """llama-server on loopback, run as llama.vscode's README says for CPUs; yields its URL once it is up."""
    port = free_port()
    command = [str(binary), "-m", str(resolve_model_path(None)), "--port", str(port), "--host", "127.0.0.1",
               "-t", str(threads), "-ub", "1024", "-b", "1024", "--ctx-size", "0", "--cache-reuse", "256",
               "--no-webui"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + REQUEST_S
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        end(server)


def run_llama_server(tasks_: list[Task], binary: Path, threads: int, measure: Measure) -> Measure:
    """A fresh llama-server and llama.vscode client; the tasks in turn, each a file entered after the last."""
    with llama_server(binary, threads) as url:
        client = LlamaVscode(url)
        for number, task in enumerate(tasks_):
            client.extra[:] = ring_chunks(tasks_[:number])
            asyncio.run(replay(task, TextTypist(task, client.ask), measure))
    return measure
