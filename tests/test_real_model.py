"""The default model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M), fetched by `make test`: real answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from completion.models import default_model_path
from completion.types import FimRequest

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    path = default_model_path()
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the default model is missing at {path}; `make test` fetches it")
        pytest.skip("the default model is not fetched (run `tabwise model fetch`)")
    with Engine(EngineConfig(model_path=path)) as engine:
        engine.load()
        yield engine


# (path, prefix, suffix, what the suggestion must contain once spaces are removed)
SNIPPETS = [
    ("math_utils.py", "def add(a, b):\n    return ", "\n\n\nprint(add(2, 3))\n", "a+b"),
    ("parity.py", "def is_even(n: int) -> bool:\n    return n % 2 == ", "\n", "0"),
    (
        "greet.py",
        'def greet(name):\n    """Return a greeting for name."""\n    return f"Hello, {',
        '}"\n',
        "name",
    ),
    ("square.js", "function square(x) {\n  return x * ", "\n}\n", "x"),
    (
        "sum.js",
        "function sum(numbers) {\n  let total = 0;\n  for (const n of numbers) {\n    total += ",
        "\n  }\n  return total;\n}\n",
        "n",
    ),
    ("area.js", "const PI = 3.14159;\nfunction circleArea(r) {\n  return PI * r * ", "\n}\n", "r"),
]


@pytest.mark.parametrize(("path", "prefix", "suffix", "expected"), SNIPPETS, ids=[s[0] for s in SNIPPETS])
def test_obvious_completions(engine: Engine, path: str, prefix: str, suffix: str, expected: str) -> None:
    suggestion = engine.complete(FimRequest(prefix, suffix, path=path))
    first_line = suggestion.text.split("\n")[0]
    assert first_line.replace(" ", "").rstrip(";") == expected, suggestion


def test_explain_names_what_the_code_does(engine: Engine) -> None:
    code = "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"
    stream = engine.explain(code, "python", "fib.py")
    answer = "".join(chunk.text for chunk in stream)
    assert "fibonacci" in answer.lower()
    assert stream.result().answer == answer.strip()
