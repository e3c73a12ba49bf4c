"""FIM prompt assembly: the family's real special tokens, the token budget, a stable layout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from completion.prompt import ANCHOR_LINES, build_fim_prompt
from completion.runtime.llama_backend import LlamaBackend
from completion.traits import detect_traits
from completion.types import ContextFile, FimRequest
from prompts import fim_format, fim_formats
from tests.conftest import TinyModels, tiny_config
from tests.tiny_model import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX


@pytest.fixture(scope="module")
def backend(tiny_models: TinyModels) -> Iterator[LlamaBackend]:
    yield LlamaBackend.load(tiny_config(tiny_models.qwen), tiny_models.qwen)


def count_words(text: str) -> int:
    return len(text.split()) + text.count("\n")


def test_family_detected_from_the_vocabulary(backend: LlamaBackend) -> None:
    traits = detect_traits(backend, reasoning_temperature=0.6, reasoning_top_p=0.95)
    assert traits.fim is not None and traits.fim.name == "qwen2.5-coder"
    assert not traits.reasoning


def test_every_shipped_format_is_complete() -> None:
    assert {f.name for f in fim_formats()} >= {"qwen2.5-coder", "deepseek-coder", "starcoder2", "codellama"}
    for fmt in fim_formats():
        rendered = fmt.infill.format(prefix="PRE", suffix="SUF")
        assert rendered.index("PRE") < rendered.index("SUF")
        assert fmt.stop


def test_markers_are_single_special_tokens(backend: LlamaBackend) -> None:
    request = FimRequest("def f():\n    return ", "\n")
    prompt = build_fim_prompt(request, fim_format("qwen2.5-coder"), backend.token_count, 1024, 0.15)
    tokens = backend._tokenize(prompt.text, add_bos=True)
    assert tokens[0] == FIM_PREFIX and tokens[-1] == FIM_MIDDLE
    assert tokens.count(FIM_SUFFIX) == 1


def test_other_files_as_comments_for_qwen_and_in_repository_form_for_starcoder2() -> None:
    request = FimRequest("x = ", "", path="main.py", context_files=(ContextFile("lib.py", "def f(): pass"),))
    qwen = build_fim_prompt(request, fim_format("qwen2.5-coder"), count_words, 1024, 0.15)
    assert qwen.text == "<|fim_prefix|># lib.py:\n# def f(): pass\nx = <|fim_suffix|><|fim_middle|>"
    assert qwen.files_shown == 1
    starcoder = build_fim_prompt(request, fim_format("starcoder2"), count_words, 1024, 0.15)
    assert starcoder.text == (
        "<repo_name>workspace<file_sep>lib.py\ndef f(): pass<file_sep>main.py\n<fim_prefix>x = <fim_suffix><fim_middle>"
    )


def test_budget_keeps_the_lines_nearest_the_cursor() -> None:
    prefix = "".join(f"line{n} = {n}\n" for n in range(500)) + "y = "
    suffix = "\n" + "".join(f"after{n} = {n}\n" for n in range(500))
    prompt = build_fim_prompt(FimRequest(prefix, suffix), fim_format("qwen2.5-coder"), count_words, 400, 0.15)
    assert count_words(prompt.text) <= 400 + 5
    assert "line499 = 499\ny = <|fim_suffix|>\nafter0 = 0" in prompt.text
    assert "line0 = 0" not in prompt.text and "after499" not in prompt.text
    assert prompt.prefix_start_line % ANCHOR_LINES == 0


def test_prefix_start_stays_put_while_typing() -> None:
    prefix = "".join(f"line{n} = {n}\n" for n in range(500))
    fmt = fim_format("qwen2.5-coder")
    starts = {
        build_fim_prompt(FimRequest(prefix + "total = " + "x" * n, ""), fmt, count_words, 400, 0.15).prefix_start_line
        for n in range(30)
    }
    assert len(starts) == 1


def test_one_huge_line_is_cut_to_the_budget() -> None:
    prompt = build_fim_prompt(FimRequest("x" * 100_000, "y" * 100_000), fim_format("qwen2.5-coder"), len, 300, 0.2)
    assert len(prompt.text) < 2_000
