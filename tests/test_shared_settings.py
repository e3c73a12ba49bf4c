"""Two front ends with different settings on one real service: tiny real GGUFs, real sockets.

The model's settings are the first configuring front end's while it is connected (no reload back and
forth); a second one is told which differ and who holds them, is served by the running model, and gets
its own once the holder leaves. Limits are each front end's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from completion.config import EngineConfig
from completion.schedule.worker import Job
from completion.service.client import ServiceClient
from completion.service.configs import ClientConfigs
from completion.service.rundir import RunDir
from completion.types import FimRequest
from tests.conftest import ENDLESS_TOKEN, FIM_SCRIPT, TinyModels
from tests.test_service import ADD, WAIT_S, rundir, tiny, wait_until

__all__ = ["rundir"]  # the fixture, shared with the service tests
FIRST_LINE = FIM_SCRIPT.split("\n")[0]


@pytest.fixture
def front_end(rundir: RunDir) -> Iterator[Callable[[str], ServiceClient]]:
    """Clients of one service named as the front ends name theirs ("lsp", "jupyter"), closed after the test."""
    made: list[ServiceClient] = []

    def make(kind: str) -> ServiceClient:
        made.append(ServiceClient(kind, rundir.path, serve_args=["--idle-exit", "60"]))
        return made[-1]

    yield make
    for client in made:
        client.close()


def fim(prefix: str, document: str) -> FimRequest:
    """A request with no limits of its own: the front end's settings decide them."""
    return FimRequest(prefix, "", path=f"{document}.py", document=f"file:///work/{document}.py")


def test_a_second_front_end_with_another_model_is_told_and_served_by_the_first_ones(
    front_end: Callable[[str], ServiceClient], tiny_models: TinyModels
) -> None:
    editor, notebook = front_end("lsp"), front_end("jupyter")
    assert editor.configure(tiny(tiny_models.qwen)).result(WAIT_S).warning is None
    told = notebook.configure(tiny(tiny_models.endless)).result(WAIT_S)
    assert told.warning is not None
    assert "lsp (connection 1)" in told.warning and "model_path" in told.warning
    assert str(tiny_models.qwen) in told.warning and str(tiny_models.endless) in told.warning
    assert told.config.model_path == tiny_models.qwen  # what it is served on, said as it is
    assert editor.configure(tiny(tiny_models.qwen)).result(WAIT_S).warning is None  # configured again: no switch
    assert notebook.configure(tiny(tiny_models.endless)).result(WAIT_S).warning == told.warning

    assert editor.complete(ADD).result(WAIT_S).text == FIRST_LINE  # still the first front end's model
    assert notebook.complete(fim(ADD.prefix, "nb")).result(WAIT_S).text == FIRST_LINE
    status = notebook.status().result(WAIT_S)
    assert status["loads"] == 1  # one load for both: no reload back and forth
    assert status["service"]["settings_from"] == "lsp (connection 1)"
    assert status["settings_warning"] == told.warning
    assert editor.status().result(WAIT_S)["settings_warning"] is None

    editor.close()  # the holder leaves: the waiting front end's model applies
    wait_until(
        lambda: notebook.status().result(WAIT_S)["service"]["settings_from"] == "jupyter (connection 2)", "handed over"
    )
    assert notebook.complete(fim("x = ", "nb")).result(WAIT_S).text.strip().startswith(ENDLESS_TOKEN.strip())
    status = notebook.status().result(WAIT_S)
    assert status["loads"] == 2 and status["settings_warning"] is None

    assert notebook.configure(tiny(tiny_models.qwen)).result(WAIT_S).warning is None  # its own change reloads
    assert notebook.complete(ADD).result(WAIT_S).text == FIRST_LINE
    assert notebook.status().result(WAIT_S)["loads"] == 3


def test_each_front_end_has_its_own_limits(front_end: Callable[[str], ServiceClient], tiny_models: TinyModels) -> None:
    editor, notebook = front_end("lsp"), front_end("jupyter")
    model = tiny(tiny_models.endless, time_budget_ms=600_000, speculate=False)
    assert editor.configure({**model, "max_tokens": 3, "chat_max_tokens": 4}).result(WAIT_S).config.max_tokens == 3
    assert notebook.configure({**model, "max_tokens": 5, "chat_max_tokens": 6}).result(WAIT_S).warning is None

    assert editor.complete(fim("x = ", "a")).result(WAIT_S).text.strip() == (ENDLESS_TOKEN * 3).strip()
    assert notebook.complete(fim("y = ", "b")).result(WAIT_S).text.strip() == (ENDLESS_TOKEN * 5).strip()
    assert editor.ask("Say ok.").result(WAIT_S).answer == (ENDLESS_TOKEN * 4).strip()
    assert notebook.ask("Say ok.").result(WAIT_S).answer == (ENDLESS_TOKEN * 6).strip()
    own = editor.complete(FimRequest("z = ", "", path="c.py", document="c", max_tokens=2)).result(WAIT_S)
    assert own.text.strip() == (ENDLESS_TOKEN * 2).strip()  # a request's own limit wins over its settings


class Applied:
    """Stands for Engine.reconfigure: records what was put in force."""

    def __init__(self) -> None:
        self.configs: list[EngineConfig] = []

    def __call__(self, config: EngineConfig) -> Job[None]:
        self.configs.append(config)
        return Job(lambda job: None, 0)


def test_the_model_settings_go_to_the_earliest_waiting_front_end() -> None:
    applied = Applied()
    configs = ClientConfigs(EngineConfig(), applied)
    a, b, c = (EngineConfig(model_path=Path(name), max_tokens=n) for name, n in (("a", 1), ("b", 2), ("c", 3)))
    assert configs.configure(1, "lsp", a) is not None
    assert configs.configure(2, "jupyter", b) is None and configs.configure(3, "lsp", c) is None
    assert configs.served(2) == EngineConfig(model_path=Path("a"), max_tokens=2)  # its limits, the model in force
    assert configs.served(4) == a  # never configured: the settings in force
    warning = configs.warning(3)
    assert warning is not None and "lsp (connection 1)" in warning and "model_path is a there, c here" in warning
    configs.client_gone(4)  # one that never configured leaves: nothing changes
    configs.client_gone(1)
    assert applied.configs == [a, b] and configs.holder() == "jupyter (connection 2)"
    assert configs.warning(2) is None and "jupyter (connection 2)" in (configs.warning(3) or "")
    configs.client_gone(2)
    configs.client_gone(3)
    assert applied.configs == [a, b, c] and configs.holder() is None
    assert configs.configure(5, "cli", a) is not None  # the only one now: its settings apply at once
