"""The first suggestion in a file just opened (completion/fim/cold.py): answered from a short prompt of the
cursor's neighbourhood in a KV sequence of its own, the full prompt warmed after it; through the real
llama.cpp on the tiny scripted model, and a real OpenAI-compatible server. No assertion depends on how long
anything took: with no prompt rate measured yet, a fresh engine decides on the uncached tokens alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from completion.fim.cold import (
    COLD_FACTOR,
    MIN_SHORT_TOKENS,
    SHARE,
    WARM_SHARE,
    PromptRate,
    ShortPrompt,
    cold_sequence,
    for_a_while,
    own_warm_s,
    short_prompt,
)
from completion.runtime import SamplingParams
from completion.runtime.host import default_factory
from completion.types import FimRequest
from tests.conftest import TinyModels, tiny_config
from tests.servers import Server, openai_server

WAIT_S = 60  # the longest a wait here may take (a busy 2-core machine), never a measure
URI, PATH = "file:///w/big.py", "big.py"
ABOVE = "".join(
    f"value_{n} = {n} * {n}  # far above the cursor\n" for n in range(36)
)  # ~650 tokens: all in the full prompt
CURSOR = "def add(a, b):\n    return "  # the tiny model answers "a + b" here
BELOW = "\n\nprint(add(1, 2))\n"


class Recording:
    """The real backend; notes each prompt it generates from (with its KV sequence) and each uncached count."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.asked: list[tuple[str, str]] = []  # (prompt, sequence) per generation
        self.uncached: list[int] = []  # what uncached_tokens answered, in order
        self.prefilled: list[tuple[str, int]] = []  # (sequence, tokens evaluated) per prefill, in order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def generate(self, prompt: str, params: Any, sequence: str = "", keep_going: Any = None) -> Any:
        self.asked.append((prompt, sequence))
        return self.backend.generate(prompt, params, sequence, keep_going)

    def prefill(self, prompt: str, keep_going: Any, sequence: str = "") -> int:
        evaluated: int = self.backend.prefill(prompt, keep_going, sequence)
        self.prefilled.append((sequence, evaluated))
        return evaluated

    def uncached_tokens(self, prompt: str, sequence: str = "") -> int:
        count: int = self.backend.uncached_tokens(prompt, sequence)
        self.uncached.append(count)
        return count


def recording_factory() -> tuple[Callable[[EngineConfig, Path], Any], list[Recording]]:
    made: list[Recording] = []

    def factory(config: EngineConfig, path: Path) -> Any:
        made.append(Recording(default_factory(config, path)))
        return made[-1]

    return factory, made


def wait_until_held(engine: Engine, sequence: str, tokens: int) -> None:
    """Until the KV cache of `sequence` holds at least `tokens` tokens (the warm-up after a cold answer)."""
    deadline = time.monotonic() + WAIT_S
    while not any(held == sequence and count >= tokens for held, count in engine.status().kv_slots):
        assert time.monotonic() < deadline, f"never warmed: {engine.status().kv_slots}"
        time.sleep(0.01)


def test_the_first_request_in_a_big_file_just_opened_is_answered_from_a_short_prompt(tiny_models: TinyModels) -> None:
    factory, made = recording_factory()
    with Engine(tiny_config(tiny_models.qwen), factory) as engine:
        engine.document_opened(URI, PATH, ABOVE + CURSOR + BELOW, warm=False)
        first = engine.complete(FimRequest(ABOVE + CURSOR, BELOW, path=PATH, document=URI))
        recorded = made[0]
        prompt, sequence = recorded.asked[0]
        assert sequence == cold_sequence(URI) and "value_35 = 35" in prompt and "value_0 = 0" not in prompt
        (full,) = recorded.uncached  # the full prompt, which no KV cache held
        assert full >= COLD_FACTOR * MIN_SHORT_TOKENS
        assert first.text == "a + b"
        assert first.timings.prompt_tokens < MIN_SHORT_TOKENS + 32 < full  # the neighbourhood, not the file
        wait_until_held(engine, URI, full - 1)  # the full prompt was warmed in the document's own sequence
        typed = engine.complete(FimRequest(ABOVE + CURSOR + "b", BELOW, path=PATH, document=URI))
        prompt, sequence = recorded.asked[-1]
        assert sequence == URI and "value_0 = 0" in prompt  # the full prompt now
        assert typed.timings.prompt_tokens >= full and typed.timings.evaluated_tokens < 20, typed.timings  # b, below


def test_a_later_request_in_a_file_still_cold_warms_its_full_prompt_before_it_answers_short(
    tiny_models: TinyModels,
) -> None:
    """An edit at the top of the file leaves most of the full prompt uncached: with a budget no warm-up could
    meet, the request advances the full prompt's warm-up by a batch itself and answers short again; with time
    enough, it warms the rest and answers from the full prompt. Opened again, its first request is short again."""
    factory, made = recording_factory()
    edited = ABOVE.replace("value_0 = 0", "value_0 = 10")  # every token after it is new to the KV cache
    with Engine(tiny_config(tiny_models.qwen, speculate=False), factory) as engine:
        engine.document_opened(URI, PATH, ABOVE + CURSOR + BELOW, warm=False)
        engine.complete(FimRequest(ABOVE + CURSOR, BELOW, path=PATH, document=URI))
        recorded = made[0]
        full = recorded.uncached[0]
        wait_until_held(engine, URI, full - 1)  # the warm-up behind the short answer is over
        while not recorded.prefilled:  # and noted
            time.sleep(0.01)
        warmed = len(recorded.prefilled)
        late = engine.complete(FimRequest(edited + CURSOR, BELOW, path=PATH, document=URI, time_budget_ms=1))
        assert recorded.asked[-1][1] == cold_sequence(URI) and late.text == "a + b"
        own = recorded.prefilled[warmed]  # the request's own, before its short answer queued the next warm-up
        assert own[0] == URI and 0 < own[1] < full // 2, recorded.prefilled
        engine.complete(FimRequest(edited + CURSOR + "b", BELOW, path=PATH, document=URI, time_budget_ms=60_000))
        assert recorded.asked[-1][1] == URI and "value_0 = 10" in recorded.asked[-1][0]
        engine.document_closed(URI, PATH)
        engine.document_opened(URI, PATH, ABOVE + CURSOR + BELOW, warm=False)
        engine.complete(FimRequest(ABOVE + CURSOR, BELOW, path=PATH, document=URI, time_budget_ms=1))
        assert recorded.asked[-1][1] == cold_sequence(URI)


def test_a_notebook_request_with_the_kernels_notes_keeps_its_full_prompt(tiny_models: TinyModels) -> None:
    """The kernel's variables are what a notebook's suggestion needs most: no short prompt drops them."""
    factory, made = recording_factory()
    notes = "df: DataFrame 3 rows: 'region' object, 'zebra_quota' int64"
    with Engine(tiny_config(tiny_models.qwen, speculate=False), factory) as engine:
        first = engine.complete(FimRequest(ABOVE + CURSOR, BELOW, path=PATH, document=URI, notes=notes))
    ((prompt, sequence),) = made[0].asked
    assert sequence == URI and "zebra_quota" in prompt and "value_0 = 0" in prompt
    assert first.timings.prompt_tokens >= COLD_FACTOR * MIN_SHORT_TOKENS  # what a short prompt would have cut


def test_a_small_file_is_answered_from_its_full_prompt(tiny_models: TinyModels) -> None:
    factory, made = recording_factory()
    with Engine(tiny_config(tiny_models.qwen, speculate=False), factory) as engine:
        engine.document_opened(URI, PATH, "x = 1\n" + CURSOR + BELOW, warm=False)
        suggestion = engine.complete(FimRequest("x = 1\n" + CURSOR, BELOW, path=PATH, document=URI))
        recorded = made[0]
        assert recorded.uncached == [suggestion.timings.prompt_tokens]  # all of it uncached, and few enough
        assert recorded.asked == [(recorded.asked[0][0], URI)] and "x = 1" in recorded.asked[0][0]
        assert suggestion.text == "a + b"
        assert not any(sequence == cold_sequence(URI) for sequence, _ in engine.status().kv_slots)


def test_asking_what_of_a_prompt_is_cached_does_not_tokenize_it_twice(tiny_models: TinyModels) -> None:
    """Every live request asks before it generates: the prompt is tokenized once for both."""
    backend: Any = default_factory(tiny_config(tiny_models.qwen), tiny_models.qwen)
    tokenized: list[str] = []
    tokenize = backend._tokenize
    backend._tokenize = lambda text, add_bos: tokenized.append(text) or tokenize(text, add_bos=add_bos)
    prompt = "<|fim_prefix|>" + ABOVE + CURSOR + "<|fim_suffix|>" + BELOW + "<|fim_middle|>"
    uncached = backend.uncached_tokens(prompt, URI)
    generation = backend.generate(prompt, SamplingParams(max_tokens=4), URI)
    "".join(generation)
    assert tokenized.count(prompt) == 1 and generation.prompt_tokens == uncached  # nothing was cached before
    backend.generate(prompt + "a", SamplingParams(max_tokens=4), URI).close()
    assert tokenized.count(prompt + "a") == 1  # another prompt: tokenized, not taken from the last


def test_a_remote_server_always_gets_the_full_prompt(tiny_models: TinyModels, tmp_path: Path) -> None:
    """The server keeps its own KV caches, unseen from here: the engine sends the full prompt even cold."""
    factory, made = recording_factory()
    with (
        openai_server(tiny_models.qwen, tmp_path) as server,
        Engine(remote_config(server, speculate=False), factory) as engine,
    ):
        suggestion = engine.complete(FimRequest(ABOVE + CURSOR, BELOW, path=PATH, document=URI))
    recorded = made[0]
    assert recorded.uncached == [0]
    ((prompt, sequence),) = recorded.asked
    assert sequence == URI and "value_0 = 0" in prompt
    assert suggestion.text == "a + b"


def remote_config(server: Server, **changes: object) -> EngineConfig:
    return EngineConfig(backend="openai", backend_url=server.url + "/v1", api_key_file=server.key_file).with_changes(
        **changes
    )


# -- the decision on its own ------------------------------------------------------------------------------


def test_before_any_rate_is_measured_only_many_uncached_tokens_take_the_short_path() -> None:
    least = COLD_FACTOR * MIN_SHORT_TOKENS
    assert short_prompt(least - 1, None, 1.0, 128) is None  # a new line's suffix: not worth less context
    assert short_prompt(least, None, 1.0, 128) == ShortPrompt(MIN_SHORT_TOKENS, MIN_SHORT_TOKENS // 4)


def test_a_measured_rate_sizes_the_short_prompt_to_its_share_of_the_budget() -> None:
    assert short_prompt(500, 1000.0, 1.0, 128) is None  # 0.5 s of a 0.6 s share: the full prompt is in time
    assert short_prompt(1000, 400.0, 1.0, 128) == ShortPrompt(int(400 * SHARE), 60)
    assert short_prompt(1000, 20.0, 1.0, 128) == ShortPrompt(MIN_SHORT_TOKENS, MIN_SHORT_TOKENS // 4)  # no smaller
    assert short_prompt(300, 20.0, 1.0, 128) is None  # 15 s, but a 192-token prompt would save too little of it
    assert short_prompt(500, 500.0, 1.0, 128) is None  # 1 s, but its 300-token short prompt saves too little


def test_the_rate_is_a_moving_average_of_real_measurements() -> None:
    rate = PromptRate()
    assert rate.value is None
    rate.note(5, 0.001)  # too few tokens to say anything
    assert rate.value is None
    rate.note(100, 1.0)
    assert rate.value == pytest.approx(100.0)
    rate.note(400, 1.0)
    assert 100.0 < rate.value < 400.0  # type: ignore[operator]
    rate.forget()
    assert rate.value is None


def test_for_a_while_goes_on_once_past_its_time_and_never_past_its_condition() -> None:
    late = for_a_while(0.0, lambda: True)
    assert late() and not late()  # one batch, however late
    assert not for_a_while(60.0, lambda: False)()
    going = for_a_while(60.0, lambda: True)
    assert going() and going()
    ending = for_a_while(0.05, lambda: True)
    assert ending()
    time.sleep(0.2)  # a batch this long, begun now, would end nearer its next boundary than the deadline
    assert not ending()


def test_a_request_that_waited_in_the_queue_warms_for_less_of_its_budget() -> None:
    assert own_warm_s(1.0, 0.0) == pytest.approx(WARM_SHARE)
    assert own_warm_s(1.0, 0.3) == pytest.approx(WARM_SHARE - 0.3)  # the wait was the warm-up's last batch
    assert own_warm_s(1.0, 60.0) < 0  # for_a_while still evaluates one batch
