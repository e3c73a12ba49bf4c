"""The warm-up policy (completion/schedule/warmup.py) on its own, and the engine's document calls on tiny real models.

No assertion depends on how long something took: waits are bounded, and where a warm-up must not have
happened, a later one on the same timer thread is awaited first (timers fire in order of due time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from completion.config import EngineConfig
from completion.context.workspace import Workspace
from completion.engine import Engine
from completion.schedule.warmup import WarmupPolicy
from completion.types import FimRequest, StopReason
from tests.conftest import TinyModels, tiny_config

WAIT_S = 60  # the longest any wait here may take (a busy 2-core machine), never a measure


class FakeJob:
    """Stands in for the worker's Job: records a cancel."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self, why: str = "") -> None:
        self.cancelled = True


class Recorder:
    """A warm callable for the policy: the places it was asked to warm, in order."""

    def __init__(self) -> None:
        self.warmed: list[FimRequest] = []
        self.jobs: list[FakeJob] = []
        self._changed = threading.Condition()

    def __call__(self, request: FimRequest) -> Any:
        with self._changed:
            self.warmed.append(request)
            self.jobs.append(FakeJob())
            self._changed.notify_all()
            return self.jobs[-1]

    def wait_for(self, count: int) -> list[str]:
        """The documents warmed once there were `count` warm-ups (bounded wait)."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.warmed) >= count, WAIT_S), self.warmed
            return [request.prefix for request in self.warmed]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def policy_with(recorder: Recorder, pause_s: float) -> Iterator[WarmupPolicy]:
    policy = WarmupPolicy(recorder, pause_s=pause_s)
    yield policy
    policy.stop()


@pytest.fixture
def patient(recorder: Recorder) -> Iterator[WarmupPolicy]:
    """A policy whose pause never ends within a test: only at-once warm-ups happen."""
    yield from policy_with(recorder, pause_s=3600)


@pytest.fixture
def quick(recorder: Recorder) -> Iterator[WarmupPolicy]:
    """A policy with a short pause, for warm-ups after a pause (long enough that two calls in a row come
    within it)."""
    yield from policy_with(recorder, pause_s=0.3)


def at(place: str) -> FimRequest:
    return FimRequest(place, "")


def test_opening_warms_at_once_and_a_new_place_too_but_not_a_nearby_edit(
    patient: WarmupPolicy, recorder: Recorder
) -> None:
    patient.opened("d", at("end"))
    assert recorder.wait_for(1) == ["end"]
    patient.edited("d", 100, at("first edit"))  # the first edit of the document: somewhere new
    assert recorder.wait_for(2) == ["end", "first edit"]
    patient.edited("d", 110, at("nearby"))  # within 20 lines: due after the pause only
    patient.edited("d", 300, at("far away"))  # replaces the nearby one, and is warmed at once
    assert recorder.wait_for(3) == ["end", "first edit", "far away"]
    patient.opened("other", None)  # nothing to warm (completions are off there)
    patient.edited("other", None, None)
    patient.opened("last", at("last"))
    assert recorder.wait_for(4) == ["end", "first edit", "far away", "last"]


def test_a_pause_warms_at_the_edit_and_a_live_request_or_close_cancels_it(
    quick: WarmupPolicy, recorder: Recorder
) -> None:
    quick.edited("a", 10, at("a: first"))
    assert recorder.wait_for(1) == ["a: first"]
    quick.edited("a", 12, at("a: paused"))
    assert recorder.wait_for(2) == ["a: first", "a: paused"]  # after the pause
    quick.edited("a", 14, at("a: answered live"))
    quick.live("a")  # the live request evaluates that place itself
    quick.edited("b", 1, at("b: new"))
    assert recorder.wait_for(3)[-1] == "b: new"
    quick.edited("c", 1, at("c: new"))
    assert recorder.wait_for(4)[-1] == "c: new"
    quick.edited("c", 2, at("c: closed"))
    quick.closed("c")
    quick.edited("b", 2, at("b: paused"))  # due after everything above: the timers fire in order
    assert recorder.wait_for(5) == ["a: first", "a: paused", "b: new", "c: new", "b: paused"]
    quick.live("b")
    # A live request or a close cancels the document's queued warm-up (Engine.warm cancels older ones).
    assert [job.cancelled for job in recorder.jobs] == [False, True, False, True, True]


def test_an_edit_without_a_place_drops_what_was_due(quick: WarmupPolicy, recorder: Recorder) -> None:
    quick.edited("a", 1, at("a: new"))
    assert recorder.wait_for(1) == ["a: new"]
    quick.edited("a", 2, at("a: stale"))
    quick.edited("a", None, None)  # a full change: the place is unknown
    quick.edited("b", 1, at("b: new"))
    assert recorder.wait_for(2) == ["a: new", "b: new"]
    quick.edited("b", 2, at("b: paused"))
    assert recorder.wait_for(3) == ["a: new", "b: new", "b: paused"]


# -- the engine's document calls, on tiny real models -----------------------------------------------


def wait_until_warm(engine: Engine) -> None:
    """Until the model is loaded (by the warm-up: nothing else asked) and nothing runs or waits."""
    deadline = time.monotonic() + WAIT_S
    while (status := engine.status()).state != "ready" or status.busy or status.queued:
        assert time.monotonic() < deadline, f"the warm-up never ran: {status}"
        time.sleep(0.01)


def test_opening_a_document_warms_the_first_suggestion_at_its_end(qwen_engine: Engine) -> None:
    text = "".join(f"value_{n} = {n} * {n}\n" for n in range(60)) + "def add(a, b):\n    return "
    qwen_engine.document_opened("file:///w/big.py", "big.py", text)
    wait_until_warm(qwen_engine)
    suggestion = qwen_engine.complete(FimRequest(text, "", path="big.py", document="file:///w/big.py"))
    assert suggestion.text == "a + b"
    assert suggestion.timings.prompt_tokens > 300
    assert suggestion.timings.evaluated_tokens <= 1  # the warm-up evaluated the rest
    assert qwen_engine.status().last_evaluated_tokens <= 1


def test_an_edit_somewhere_new_is_warmed_at_its_cursor(qwen_engine: Engine) -> None:
    lines = [f"value_{n} = {n} * {n}" for n in range(400)]  # far beyond the budget: windows differ by place
    text = "\n".join(lines) + "\n"
    uri = "file:///w/long.py"
    qwen_engine.document_opened(uri, "long.py", text, warm=False)
    cut = len("\n".join(lines[:200])) + 1
    edited = text[:cut] + "total = \n" + text[cut:]  # a new line 200
    at = FimRequest(edited[: cut + 8], edited[cut + 8 :], path="long.py", document=uri)
    qwen_engine.document_edited(uri, "long.py", edited, 200, at)
    wait_until_warm(qwen_engine)
    suggestion = qwen_engine.complete(at)
    assert suggestion.timings.prompt_tokens > 300 and suggestion.timings.evaluated_tokens <= 1, suggestion.timings


class Recording:
    """A real backend that remembers the prompts it was asked to continue."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.prompts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def generate(self, prompt: str, params: Any, sequence: str = "", keep_going: Any = None) -> Any:
        self.prompts.append(prompt)
        return self.backend.generate(prompt, params, sequence, keep_going)


def recording_factory() -> tuple[Callable[[EngineConfig, Path], Any], list[Recording]]:
    from completion.runtime.llama_backend import LlamaBackend

    made: list[Recording] = []

    def factory(config: EngineConfig, path: Path) -> Any:
        made.append(Recording(LlamaBackend.load(config, path)))
        return made[-1]

    return factory, made


ON_DISK = "def area(radius: float) -> float:\n    return 3.14159 * radius**2\n"
UNSAVED = "def area(width: float, height: float) -> float:\n    return width * height\n"


def test_an_open_unsaved_sibling_module_is_context_over_the_file_on_disk(
    tmp_path: Path, tiny_models: TinyModels
) -> None:
    (tmp_path / "geometry.py").write_text(ON_DISK)
    factory, made = recording_factory()
    main = "from geometry import area\nfrom shapes import box\n\nprint(area("

    def prompt(engine: Engine, document: str) -> str:
        engine.complete(FimRequest(main, "))\n", path="main.py", document=document))
        return made[0].prompts[-1]

    with Engine(tiny_config(tiny_models.qwen, speculate=False), factory, Workspace(tmp_path)) as engine:
        first = prompt(engine, "m1")
        assert "radius: float" in first and "def box" not in first  # shapes.py is nowhere yet
        engine.document_opened("file:///w/geometry.py", "geometry.py", UNSAVED, warm=False)
        engine.document_opened("file:///w/shapes.py", "shapes.py", "def box(side: int) -> int: ...\n", warm=False)
        second = prompt(engine, "m2")
        assert "width: float, height: float" in second and "radius" not in second
        assert "def box(side: int)" in second  # a module that exists only in the editor, found now
        engine.document_closed("file:///w/geometry.py", "geometry.py")
        engine.document_closed("file:///w/shapes.py", "shapes.py")
        third = prompt(engine, "m3")
        assert "radius: float" in third and "def box" not in third  # the files on disk again


def test_closing_a_document_forgets_its_suggestions_and_syntax_tree(tiny_models: TinyModels) -> None:
    uri, prefix, suffix = "file:///w/add.py", "def add(a, b):\n    return ", "\n"
    request = FimRequest(prefix, suffix, path="add.py", document=uri)
    with Engine(tiny_config(tiny_models.qwen, speculate=False)) as engine:  # nothing runs after a request
        engine.document_opened(uri, "add.py", prefix + suffix, warm=False)
        assert engine.complete(request).text == "a + b"
        assert engine.complete(request).stop_reason is StopReason.CACHED
        syntax = engine._documents.syntax  # private: what the engine keeps per document
        assert any(key == uri for key, _ in syntax._documents)
        engine.document_closed(uri, "add.py")
        assert not any(key == uri for key, _ in syntax._documents)
        again = engine.complete(request)
        assert again.text == "a + b" and again.stop_reason is not StopReason.CACHED  # the model, not the cache


def test_each_workspace_root_has_its_own_files(tmp_path: Path, tiny_models: TinyModels) -> None:
    """One engine serves editors open on different folders: a request's root decides which files it sees."""
    left, right = tmp_path / "left", tmp_path / "right"
    for folder, body in ((left, ON_DISK), (right, UNSAVED)):
        folder.mkdir()
        (folder / "geometry.py").write_text(body)
    factory, made = recording_factory()
    main = "from geometry import area\n\nprint(area("
    with Engine(tiny_config(tiny_models.qwen, speculate=False), factory) as engine:
        for root, shown, hidden in ((left, "radius: float", "width"), (right, "width: float", "radius")):
            engine.complete(FimRequest(main, "))\n", path="main.py", root=str(root), document=f"{root}/main.py"))
            assert shown in made[0].prompts[-1] and hidden not in made[0].prompts[-1]
        engine.document_opened("file:///r/geometry.py", "geometry.py", "def area(n: int): ...\n", root=str(right))
        engine.complete(FimRequest(main, "))\n", path="main.py", root=str(left), document="again"))
        assert "radius: float" in made[0].prompts[-1]  # a document open in the other folder is not this one's
