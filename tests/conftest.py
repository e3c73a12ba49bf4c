"""Shared fixtures: tiny scripted GGUFs (real llama.cpp, known outputs) and engines on them; a notebook's
namespace full of code the kernel summary must not run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from tests.tiny_model import (
    ENDOFTEXT,
    FIM_MIDDLE,
    IM_END,
    R1_TEMPLATE,
    R1_TEMPLATE_WITHOUT_THINK,
    Vocabulary,
    chain,
    merge,
    write_model,
)

# What the tiny models write (each script's tokens must be distinct within its model).
FIM_SCRIPT = "a + b\n\nprint(add(1, 2))"  # after <|fim_middle|>
CHAT_SCRIPT = "The code adds two numbers."  # after "\n", the end of Qwen's assistant header
R1_SCRIPT = "Let me see.</think>\n\nIt adds two values"  # after "<think>\n"
ENDLESS_TOKEN = " ok"  # the endless model writes this forever
# After <|fim_middle|>: a call with a string that a small token limit cuts open (the bracket model).
OPEN_SCRIPT = 'print(alpha + beta, "gamma delta")'
# A test that needs a generation in progress runs the endless model with no limit of its own (ENDLESS tokens)
# in a window of ENDLESS_WINDOW tokens, the only bound left locally (llama-server shifts its context and has
# none): tens of thousands of tokens, each slower than the last as attention grows, take minutes on any
# machine. Such a test waits for the engine to say the generation runs, then acts, and never for a time.
ENDLESS = 1_000_000_000
ENDLESS_WINDOW = 32_768


def after_space(tokens: int) -> str:
    """The endless model's `tokens` tokens as shown after a space the user typed: its first space dropped, as
    the shaper drops a space the model doubles."""
    return (ENDLESS_TOKEN * tokens)[1:]


@dataclass(frozen=True)
class TinyModels:
    """Paths of the tiny models, built once per test session."""

    qwen: Path  # FIM and chat scripts
    endless: Path  # writes " ok" until stopped
    endless_lines: Path  # writes " ok\n" until stopped: lines that stand, one by one
    bracket: Path  # writes OPEN_SCRIPT: a bracket and a string its first tokens leave open
    r1: Path  # DeepSeek-R1 stand-in: chat template and <think> tokens
    r1_without_think: Path  # the same with an older template that does not open <think>


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    import llama_cpp

    folder = tmp_path_factory.mktemp("models")
    vocab = Vocabulary.qwen2()
    base = write_model(folder / "base.gguf", vocab, {}, default_next=ENDOFTEXT)
    tokenizer = llama_cpp.Llama(str(base), vocab_only=True, verbose=False)

    def ids(text: str) -> list[int]:
        return list(tokenizer.tokenize(text.encode(), add_bos=False, special=True))

    newline = ids("\n")[0]
    qwen = write_model(
        folder / "qwen.gguf",
        vocab,
        merge(chain(FIM_MIDDLE, ids(FIM_SCRIPT), ENDOFTEXT), chain(newline, ids(CHAT_SCRIPT), IM_END)),
        default_next=ENDOFTEXT,
    )
    ok = ids(ENDLESS_TOKEN)[0]
    endless = write_model(folder / "endless.gguf", vocab, {ok: ok}, default_next=ok, context_length=ENDLESS_WINDOW)
    lines = {ok: newline, newline: ok}
    endless_lines = write_model(folder / "lines.gguf", vocab, lines, default_next=ok, context_length=ENDLESS_WINDOW)
    bracket = write_model(
        folder / "bracket.gguf", vocab, chain(FIM_MIDDLE, ids(OPEN_SCRIPT), ENDOFTEXT), default_next=ENDOFTEXT
    )
    r1_vocab = vocab.with_r1_tokens()
    r1_base = write_model(folder / "r1-base.gguf", r1_vocab, {}, default_next=ENDOFTEXT, chat_template=R1_TEMPLATE)
    r1_tokenizer = llama_cpp.Llama(str(r1_base), vocab_only=True, verbose=False)
    r1_ids = list(r1_tokenizer.tokenize(R1_SCRIPT.encode(), add_bos=False, special=True))

    def r1_model(name: str, template: str, title: str) -> Path:
        return write_model(
            folder / name,
            r1_vocab,
            chain(newline, r1_ids, ENDOFTEXT),
            default_next=ENDOFTEXT,
            chat_template=template,
            name=title,
        )

    r1 = r1_model("r1.gguf", R1_TEMPLATE, "DeepSeek R1 Distill stand-in")
    r1_without_think = r1_model("r1-old.gguf", R1_TEMPLATE_WITHOUT_THINK, "DeepSeek R1 stand-in, older template")
    return TinyModels(qwen, endless, endless_lines, bracket, r1, r1_without_think)


def tiny_config(model: Path, **changes: object) -> EngineConfig:
    """Settings for a tiny model: one thread (two fight over a busy 2-core machine)."""
    return EngineConfig(model_path=model, n_threads=1, n_threads_batch=1).with_changes(**changes)


GENERATING_TOKENS = 64  # in a document's KV cache: its prompt (a few tokens) and what the model wrote after it


def generating(busy: bool, kv_slots: Iterable[tuple[str, int]], document: str) -> bool:
    """The engine is writing a completion for `document`: busy, and the document's KV cache holds far more than
    its prompt (a warm-up of the place holds the prompt only). From a status's `busy` and (sequence, tokens)."""
    return busy and any(document in sequence and tokens > GENERATING_TOKENS for sequence, tokens in kv_slots)


def endless_config(models: TinyModels, **changes: object) -> EngineConfig:
    """Settings for a generation of the endless model that runs until it is stopped (see ENDLESS)."""
    return tiny_config(models.endless, n_ctx=ENDLESS_WINDOW, time_budget_ms=600_000).with_changes(**changes)


@pytest.fixture
def qwen_engine(tiny_models: TinyModels) -> Iterator[Engine]:
    with Engine(tiny_config(tiny_models.qwen)) as engine:
        yield engine


@pytest.fixture
def endless_engine(tiny_models: TinyModels) -> Iterator[Engine]:
    with Engine(endless_config(tiny_models)) as engine:
        yield engine


HOSTILE_CELL = Path(__file__).with_name("hostile_notebook.py")  # a cell whose values' hooks note each call


@dataclass(frozen=True)
class HostileNotebook:
    namespace: dict[str, object]  # what running tests/hostile_notebook.py as a notebook cell left
    touched: Path  # the file its hooks write their names to when anything calls them


@pytest.fixture(scope="module")
def hostile_notebook(tmp_path_factory: pytest.TempPathFactory) -> HostileNotebook:
    """tests/hostile_notebook.py run as a notebook runs a cell: in a namespace named `__main__`, so its classes
    are the notebook's."""
    touched = tmp_path_factory.mktemp("hostile") / "touched.txt"
    namespace: dict[str, object] = {"__name__": "__main__", "_touched": str(touched)}
    exec(compile(HOSTILE_CELL.read_text(), str(HOSTILE_CELL), "exec"), namespace)
    return HostileNotebook(namespace, touched)


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's settings; the model cache stays shared (the real model)."""
    monkeypatch.setenv("TABWISE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("TABWISE_MODEL", raising=False)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/jupyter runs in its own session with pytest-jupyter's plugin, which takes over coroutine tests
    (and so cannot share a session with pytest-lsp's): `pytest -p pytest_jupyter.jupyter_server tests/jupyter`."""
    if collection_path.name == "jupyter" and not config.pluginmanager.has_plugin("pytest_jupyter.jupyter_server"):
        return True
    return None
