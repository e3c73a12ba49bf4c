"""FIM prompt assembly: the family's real special tokens, the token budget, a stable layout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from completion.context.gatherer import CodeContext, Snippet
from completion.fim.prompt import FimPrompt, Layout, build_fim_prompt
from completion.runtime.llama_backend import LlamaBackend
from completion.runtime.traits import detect_traits
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
    prompt = build_fim_prompt(request, fim_format("qwen2.5-coder"), backend.token_count, 1024, 150)
    tokens = backend._tokenize(prompt.text, add_bos=True)
    assert tokens[0] == FIM_PREFIX and tokens[-1] == FIM_MIDDLE
    assert tokens.count(FIM_SUFFIX) == 1


def test_other_files_as_comments_for_qwen_and_in_repository_form_for_starcoder2() -> None:
    request = FimRequest("x = ", "", path="main.py", context_files=(ContextFile("lib.py", "def f(): pass"),))
    qwen = build_fim_prompt(request, fim_format("qwen2.5-coder"), count_words, 1024, 150)
    assert qwen.text == "<|fim_prefix|># lib.py:\n# def f(): pass\nx = <|fim_suffix|><|fim_middle|>"
    assert qwen.files_shown == 1
    starcoder = build_fim_prompt(request, fim_format("starcoder2"), count_words, 1024, 150)
    assert starcoder.text == (
        "<repo_name>workspace<file_sep>lib.py\ndef f(): pass<file_sep>main.py\n<fim_prefix>x = <fim_suffix><fim_middle>"
    )


def test_other_files_keep_what_fits_of_them_in_order() -> None:
    huge = ContextFile("huge.py", "def h(" + ", ".join(f"a{n}" for n in range(100)) + "): pass")
    small = ContextFile("small.py", "def g(): pass")
    big = ContextFile("big.py", "\n\n".join(f"def f{n}(a, b): pass" for n in range(100)))
    request = FimRequest("x = ", "", path="main.py", context_files=(huge, small, big))
    prompt = build_fim_prompt(request, fim_format("qwen2.5-coder"), count_words, 100, 10)  # 35 for files
    assert prompt.files_shown == 2  # the huge one cannot fit; the big one keeps its leading definitions
    assert "def h(" not in prompt.text and "f20" not in prompt.text
    assert prompt.text.index("# def g(): pass") < prompt.text.index("# def f0(a, b): pass")


def test_other_files_sit_between_the_folded_view_and_the_window() -> None:
    prefix = "import os\n" + "".join(f"line{n} = {n}\n" for n in range(500)) + "y = "
    context = CodeContext((Snippet(0, 0, "import os", 1),), (ContextFile("lib.py", "def f(): pass"),), "#")
    prompt = build_fim_prompt(FimRequest(prefix, "\n"), fim_format("qwen2.5-coder"), count_words, 400, 10, context)
    assert prompt.text.index("import os") < prompt.text.index("# lib.py:\n# def f()") < prompt.text.index("line499")


def test_budget_keeps_the_lines_nearest_the_cursor() -> None:
    prefix = "".join(f"line{n} = {n}\n" for n in range(500)) + "y = "
    suffix = "\n" + "".join(f"after{n} = {n}\n" for n in range(500))
    prompt = build_fim_prompt(FimRequest(prefix, suffix), fim_format("qwen2.5-coder"), count_words, 400, 60)
    assert count_words(prompt.text) <= 400 + 5
    assert "line499 = 499\ny = <|fim_suffix|>\nafter0 = 0" in prompt.text
    assert "line0 = 0" not in prompt.text and "after499" not in prompt.text
    assert count_words(prompt.text.split("<|fim_suffix|>")[1]) <= 60


def test_the_prefix_part_ends_at_the_cursor_while_a_line_is_typed() -> None:
    """The typed text goes before the suffix marker, not after the middle one (issue 25: the model's first
    line was right half as often so); what stays the same before it stays cached."""
    prefix = "".join(f"line{n} = {n}\n" for n in range(50)) + "def f(a):\n    "
    suffix = "\n" + "".join(f"after{n} = {n}\n" for n in range(50))
    fmt = fim_format("qwen2.5-coder")
    first = build_fim_prompt(FimRequest(prefix, suffix), fmt, count_words, 400, 60)
    typing = build_fim_prompt(FimRequest(prefix + "return a", suffix), fmt, count_words, 400, 60, None, first.layout)
    before, rest = typing.text.removeprefix("<|fim_prefix|>").split("<|fim_suffix|>")
    assert before.endswith("def f(a):\n    return a") and (prefix + "return a").endswith(before)
    assert rest.endswith("<|fim_middle|>") and suffix.startswith(rest.removesuffix("<|fim_middle|>"))
    assert typing.text.startswith(first.text.split("<|fim_suffix|>")[0])  # the prefix part as it was, then more
    assert typing.suffix_end_line == first.suffix_end_line


def test_every_family_puts_the_middle_last() -> None:
    for fmt in fim_formats():  # what follows the infill is the middle so far
        opening, between, closing = fmt.infill_markers
        assert fmt.infill == opening + "{prefix}" + between + "{suffix}" + closing


def typed(prefix: str, text: str, previous: Layout | None) -> FimPrompt:
    return build_fim_prompt(
        FimRequest(prefix + text, ""), fim_format("qwen2.5-coder"), count_words, 400, 60, None, previous
    )


def test_window_start_stays_put_while_typing_then_jumps_leaving_room() -> None:
    prefix = "".join(f"line{n} = {n}\n" for n in range(500))
    first = typed(prefix, "", None)
    layout, starts = first.layout, set()
    for n in range(1, 30):  # a line grows: the window keeps its first line
        prompt = typed(prefix, "total = " + "x " * n, layout)
        layout = prompt.layout
        starts.add(prompt.prefix_start_line)
    assert starts == {first.prefix_start_line}
    more = "".join(f"new{n} = {n}\n" for n in range(200))  # many lines later it no longer fits: a jump
    jumped = typed(prefix, more, layout)
    assert jumped.prefix_start_line > first.prefix_start_line
    grown = typed(prefix, more + "a = 1\nb = 2\n", jumped.layout)  # with room left to type into
    assert grown.prefix_start_line == jumped.prefix_start_line


def test_a_cursor_above_the_window_gets_a_fresh_one() -> None:
    prefix = "".join(f"line{n} = {n}\n" for n in range(500))
    late = typed(prefix, "", None)
    early = typed("".join(f"line{n} = {n}\n" for n in range(100)), "", late.layout)
    assert early.prefix_start_line < 100 <= late.prefix_start_line


def test_one_huge_line_is_cut_to_the_budget() -> None:
    prompt = build_fim_prompt(FimRequest("x" * 100_000, "y" * 100_000), fim_format("qwen2.5-coder"), len, 300, 60)
    assert len(prompt.text) < 2_000


def test_notes_come_first_as_comments_and_stay_put_while_typing() -> None:
    notes = "Variables in the running kernel:\ndf: DataFrame 3 rows: region str, unit_price float64"
    prefix = "import pandas as pd\n" + "".join(f"line{n} = {n}\n" for n in range(500))
    context = CodeContext((Snippet(0, 0, "import pandas as pd", 1),), (ContextFile("lib.py", "def f(): pass"),), "#")
    qwen = fim_format("qwen2.5-coder")
    first = build_fim_prompt(FimRequest(prefix + "df[", "", notes=notes), qwen, count_words, 400, 10, context)
    commented = "# Variables in the running kernel:\n# df: DataFrame 3 rows: region str, unit_price float64\n"
    assert first.text.startswith("<|fim_prefix|>" + commented)
    assert first.text.index("region str") < first.text.index("import pandas") < first.text.index("# lib.py")
    typed = build_fim_prompt(
        FimRequest(prefix + 'df["', "", notes=notes), qwen, count_words, 400, 10, context, first.layout
    )
    stable = len(first.text) - len("df[<|fim_suffix|><|fim_middle|>")
    assert typed.text[:stable] == first.text[:stable]  # a keystroke changes only the tail
    starcoder = build_fim_prompt(FimRequest("x = ", "", notes=notes), fim_format("starcoder2"), count_words, 400, 10)
    assert starcoder.text == f"<fim_prefix>{commented}x = <fim_suffix><fim_middle>"


def test_notes_keep_the_whole_lines_that_fit_their_share() -> None:
    notes = "\n".join(f"v{n}: int {n}" for n in range(200))
    prompt = build_fim_prompt(FimRequest("x = ", "", notes=notes), fim_format("qwen2.5-coder"), count_words, 100, 10)
    shown = [line for line in prompt.text.split("\n") if line.startswith(("# v", "<|fim_prefix|># v"))]
    assert 0 < len(shown) < 200 and prompt.text.count("# v") == len(shown)
    assert shown[-1].endswith(f"v{len(shown) - 1}: int {len(shown) - 1}")  # whole lines, from the first
    assert build_fim_prompt(FimRequest("x = ", ""), fim_format("qwen2.5-coder"), count_words, 100, 10).text == (
        "<|fim_prefix|>x = <|fim_suffix|><|fim_middle|>"
    )
