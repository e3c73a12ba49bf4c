"""The per-completion debug line (completion/fim/trace.py) on the tiny scripted model: each way a live
request can be answered is named, with what it cost; and the service's TABWISE_LOG_LEVEL that turns it on."""

from __future__ import annotations

import json
import logging
import time

import pytest

from bench.replay.trace import MARK, TraceLog
from completion.engine import Engine
from completion.service.server import engine_log_level
from completion.types import FimRequest
from tests.conftest import TinyModels, tiny_config


def answered(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The trace lines logged so far, parsed."""
    lines = [r.getMessage() for r in caplog.records if r.name == "completion.fim.trace"]
    return [json.loads(line.removeprefix("answered ")) for line in lines]


def wait_until_idle(engine: Engine) -> None:
    deadline = time.monotonic() + 30
    while engine.status().busy or engine.status().queued:
        assert time.monotonic() < deadline, "the engine never went idle"
        time.sleep(0.01)


def test_each_answer_says_how_it_came_and_what_it_cost(
    tiny_models: TinyModels, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="completion.fim.trace")
    with Engine(tiny_config(tiny_models.qwen, speculate=False)) as engine:
        engine.complete(FimRequest("y = 2\n", "", document="d", time_budget_ms=1))  # shown at the budget
        engine.complete(FimRequest("y = 2\na + b", "", document="d", time_budget_ms=1))  # Tab: follows it
        wait_until_idle(engine)
        engine.complete(FimRequest("y = 2\na + b\n\nprint(", "", document="d"))  # typed ahead: the cache
        engine.complete(FimRequest("total = compute(", ") + tax\n", document="d"))  # nothing fits there
    budget, follow, cache, nothing = answered(caplog)
    assert (budget["how"], budget["route"], budget["stop"], budget["chars"]) == ("budget", "queued", "time", 5)
    assert budget["prompt_tokens"] == budget["evaluated_tokens"] + budget["reused_tokens"] > 0
    assert budget["generated_tokens"] > 0 and budget["first_token_ms"] <= budget["wait_ms"]
    assert follow["how"] in ("follow", "follow-end") and follow["route"] == "follow"
    assert follow["prompt_tokens"] == 0 and follow["cursor"] == len("y = 2\na + b")
    assert (cache["how"], cache["stop"], cache["prompt_tokens"]) == ("cache", "cached", 0)
    assert (nothing["how"], nothing["chars"]) == ("nothing", 0)


def test_nothing_is_logged_unless_debug_is_on(tiny_models: TinyModels, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="completion")
    with Engine(tiny_config(tiny_models.qwen, speculate=False)) as engine:
        engine.complete(FimRequest("y = 2\n", "", document="d"))
    assert answered(caplog) == []


def test_the_service_log_level_comes_from_the_environment() -> None:
    assert engine_log_level("debug") == logging.DEBUG
    assert engine_log_level(" Warning ") == logging.WARNING
    assert engine_log_level("") == logging.INFO  # unset
    assert engine_log_level("verbose") == logging.INFO  # a typo does not silence the log


def test_the_replay_reads_each_request_s_line_from_the_service_log(tmp_path) -> None:
    log = tmp_path / "service.log"
    log.write_text(f"t 1 completion.service.server: serving\nt 1 {MARK}" + '{"how": "cache"}\n')
    trace = TraceLog(log)
    trace.skip()  # what came before the typing
    with log.open("a") as out:
        out.write(f"t 1 {MARK}" + '{"how": "budget"}\n' + f"t 1 {MARK}" + '{"how": "follow"')  # the last unfinished
    assert trace.next_answered() == {"how": "budget"}
    with log.open("a") as out:
        out.write("}\n")
    assert trace.next_answered() == {"how": "follow"}
