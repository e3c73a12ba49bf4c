"""Each client keeps its place in the KV cache, and a streaming answer steps aside for a live suggestion:
the real llama.cpp on the tiny models, with llama.cpp's own per-context counters as the witness."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from completion.errors import Cancelled
from completion.runtime.kv_slots import KvSlots, Slot
from completion.types import ChatMessage, ChatRequest, FimRequest
from tests.conftest import ENDLESS, TinyModels, after_space, endless_config, tiny_config


def loading(made: list[Any]) -> Callable[[EngineConfig, Path], Any]:
    """A backend factory that keeps the real backend it made, to read its KV slots."""
    from completion.runtime.llama_backend import LlamaBackend

    def factory(config: EngineConfig, path: Path) -> Any:
        made.append(LlamaBackend.load(config, path))
        return made[-1]

    return factory


def source(name: str, lines: int = 60) -> str:
    """A file of distinct lines (~8 tokens each), different for each name."""
    return "".join(f"{name}_{n} = {n} * {len(name)}\n" for n in range(lines))


@pytest.mark.parametrize(("slots", "third_request_evaluates_little"), [(2, True), (1, False)])
def test_alternating_between_two_documents_keeps_both_prompts(
    tiny_models: TinyModels, slots: int, third_request_evaluates_little: bool
) -> None:
    """A file, then a notebook cell, then the file again: with a KV slot each, the third request evaluates
    only its new tokens; with one shared cache it evaluates its whole prompt again."""
    made: list[Any] = []
    config = tiny_config(  # each request evaluates its full prompt, never a short one (test_cold.py)
        tiny_models.qwen, kv_slots=slots, speculate=False, context_tokens=2048, short_cold_prompts=False
    )
    editor = FimRequest(source("editor"), "\n", path="app.py", document="file:///app.py")
    notebook = FimRequest(source("cell"), "\n", path="nb.ipynb", document="nb.ipynb#cell-3")
    with Engine(config, loading(made)) as engine:
        first = engine.complete(editor).timings
        engine.complete(notebook)
        third = engine.complete(
            FimRequest(editor.prefix + "x = ", "\n", path="app.py", document=editor.document)
        ).timings
    assert first.evaluated_tokens > 400
    assert (third.evaluated_tokens < 64) is third_request_evaluates_little, third
    assert len(made[0].kv_slots()) == slots


def test_an_answer_steps_aside_for_a_live_suggestion_and_goes_on(tiny_models: TinyModels) -> None:
    """While an answer streams (the endless model writes " ok" until stopped), a suggestion is answered
    before the answer ends; the answer then goes on without llama.cpp evaluating its prompt again."""
    made: list[Any] = []
    config = endless_config(tiny_models, speculate=False)
    with Engine(config, loading(made)) as engine:
        stream = engine.chat(ChatRequest((ChatMessage("user", "go on and on"),), max_tokens=ENDLESS))
        chunks = iter(stream)
        next(chunks)  # the answer is streaming
        suggestion = engine.complete(FimRequest("x = ", "", path="x.py", document="x.py", max_tokens=3), 60)
        assert suggestion.text == after_space(3)
        assert stream.job is not None and not stream.job.future.done()  # it did not wait for the answer's end
        for _ in range(20):
            next(chunks)  # and the answer goes on
        stream.cancel()
        (chat_slot,) = [slot for slot in made[0].kv_slots() if slot[0] == "chat"]
        _, held, evaluated = chat_slot
    prompt_tokens = held - 21  # what the slot holds is the prompt and the tokens written so far
    assert evaluated <= prompt_tokens + 1, chat_slot  # the prompt was evaluated once, not again after the suggestion


@pytest.mark.parametrize("wanted", [True, False])
def test_a_prompt_no_longer_wanted_stops_within_a_step_of_its_evaluation(tiny_models: TinyModels, wanted: bool) -> None:
    """A speculation's long prompt is evaluated PROMPT_STEP tokens at a time: a live request that comes
    meanwhile waits for one step, not for the whole prompt (what the KV cache then holds as the witness)."""
    from completion.runtime import SamplingParams
    from completion.runtime.llama_backend import PROMPT_STEP, LlamaBackend

    backend = LlamaBackend.load(tiny_config(tiny_models.qwen), tiny_models.qwen)
    looks: list[bool] = []

    def keep_going() -> bool:
        looks.append(wanted or not looks)  # unwanted from its second look on
        return looks[-1]

    prompt = source("speculation", 60)  # ~500 tokens
    if wanted:
        generation = backend.generate(prompt, SamplingParams(2), "doc", keep_going)
        assert generation.prompt_tokens > 3 * PROMPT_STEP
        generation.close()
    else:
        with pytest.raises(Cancelled):
            backend.generate(prompt, SamplingParams(2), "doc", keep_going)
    (_, held, _), *_ = backend.kv_slots()
    assert (held == PROMPT_STEP) is not wanted, held


class FakeLlama:
    """What KvSlots swaps in and out of a llama_cpp.Llama: a context, tokens held, a sampler."""

    def __init__(self) -> None:
        self._ctx, self.n_tokens, self._requires_eval, self._sampler = "ctx-0", 0, True, None
        self.input_ids = [0] * 512


@pytest.mark.parametrize(
    ("held", "prompt", "sequence", "chosen"),
    [
        ([[1, 2, 3, 4] * 40, [9] * 100], [1, 2, 3, 4] * 41, "b", 0),  # the slot holding most of the prompt
        ([[1, 2, 3, 4] * 40, [9] * 100], [7, 8] * 100, "b", 1),  # little in common: the sequence's own slot
        ([[1, 2, 3, 4] * 40], [7, 8] * 100, "b", 1),  # a new sequence, room left: a new slot
        ([[1] * 100, [2] * 100, [3] * 100], [7, 8] * 100, "z", 0),  # no room: the least recently used
    ],
)
def test_which_slot_a_prompt_takes(held: list[list[int]], prompt: list[int], sequence: str, chosen: int) -> None:
    llm = FakeLlama()
    contexts = iter(f"ctx-{n}" for n in range(1, 10))
    slots = KvSlots(llm, lambda: next(contexts), limit=3)
    made: list[Slot] = []
    for index, tokens in enumerate(held):
        slots.take(tokens, "ab"[index] if index < 2 else "c")
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        made.append(slots.active)
    slots.take(prompt, sequence)
    everything = slots.slots()
    assert everything.index(slots.active) == chosen
    assert llm._ctx == slots.active.context


def test_a_request_following_a_generation_cancelled_during_its_prompt_ends_with_it(tiny_models: TinyModels) -> None:
    """A request on the path of a generation whose prompt's evaluation was stopped (a speculation a live
    request preempted) is ended with it, not left waiting for an answer that never comes."""
    from completion.runtime.llama_backend import LlamaBackend

    started, release = threading.Event(), threading.Event()

    class StoppedDuringItsPrompt(LlamaBackend):
        def generate(self, *args: Any, **kwargs: Any) -> Any:
            started.set()
            release.wait(30)
            raise Cancelled("yielding to a live request")

    def factory(config: EngineConfig, path: Path) -> Any:
        loaded = LlamaBackend.load(config, path)
        return StoppedDuringItsPrompt(loaded._llm, loaded.info)

    request = FimRequest(source("editor"), "\n", path="app.py", document="file:///app.py")
    with Engine(tiny_config(tiny_models.qwen, speculate=False, short_cold_prompts=False), factory) as engine:
        first = engine.submit_complete(request)
        assert started.wait(30)
        follower = engine.submit_complete(request)  # on its path: it follows, it does not queue
        release.set()
        for job in (first, follower):
            with pytest.raises(Cancelled):
                job.result(30)
