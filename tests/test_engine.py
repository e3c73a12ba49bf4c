"""The engine on tiny scripted GGUFs: the real llama.cpp path, with outputs known in advance."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from completion.config import EngineConfig
from completion.context.workspace import Workspace
from completion.engine import Engine
from completion.errors import Cancelled, ModelFileError, RequestError
from completion.types import ChatMessage, ChatRequest, ChunkKind, FimRequest, StopReason
from tests.conftest import (
    CHAT_SCRIPT,
    ENDLESS,
    ENDLESS_TOKEN,
    FIM_SCRIPT,
    TinyModels,
    after_space,
    endless_config,
    tiny_config,
)


def wait_until_running(engine: Engine) -> None:
    deadline = time.monotonic() + 30
    while not engine.status().busy:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.001)


def test_fim_at_top_level_takes_the_whole_block(qwen_engine: Engine) -> None:
    suggestion = qwen_engine.complete(FimRequest("x = 1\n", ""))
    assert suggestion.text == FIM_SCRIPT
    assert suggestion.stop_reason is StopReason.END
    assert suggestion.timings.prompt_tokens > 5
    assert suggestion.timings.generated_tokens == 12  # the script tokens; the end token is not evaluated


def test_fim_at_a_line_end_goes_on_until_the_scope_ends(qwen_engine: Engine) -> None:
    suggestion = qwen_engine.complete(FimRequest("def add(a, b):\n    return ", "\n"))
    assert suggestion.text == "a + b"  # the model went on with `print(...)` at column 0: outside the function
    assert suggestion.stop_reason is StopReason.STOP


def test_fim_stops_where_the_model_retypes_the_suffix(qwen_engine: Engine) -> None:
    suggestion = qwen_engine.complete(FimRequest("x = 1\n", "\n\nprint(add(1, 2))\n"))
    assert suggestion.text == "a + b"


def test_no_model_work_where_nothing_fits(qwen_engine: Engine) -> None:
    job = qwen_engine.submit_complete(FimRequest("total = compute(", ") + tax\n"))
    assert job.future.done() and job.result().text == ""
    assert qwen_engine.status().state == "unloaded"  # the model was not even loaded


def test_next_keystroke_reuses_the_cached_prompt(tiny_models: TinyModels) -> None:
    body = "".join(f"x{n} = {n}\n" for n in range(40))
    with Engine(tiny_config(tiny_models.qwen, short_cold_prompts=False)) as engine:  # the full prompt (test_cold.py)
        first = engine.complete(FimRequest(body + "def add(a, b):\n    return ", "\n"))
        second = engine.complete(FimRequest(body + "def add(a, b):\n    return b", "\n"))  # not the suggestion
    assert first.timings.reused_tokens <= 1
    assert second.timings.reused_tokens > 0.8 * second.timings.prompt_tokens
    assert second.timings.evaluated_tokens < 10


def test_typing_what_the_suggestion_begins_with_is_answered_from_the_cache(qwen_engine: Engine) -> None:
    prefix, suffix = "def add(a, b):\n    return ", "\n"
    assert qwen_engine.complete(FimRequest(prefix, suffix, document="d")).text == "a + b"
    typed_ahead = qwen_engine.complete(FimRequest(prefix + "a +", suffix, document="d"))
    assert (typed_ahead.text, typed_ahead.stop_reason) == (" b", StopReason.CACHED)
    assert typed_ahead.timings.prompt_tokens == 0  # no model work
    back = qwen_engine.complete(FimRequest(prefix, suffix, document="d"))  # returning to the position
    assert (back.text, back.stop_reason) == ("a + b", StopReason.CACHED)
    other_suffix = qwen_engine.complete(FimRequest(prefix + "a +", "  # changed\n", document="d"))
    assert other_suffix.stop_reason is not StopReason.CACHED  # text after the cursor changed: the model


def test_warm_up_evaluates_the_prompt_ahead_so_the_first_suggestion_reuses_it(qwen_engine: Engine) -> None:
    body = "".join(f"value_{n} = {n} * {n}\n" for n in range(60))
    request = FimRequest(body + "def add(a, b):\n    return ", "\n", document="w")
    warm = qwen_engine.warm(request)
    assert warm is not None and warm.result(60) > 300  # tokens evaluated, none generated
    suggestion = qwen_engine.complete(request)
    assert suggestion.text == "a + b"
    assert suggestion.timings.evaluated_tokens <= 1  # only the last prompt token was left to evaluate
    assert qwen_engine.warm(FimRequest("total = compute(", ") + tax\n")) is None  # nothing would be asked there


def wait_until_idle(engine: Engine) -> None:
    deadline = time.monotonic() + 30
    while engine.status().busy or engine.status().queued:
        assert time.monotonic() < deadline, "the engine never went idle"
        time.sleep(0.01)


def test_the_suggestion_after_an_accept_is_prepared_while_idle(qwen_engine: Engine) -> None:
    prefix, suffix = "def add(a, b):\n    return ", "\n\nresult = add(1, 2)\n"
    first = qwen_engine.complete(FimRequest(prefix, suffix, document="s"))
    wait_until_idle(qwen_engine)  # the speculation ran
    after_tab = qwen_engine.complete(FimRequest(prefix + first.text, suffix, document="s"))
    assert after_tab.stop_reason is StopReason.CACHED and after_tab.timings.prompt_tokens == 0, after_tab
    assert qwen_engine.status().last_outcome == "done"  # background work does not show as the last outcome


def test_max_tokens_bounds_the_suggestion(qwen_engine: Engine) -> None:
    suggestion = qwen_engine.complete(FimRequest("x = ", "\n", max_tokens=3))
    assert suggestion.text == "a + b"
    assert suggestion.stop_reason is StopReason.LENGTH


def test_chat_streams_the_answer(qwen_engine: Engine) -> None:
    stream = qwen_engine.explain("def add(a, b):\n    return a + b\n", "python", "add.py")
    chunks = list(stream)
    assert "".join(c.text for c in chunks) == CHAT_SCRIPT
    assert len(chunks) > 1 and all(c.kind is ChunkKind.ANSWER for c in chunks)
    result = stream.result()
    assert result.answer == CHAT_SCRIPT and result.reasoning == ""


@pytest.mark.parametrize("template", ["opens <think>", "does not open <think>"])
def test_reasoning_model_keeps_think_apart(tiny_models: TinyModels, template: str) -> None:
    """The answer starts inside <think> as R1's authors advise, whether or not the GGUF's template opens it
    (the stand-in writes its script only after "<think>\n"; otherwise it would write nothing)."""
    model = tiny_models.r1 if template == "opens <think>" else tiny_models.r1_without_think
    with Engine(tiny_config(model)) as engine:
        traits = engine.traits()
        assert traits.reasoning and traits.fim is None and not traits.system_prompt
        assert traits.temperature == pytest.approx(0.6) and traits.top_p == pytest.approx(0.95)
        stream = engine.ask("What does add do?")
        chunks = list(stream)
        result = stream.result()
        assert result.reasoning == "Let me see."
        assert result.answer == "It adds two values"
        assert "".join(c.text for c in chunks if c.kind is ChunkKind.ANSWER) == "It adds two values"
        assert all("think>" not in c.text for c in chunks)
        with pytest.raises(RequestError, match="cannot fill in the middle"):
            engine.complete(FimRequest("x = ", ""))


def test_cancel_stops_generation_between_tokens(endless_engine: Engine) -> None:
    stream = endless_engine.chat(ChatRequest((ChatMessage("user", "go"),), max_tokens=ENDLESS))
    first = next(iter(stream))
    assert first.text.strip() == "ok"
    stream.cancel()
    with pytest.raises(Cancelled):
        stream.result(timeout=30)
    follow = endless_engine.complete(FimRequest("x = ", "", max_tokens=4))
    assert follow.text == after_space(4)  # the worker goes on serving


def test_closing_a_stream_cancels_it(endless_engine: Engine) -> None:
    stream = endless_engine.chat(ChatRequest((ChatMessage("user", "go"),), max_tokens=ENDLESS))
    for _chunk in stream:
        break  # the reader walks away
    with pytest.raises(Cancelled):
        stream.result(timeout=30)


def test_newer_request_for_a_document_supersedes_the_older(endless_engine: Engine) -> None:
    older = endless_engine.submit_complete(FimRequest("x = ", "", document="a.py", max_tokens=ENDLESS))
    wait_until_running(endless_engine)
    newer = endless_engine.submit_complete(FimRequest("y = ", "", document="a.py", max_tokens=2))
    other = endless_engine.submit_complete(FimRequest("z = ", "", document="b.py", max_tokens=2))
    with pytest.raises(Cancelled, match="superseded"):
        older.result(timeout=30)
    assert newer.result(timeout=30).text == after_space(2)
    assert other.result(timeout=30).text == after_space(2)


def test_inline_requests_go_before_queued_chat(endless_engine: Engine) -> None:
    blocker = endless_engine.submit_complete(FimRequest("x = ", "", max_tokens=ENDLESS))
    wait_until_running(endless_engine)
    chat = endless_engine.chat(ChatRequest((ChatMessage("user", "go"),), max_tokens=2))
    inline = endless_engine.submit_complete(FimRequest("y = ", "", max_tokens=2))
    blocker.cancel()
    inline.result(timeout=30)
    chat.result(timeout=30)
    assert inline.future.done()
    assert inline.started_at < chat.job.started_at  # type: ignore[union-attr]


def test_missing_model_is_a_clear_error_and_nothing_breaks(tmp_path, tiny_models: TinyModels) -> None:
    with Engine(EngineConfig(model_path=tmp_path / "nope.gguf")) as engine:
        with pytest.raises(ModelFileError, match=r"no model file.*tabwise model fetch"):
            engine.complete(FimRequest("x = ", ""))
        assert engine.status().state == "error"
        engine.reconfigure(tiny_config(tiny_models.qwen)).result(30)
        assert engine.complete(FimRequest("x = 1\n", "")).text == FIM_SCRIPT
        assert engine.status().state == "ready"


def test_oversized_document_is_refused_before_queueing(qwen_engine: Engine) -> None:
    with pytest.raises(RequestError, match="too large"):
        qwen_engine.submit_complete(FimRequest("x" * 2_000_001, ""))
    with pytest.raises(RequestError, match="empty"):
        qwen_engine.explain("   ")


def test_a_line_that_never_ends_is_shown_at_its_limit_not_at_the_budget(tiny_models: TinyModels) -> None:
    """Past the budget only what stands is shown: never a line still being written, however long it waits."""
    with Engine(tiny_config(tiny_models.endless)) as engine:
        suggestion = engine.complete(FimRequest("x = ", "", max_tokens=200, time_budget_ms=1))
    assert suggestion.stop_reason is StopReason.LENGTH
    assert suggestion.text == after_space(200)  # whole words, nothing left open: it stands as the limit cut it


def test_time_budget_counts_from_the_request_and_ends_a_block_at_a_line_end(qwen_engine: Engine) -> None:
    roomy = qwen_engine.complete(FimRequest("x = 1\n", "", time_budget_ms=60_000))
    spent = qwen_engine.complete(FimRequest("y = 2\n", "", time_budget_ms=1))  # spent before the first token
    assert roomy.text.startswith("a + b\n") and roomy.stop_reason is not StopReason.TIME
    assert spent.stop_reason is StopReason.TIME and "a + b".startswith(spent.text)  # never a second line


def test_asyncio_callers_and_task_cancellation(endless_engine: Engine) -> None:
    async def scenario() -> None:
        quick = await endless_engine.complete_async(FimRequest("x = ", "", max_tokens=2))
        assert quick.text == after_space(2)
        slow = asyncio.ensure_future(endless_engine.complete_async(FimRequest("y = ", "", max_tokens=ENDLESS)))
        while not endless_engine.status().busy:
            await asyncio.sleep(0.001)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        after = await endless_engine.complete_async(FimRequest("z = ", "", max_tokens=1))
        assert after.text == after_space(1)

    asyncio.run(scenario())


def test_workspace_files_reach_the_prompt(tmp_path, tiny_models: TinyModels) -> None:
    (tmp_path / "geometry.py").write_text("def area(radius: float) -> float:\n    return 3.14159 * radius**2\n")
    request = FimRequest("from geometry import area\n\nprint(area(", "))\n", path="main.py")
    with Engine(tiny_config(tiny_models.qwen)) as bare:
        without = bare.complete(request).timings.prompt_tokens
    with Engine(tiny_config(tiny_models.qwen), workspace=Workspace(tmp_path)) as engine:
        with_files = engine.complete(request).timings.prompt_tokens
    assert with_files > without + 15  # the signature of area, in the repository format


def test_the_budget_limits_what_is_shown_and_the_rest_is_written_on_for_tab(tiny_models: TinyModels) -> None:
    with Engine(tiny_config(tiny_models.qwen, speculate=False)) as engine:
        shown = engine.complete(FimRequest("y = 2\n", "", document="d", time_budget_ms=1))  # spent at once
        assert (shown.text, shown.stop_reason) == ("a + b", StopReason.TIME)  # the first line that stands
        after_tab = engine.complete(FimRequest("y = 2\na + b", "", document="d", time_budget_ms=1))
        assert after_tab.text == "\n\nprint(add(1, 2))"  # the rest, from the same generation
        assert after_tab.timings.prompt_tokens == 0  # no generation of its own
        wait_until_idle(engine)
        typed_on = engine.complete(FimRequest("y = 2\na + b\n\nprint(", "", document="d"))
        assert (typed_on.text, typed_on.stop_reason) == ("add(1, 2))", StopReason.CACHED)


def test_a_request_elsewhere_ends_the_generation_going_on_after_its_suggestion(tiny_models: TinyModels) -> None:
    lines = tiny_models.endless_lines  # " ok\n" until stopped: each line stands
    with Engine(endless_config(tiny_models, model_path=lines, speculate=False)) as engine:
        request = FimRequest("x = ", "", document="a", max_tokens=ENDLESS, time_budget_ms=1)
        shown = engine.complete(request)
        assert (shown.text, shown.stop_reason) == (after_space(1), StopReason.TIME)  # the first line that stands
        assert engine.status().busy  # writing on, for as long as it may
        elsewhere = engine.complete(FimRequest("y = ", "", document="b", max_tokens=2))
        assert elsewhere.text == after_space(1)
        # What was shown is remembered; nothing more was: the generation ended at the request elsewhere.
        typed = engine.complete(replace(request, prefix=request.prefix + shown.text[:1], max_tokens=1))
        assert (typed.text, typed.stop_reason) == (shown.text[1:], StopReason.CACHED)
        past = engine.complete(replace(request, prefix=request.prefix + shown.text, max_tokens=1))
        assert past.stop_reason is not StopReason.CACHED and past.timings.prompt_tokens > 0


def test_an_edit_off_the_path_of_a_suggestion_ends_its_generation(tiny_models: TinyModels) -> None:
    with Engine(endless_config(tiny_models, model_path=tiny_models.endless_lines, speculate=False)) as engine:
        request = FimRequest("x = ", "", document="a", max_tokens=ENDLESS, time_budget_ms=1)
        shown = engine.complete(request)  # its first line, " ok"; the model writes on
        along = replace(request, prefix=request.prefix + shown.text[:2])
        engine.document_edited("a", "untitled", along.prefix, 0, along)  # typing what it says: goes on
        assert engine.status().busy
        away = replace(request, prefix="x = 1")
        engine.document_edited("a", "untitled", away.prefix, 0, away)
        wait_until_idle(engine)
        assert engine.status().last_outcome == "done"  # the user had the suggestion: not a failure
        past = engine.complete(replace(request, prefix=request.prefix + shown.text, max_tokens=1))
        assert past.stop_reason is not StopReason.CACHED  # it ended before writing on past what was shown


def test_tab_right_after_a_suggestion_follows_its_speculation_instead_of_generating(tiny_models: TinyModels) -> None:
    prefix, suffix = "def add(a, b):\n    return ", "\n\nresult = add(1, 2)\n"
    answers = []
    for wait in (True, False):
        with Engine(tiny_config(tiny_models.qwen)) as engine:
            first = engine.complete(FimRequest(prefix, suffix, document="s"))
            if wait:
                wait_until_idle(engine)  # the speculation is over: its answer is in the cache
            answers.append(engine.complete(FimRequest(prefix + first.text, suffix, document="s")))
    waited, at_once = answers
    assert at_once.text == waited.text
    assert at_once.timings.prompt_tokens == 0  # no generation of its own: it followed the speculation


def test_where_a_stop_rule_ends_a_suggestion_as_its_block_ends_tab_adds_nothing(tiny_models: TinyModels) -> None:
    """The model's next line after `return ok` is ` ok`, left of the body: the function is over, so the place
    after the suggestion is answered at once, from the cache, not by a generation of its own."""
    with Engine(endless_config(tiny_models, model_path=tiny_models.endless_lines, speculate=False)) as engine:
        prefix, suffix = "def f():\n    return", "\n"
        first = engine.complete(FimRequest(prefix, suffix, document="s"))
        assert (first.text, first.stop_reason) == (ENDLESS_TOKEN, StopReason.STOP)
        after_tab = engine.complete(FimRequest(prefix + first.text, suffix, document="s"))
        assert (after_tab.text, after_tab.stop_reason) == ("", StopReason.CACHED)
        assert after_tab.timings.prompt_tokens == 0


def test_where_the_model_ended_the_middle_itself_tab_adds_nothing(qwen_engine: Engine) -> None:
    first = qwen_engine.complete(FimRequest("x = 1\n", "", document="e"))
    assert (first.text, first.stop_reason) == (FIM_SCRIPT, StopReason.END)  # the model's own end
    after_tab = qwen_engine.complete(FimRequest("x = 1\n" + first.text, "", document="e"))
    assert (after_tab.text, after_tab.stop_reason) == ("", StopReason.CACHED)  # it joins the code below
