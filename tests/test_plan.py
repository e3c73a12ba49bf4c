"""What to ask for at a cursor, decided on real parsed code."""

from __future__ import annotations

import pytest

from completion.context.syntax import SyntaxCache
from completion.fim.plan import Mode, plan_completion
from completion.languages import rules_for
from completion.types import FimRequest

CASES = [
    # (language, prefix, suffix, mode, min_indent)
    ("python", "def f(x):\n    return ", "\n", Mode.LINE, 4),  # LINE: how far going on may dedent
    ("python", "def f(xs):\n    if xs:\n        y = 1", "\n    return y\n", Mode.LINE, 4),
    # after a space typed at a method's last statement (outside the method, for the parser): still its body
    ("python", "class A:\n    def f(self):\n        return ", "\n\n    def g(self):\n", Mode.LINE, 8),
    ("python", "def f(x):\n", "\n", Mode.BLOCK, 1),
    ("python", "def f(x):\n    y = 1\n    ", "\n", Mode.BLOCK, 4),
    ("python", "def f(x):\n        y = 1\n", "\n        return y\n", Mode.BLOCK, 8),  # column 0: the neighbours
    ("python", "def f(x):\n    return 1\n", "\ndef g():\n    pass\n", Mode.BLOCK, 0),
    # A hole in the middle of a function may run past the dedent, down to where the function goes on:
    ("python", "def f(xs):\n    for x in xs:\n", "\n    return x\n", Mode.BLOCK, 4),
    ("python", "def f(xs):\n    for x in xs:\n        ", "\n    return x\n", Mode.BLOCK, 4),
    # ...and a hole at a function's end may close its blocks down to the function's body (it is not over
    # because an `if` is), but not into the next definition: the next method is not its rest.
    ("python", "class A:\n    def f(self):\n        x = 1\n        if x:\n", "\n    def g(self):\n", Mode.BLOCK, 8),
    ("python", "def f(n):\n    xs = []\n    while n:\n", "", Mode.BLOCK, 4),
    ("python", "if ready:\n", "\nprint(1)\n", Mode.BLOCK, 1),  # outside a definition: the block only
    ("python", "class A:\n    def f(self):\n        x = 1\n        ", "\n    def g(self):\n", Mode.BLOCK, 8),
    ("python", "print(", ")\n", Mode.LINE, 0),
    ("python", "x = compute(", ") + other\n", Mode.NONE, 0),
    ("python", "# sum the ", "\nx = 1\n", Mode.NONE, 0),
    ("python", "x = 1  # the ", "\n", Mode.NONE, 0),
    ("python", 'msg = f"Hello, {', '}"\n', Mode.LINE, 0),
    ("python", 'msg = f"Hello, {', '}!"\n', Mode.NONE, 0),
    ("javascript", "function f() {\n", "\n}\n", Mode.BLOCK, 1),
    ("javascript", "// explain ", "\n", Mode.NONE, 0),
    ("javascript", "/* done */ ", "\n", Mode.LINE, 0),
    ("typescript", "const xs: number[] = [", "];\n", Mode.LINE, 0),
    ("go", "func main() {\n\t", "\n}\n", Mode.BLOCK, 1),
    ("rust", "fn main() {\n    // todo ", "\n}\n", Mode.NONE, 0),
    ("java", "class A {\n  int f() {\n", "\n  }\n}\n", Mode.BLOCK, 3),
    ("c", "int main(void) {\n  return ", "\n}\n", Mode.LINE, 2),
    ("ruby", "def greet(name)\n  ", "\nend\n", Mode.BLOCK, 2),
    ("cobol", "DISPLAY ", "\n", Mode.LINE, 0),  # no grammar: plain lines, never an error
]


@pytest.mark.parametrize(("language", "prefix", "suffix", "mode", "min_indent"), CASES)
def test_plan(language: str, prefix: str, suffix: str, mode: Mode, min_indent: int) -> None:
    plan = plan_completion(FimRequest(prefix, suffix, language=language), language, SyntaxCache(), rules_for(language))
    assert plan.mode is mode, plan
    assert plan.min_indent == min_indent


def test_mid_line_completions_are_kept_short() -> None:
    plan = plan_completion(FimRequest("print(", ")\n"), "python", SyntaxCache(), rules_for("python"))
    assert plan.max_tokens is not None and plan.max_tokens < 64


@pytest.mark.parametrize(
    ("prefix", "suffix", "deepest"),
    [
        ("def f(n):\n    primes = []\n", "\n        ok = True\n", 4),  # below a statement: no deeper than it
        ("def f(n):\n    for i in n:\n", "\n        ok = True\n", None),  # below an opener: deeper is right
        ("x = call(\n    a,\n", "\n)\n", None),  # a continuation line inside brackets
        ('def f():\n    """Doc.\n\n', '\n    """\n', None),  # inside a docstring
    ],
)
def test_deepest_first_line_where_indentation_is_syntax(prefix: str, suffix: str, deepest: int | None) -> None:
    plan = plan_completion(FimRequest(prefix, suffix, language="python"), "python", SyntaxCache(), rules_for("python"))
    assert plan.max_indent == deepest


def test_no_indentation_limit_where_indentation_is_style() -> None:
    prefix, suffix = "function f() {\n  let x = 1;\n", "\n}\n"
    plan = plan_completion(FimRequest(prefix, suffix), "javascript", SyntaxCache(), rules_for("javascript"))
    assert plan.max_indent is None
