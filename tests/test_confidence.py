"""Suggestions the model is unsure of: held back or cut (completion/fim/confidence.py), the rule on its own and
end to end through each runtime that gives token probabilities, on a tiny model whose probabilities are known."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from completion.config import EngineConfig
from completion.context.syntax import SyntaxCache
from completion.engine import Engine
from completion.fim.confidence import Confidence, Written, confident_end, unsure_at
from completion.fim.running import prepare
from completion.fim.shaper import Shaper
from completion.languages import rules_for
from completion.runtime import SamplingParams, TokenLogprob
from completion.runtime.host import default_factory
from completion.types import FimRequest
from tests.conftest import tiny_config
from tests.servers import Server, llama_server, openai_server
from tests.tiny_model import ENDOFTEXT, FIM_MIDDLE, Vocabulary, chain, write_model

PYTHON = rules_for("python")
SURE, UNSURE = math.log(0.95), math.log(0.2)


def tokens(*pieces: tuple[str, float]) -> tuple[str, list[TokenLogprob]]:
    """The text of (text, log-probability) tokens and their TokenLogprobs."""
    text, noted = "", []
    for piece, logprob in pieces:
        text += piece
        noted.append(TokenLogprob(len(text), logprob))
    return text, noted


def end_of(text: str, noted: list[TokenLogprob], confidence: Confidence, line_before: str = "    ") -> int | None:
    return confident_end(Written(text, 0, line_before, PYTHON), noted, confidence)


def test_a_suggestion_is_cut_after_the_last_whole_line_before_the_model_doubts() -> None:
    text, noted = tokens(("total", SURE), (" = a", SURE), ("\n", SURE), ("    return", UNSURE), (" total", SURE))
    assert end_of(text, noted, Confidence(cut=0.3)) == len("total = a")
    assert end_of(text, noted, Confidence(cut=0.1)) is None  # sure enough: all of it
    assert end_of(text, noted, Confidence()) is None  # rules off


def test_an_unsure_first_line_is_held_back() -> None:
    text, noted = tokens(("total", math.log(0.5)), (" = a", math.log(0.8)), ("\n", SURE))
    assert end_of(text, noted, Confidence(hold=0.5)) == 0  # 0.5 x 0.8 x 0.95 < 0.5
    assert end_of(text, noted, Confidence(hold=0.3)) is None
    first, noted = tokens(("\n    ", SURE), ("total", UNSURE), (" = a", SURE))
    assert end_of(first, noted, Confidence(cut=0.3)) is None  # its first token of code is the hold's to judge
    assert end_of(first, noted, Confidence(hold=0.3, cut=0.3)) == 0  # one of several names: held back if unlikely
    assert end_of(first, noted, Confidence(hold=0.1, cut=0.3)) is None  # `df["` -> `region"]`: one of 3 columns


def test_within_a_line_the_cut_is_at_a_word_end_where_the_text_stands() -> None:
    text, noted = tokens(("sum", SURE), ("(values", SURE), (")", SURE), (" /", SURE), (" len", UNSURE))
    assert end_of(text, noted, Confidence(cut=0.3), "    return ") == len("sum(values) /")
    text, noted = tokens(("max", SURE), ("(items", SURE), (",", SURE), (" key", UNSURE), ("=len)", SURE))
    assert end_of(text, noted, Confidence(cut=0.3), "    return ") == len("max")  # never inside the bracket
    text, noted = tokens(("value", SURE), (" =", SURE), (" funct", SURE), ("ion", UNSURE))
    assert end_of(text, noted, Confidence(cut=0.3)) == len("value =")  # never inside a word
    text, noted = tokens(("print", SURE), ("(", SURE), ('"hello', SURE), (" world", UNSURE), ('")', SURE))
    assert end_of(text, noted, Confidence(cut=0.3), "    ") == len("print")  # never inside the string


def test_doubt_past_the_text_kept_or_come_waits() -> None:
    text, noted = tokens(("total", SURE), (" = a", SURE), ("\n", SURE), ("    return", UNSURE))
    assert end_of(text[:9], noted, Confidence(cut=0.3)) is None  # its text has not come yet (or was cut)
    assert unsure_at(noted, len("total = a\n") + 1, 0.3) is None  # tokens before `start` are not judged


def test_the_shaper_stops_where_the_model_doubts() -> None:
    request = FimRequest("def add(a, b):\n    ", "\n", path="calc.py", language="python")
    prepared = prepare(request, SyntaxCache())
    text, noted = tokens(("total", SURE), (" = a + b", SURE), ("\n", SURE), ("    return", UNSURE), (" total", SURE))
    pieces = ("total", " = a + b", "\n", "    return", " total")
    shaper = Shaper(request, prepared.plan, prepared.rules, Confidence(cut=0.3))
    fed = next(count for count, piece in enumerate(pieces, 1) if shaper.feed(piece, noted))
    assert fed == 3 and shaper.finish() == "total = a + b"  # the doubt is known with the "\n" (its token is next)
    sure = Shaper(request, prepared.plan, prepared.rules)
    assert not any(sure.feed(piece, noted) for piece in pieces) and sure.finish() == text


# End to end: a tiny model writes SCRIPT after <|fim_middle|>; its first token with probability FIRST, the
# token that begins the second line with probability SECOND, every other one all but certain.
SCRIPT = "total = a + b\n    return total"
FIRST, SECOND = 0.6, 0.3
REQUEST = FimRequest("def add(a, b):\n    ", "\n", path="calc.py", language="python")
OFF = {"confidence_hold": 0.0, "confidence_cut": 0.0}
CUT = {"confidence_hold": 0.5, "confidence_cut": 0.4}  # the first line stands (0.6), the second is cut (0.3)
HOLD = {"confidence_hold": 0.7, "confidence_cut": 0.0}  # the first line is held back (0.6 < 0.7)


@pytest.fixture(scope="module")
def doubtful_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import llama_cpp

    folder = tmp_path_factory.mktemp("doubtful")
    vocab = Vocabulary.qwen2()
    base = write_model(folder / "base.gguf", vocab, {}, default_next=ENDOFTEXT)
    ids = list(llama_cpp.Llama(str(base), vocab_only=True, verbose=False).tokenize(SCRIPT.encode(), False, True))
    line_two = len(vocab_text(vocab, ids).split("\n")[0]) + 1  # where the second line begins
    second = next(i for i in range(len(ids)) if len(vocab_text(vocab, ids[:i])) >= line_two)  # its first token
    doubts = {FIM_MIDDLE: FIRST, ids[second - 1]: SECOND}  # the token after each has that probability
    return write_model(
        folder / "doubtful.gguf", vocab, chain(FIM_MIDDLE, ids, ENDOFTEXT), default_next=ENDOFTEXT, doubts=doubts
    )


def vocab_text(vocab: Vocabulary, ids: list[int]) -> str:
    """The text of Qwen2 token ids (byte-level BPE: spaces as Ġ, newlines as Ċ)."""
    return "".join(vocab.tokens[i] for i in ids).replace("Ġ", " ").replace("Ċ", "\n")


@pytest.fixture(scope="module", params=["local", "llama-server", "openai"])
def runtime(
    request: pytest.FixtureRequest, doubtful_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineConfig]:
    """Settings for the doubtful model in process, behind llama-server (`n_probs`) and behind llama-cpp-python's
    OpenAI-compatible server (`logprobs`); a long time budget, so the suggestion is what the model wrote."""
    if request.param == "local":
        yield tiny_config(doubtful_model, time_budget_ms=600_000, speculate=False)
        return
    folder = tmp_path_factory.mktemp(request.param)
    serve = llama_server if request.param == "llama-server" else openai_server
    with serve(doubtful_model, folder) as server:
        yield remote(request.param, server)


def remote(kind: str, server: Server) -> EngineConfig:
    url = server.url + ("/v1" if kind == "openai" else "")
    return EngineConfig(
        backend=kind, backend_url=url, api_key_file=server.key_file, time_budget_ms=600_000, speculate=False
    )


def test_the_runtime_gives_each_tokens_probability(runtime: EngineConfig, doubtful_model: Path) -> None:
    backend = default_factory(runtime, doubtful_model)
    prompt = "<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>"
    unasked = backend.generate(prompt, SamplingParams(max_tokens=32))
    assert "".join(unasked) == SCRIPT and unasked.logprobs == []  # not asked: nothing computed for them
    generation = backend.generate(prompt, SamplingParams(max_tokens=32, logprobs=True))
    text = "".join(generation)
    assert text == SCRIPT
    chances = [math.exp(token.logprob) for token in generation.logprobs]
    assert abs(chances[0] - FIRST) < 0.01 and generation.logprobs[0].end == len("total")
    second = next(i for i, token in enumerate(generation.logprobs) if token.end > len("total = a + b\n"))
    assert abs(chances[second] - SECOND) < 0.01
    assert all(chance > 0.99 for i, chance in enumerate(chances) if i not in (0, second))


def test_an_unsure_line_is_cut_and_an_unsure_start_held_back(runtime: EngineConfig) -> None:
    with Engine(runtime.with_changes(**OFF)) as engine:
        assert engine.complete(REQUEST).text == SCRIPT  # the rules off: all the model wrote
    with Engine(runtime.with_changes(**CUT)) as engine:
        assert engine.complete(REQUEST).text == "total = a + b"
    with Engine(runtime.with_changes(**HOLD)) as engine:
        assert engine.complete(REQUEST).text == ""
