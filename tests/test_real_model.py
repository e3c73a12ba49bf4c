"""The default model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M), fetched by `make test`: real answers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from completion.config import EngineConfig
from completion.engine import Engine
from completion.runtime.buffers import cpu_flags
from completion.types import FimRequest
from completion.weights.models import default_model_path

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
    suggestion = engine.complete(FimRequest(prefix, suffix, path=path, time_budget_ms=60_000))  # correctness, not speed
    first_line = suggestion.text.split("\n")[0]
    assert first_line.replace(" ", "").rstrip(";") == expected, suggestion


def test_explain_names_what_the_code_does(engine: Engine) -> None:
    code = "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"
    stream = engine.explain(code, "python", "fib.py")
    answer = "".join(chunk.text for chunk in stream)
    assert "fibonacci" in answer.lower()
    assert stream.result().answer == answer.strip()


@pytest.mark.skipif(
    "amx_int8" not in cpu_flags(),
    reason="this CPU has no AMX (no amx_int8 in /proc/cpuinfo), so llama.cpp's AMX weight buffer, which crashes "
    "the first decode of Q4_K weights (llama.cpp#20824), is never used here",
)
def test_the_default_model_completes_on_an_amx_cpu(tmp_path: Path) -> None:
    """As `make run` does, in processes of their own: a segfault fails this test instead of ending pytest."""
    if not default_model_path().exists():
        pytest.skip("the default model is not fetched (run `tabwise model fetch`)")
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return \n\n\nprint(add(2, 3))\n", encoding="utf-8")
    command = [sys.executable, "-m", "cli.main"]
    done = subprocess.run(
        [*command, "complete", str(source), "--line", "2", "--column", "12"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split("\n")[0].replace(" ", "") == "a+b"
    doctor = subprocess.run([*command, "doctor"], capture_output=True, text=True, timeout=600, check=False)
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    weights = next(line for line in doctor.stdout.splitlines() if line.startswith("weights"))
    assert "AMX" not in weights and "llama.cpp#20824" in doctor.stdout
