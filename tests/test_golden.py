"""Golden cases: what a suggestion covers, and what of it is shown when the time budget ends first.

Each case is a real document (parsed with tree-sitter) with the cursor at `█`, what the model writes
there, and the two answers the engine's pure stages give: the whole suggestion (plan, stop rules,
clean-up: what is computed and cached) and the part shown when the budget ended before the model's
first line (the longest run of whole lines that stands alone). Where a token limit cut the model off,
the whole suggestion is only what stands: never a bracket or string the model had not closed. The
request is prepared and shaped by the engine's own objects (completion/fim/running.prepare,
completion/fim/shaper.Shaper), so a case fails where a rule changes what a user gets, or a stage goes
missing, in any language the plan knows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from completion.context.syntax import SyntaxCache
from completion.fim.plan import Mode
from completion.fim.running import prepare
from completion.fim.shaper import Shaper
from completion.types import FimRequest

CURSOR = "█"
PIECE = "¦"  # where one piece (token) the model streams ends and the next begins; else it streams by lines


@dataclass(frozen=True)
class Case:
    """A cursor in a document, what the model writes there, and what the user gets."""

    name: str
    language: str
    document: str  # with CURSOR where the cursor is
    written: str  # what the model writes (more than fits, as a model does)
    whole: str  # the suggestion: what is computed to the plan's end
    shown: str  # what a user sees when the budget ends before the first line
    cut: bool = False  # the token limit ended the generation right after `written` (not the model)


CASES = [
    Case(
        "a block opener gets its body, and ends with it",
        "python",
        "def sign(x):\n    if x > 0:█\n",
        "\n        y = x * 2\n        return y\n    return -1\n\n\nprint(sign(2))\n",
        "\n        y = x * 2\n        return y",
        "\n        y = x * 2",
    ),
    Case(
        "an else is never shown without its body",
        "python",
        "def sign(x):\n    if x > 0:\n        return 1\n    █\n",
        "else:\n        return -1\n\n\nprint(sign(2))\n",
        "else:\n        return -1",
        "else:\n        return -1",
    ),
    Case(
        "the remaining branches of an if come with it",
        "python",
        "def grade(score):\n    if score >= 90:\n        return 'A'\n    █\n",
        "elif score >= 80:\n        return 'B'\n    else:\n        return 'C'\n\n\ndef other():\n",
        "elif score >= 80:\n        return 'B'\n    else:\n        return 'C'",
        "elif score >= 80:\n        return 'B'",
    ),
    Case(
        "an empty function body is written whole",
        "python",
        "def mean(values):\n    █\n\n\ndef median(values):\n    return sorted(values)[len(values) // 2]\n",
        '"""The average."""\n    return sum(values) / len(values)\n\n\ndef median(values):\n',
        '"""The average."""\n    return sum(values) / len(values)',
        '"""The average."""',
    ),
    Case(
        "a hole closes its block before it opens the one the code below is in",
        "python",
        'def kind(items):\n    for key in items:\n        if key is None:\n            state = "mixed"\n            █\n'
        '                state = "upper"\n    return state\n',
        'break\n        if key.isupper():\n            if state:\n                state = "upper"\n',
        "break\n        if key.isupper():\n            if state:",
        "break",
    ),
    Case(
        "a dict's last entries come with its closing brace",
        "python",
        'NAMES = {\n    1: "One",\n    █\n\nprint(NAMES[1])\n',
        '2: "Two",\n    3: "Three",\n}\nprint(NAMES)\n',
        '2: "Two",\n    3: "Three",\n}',
        '2: "Two",\n    3: "Three",\n}',
    ),
    Case(
        "entries are shown one by one where the brace below closes the dict",
        "python",
        'NAMES = {\n    1: "One",\n    █\n}\n',
        '2: "Two",\n    3: "Three",\n}\n',
        '2: "Two",\n    3: "Three",',
        '2: "Two",',
    ),
    Case(
        "a call spread over lines is closed",
        "python",
        "result = compute(\n    alpha,\n    █\n\nprint(result)\n",
        "beta,\n    gamma,\n)\nprint(result)\n",
        "beta,\n    gamma,\n)",
        "beta,\n    gamma,\n)",
    ),
    Case(
        "a docstring is not shown open",
        "python",
        "def area(r):\n    █\n",
        '"""The area of a circle\n    of radius r."""\n    return 3.14159 * r * r\n\n\nx = 1\n',
        '"""The area of a circle\n    of radius r."""\n    return 3.14159 * r * r',
        '"""The area of a circle\n    of radius r."""',
    ),
    Case(
        "the rest of a line ends where the function ends",
        "python",
        "def add(a, b):\n    return █\n",
        "a + b\n\n\nprint(add(1, 2))\n",
        "a + b",
        "a + b",
    ),
    Case(
        "a braced block comes with its closing brace and its else",
        "javascript",
        "function sign(x) {\n  if (x > 0) {█\n}\n",
        "\n    return 1;\n  } else {\n    return -1;\n  }\n  return 0;\n}\n",
        "\n    return 1;\n  } else {\n    return -1;\n  }",
        "\n    return 1;\n  } else {\n    return -1;\n  }",
    ),
    Case(
        "an empty function body in braces",
        "javascript",
        "function area(r) {\n  █\n}\n",
        "const square = r * r;\n  return Math.PI * square;\n}\n\nfunction other() {\n",
        "const square = r * r;\n  return Math.PI * square;",
        "const square = r * r;",
    ),
    Case(
        "an object literal is closed",
        "typescript",
        "const config = {\n  port: 8080,\n  █\n\nexport default config;\n",
        'host: "localhost",\n  debug: false,\n};\n\nexport default config;\n',
        'host: "localhost",\n  debug: false,\n};',
        'host: "localhost",\n  debug: false,\n};',
    ),
    Case(
        "a Go if block comes with its closing brace",
        "go",
        "func abs(x int) int {\n\tif x < 0 {█\n}\n",
        "\n\t\treturn -x\n\t}\n\treturn x\n}\n",
        "\n\t\treturn -x\n\t}",
        "\n\t\treturn -x\n\t}",
    ),
    Case(
        "Rust match arms up to the match's own brace",
        "rust",
        'fn name(n: u8) -> &\'static str {\n    match n {\n        1 => "one",\n        █\n    }\n}\n',
        '2 => "two",\n        _ => "many",\n    }\n}\n',
        '2 => "two",\n        _ => "many",',
        '2 => "two",',
    ),
    Case(
        "a Java method body, then the class goes on",
        "java",
        "class Box {\n    int size;\n    int twice() {\n        █\n    }\n}\n",
        "int result = size * 2;\n        return result;\n    }\n}\n",
        "int result = size * 2;\n        return result;",
        "int result = size * 2;",
    ),
    Case(
        "a C for loop with its body",
        "c",
        "int sum(int *xs, int n) {\n    int total = 0;\n    █\n}\n",
        "for (int i = 0; i < n; i++) {\n        total += xs[i];\n    }\n    return total;\n}\n",
        "for (int i = 0; i < n; i++) {\n        total += xs[i];\n    }\n    return total;",
        "for (int i = 0; i < n; i++) {\n        total += xs[i];\n    }",
    ),
    Case(
        "a comment the model appends to the line just ended is dropped",
        "python",
        "def total(items):\n    result = sum(items)█\n",
        "  # the sum\n    return result\n\n\nprint(total([1]))\n",
        "\n    return result",
        "\n    return result",
    ),
    Case(
        "cut by the limit inside a bracket it opened: nothing",
        "python",
        "def is_leap(year):\n    return █\n",
        "year¦ %¦ 4¦ ==¦ 0¦ and¦ (¦year¦ %¦ 100¦ !=¦ 0¦ or¦ year¦ %¦ 400¦ ==¦ ",
        "",
        "",
        cut=True,
    ),
    Case(
        "cut by the limit inside a string: nothing",
        "python",
        "def greet(name):\n    █\n",
        'print¦("¦Hello¦,¦ world',
        "",
        "",
        cut=True,
    ),
    Case(
        "cut by the limit in its second line: the first, which stands",
        "python",
        "def area(r):\n    █\n",
        "square¦ =¦ r¦ *¦ r¦\n¦    return¦ 3¦.14¦ *¦ (¦square",
        "square = r * r",
        "square = r * r",
        cut=True,
    ),
    Case(
        "cut by the limit in a block's body: not the opener alone",
        "python",
        "def check(x):\n    █\n",
        "if¦ x¦ >¦ 0¦:\n¦        raise¦ ValueError¦(",
        "",
        "",
        cut=True,
    ),
    Case(
        "cut by the limit mid-line once its brackets closed: the expression",
        "python",
        "print(█)\n",
        "len¦(items¦)¦)",
        "len(items)",
        "len(items)",
        cut=True,
    ),
    Case(
        "cut by the limit mid-line in a word: nothing",
        "python",
        "print(█)\n",
        "len¦(items¦)¦ +¦ off¦set",
        "",
        "",
        cut=True,
    ),
    Case(
        "cut by the limit after an operator: nothing",
        "javascript",
        "const total = █\n",
        "price¦ *¦ count¦ +",
        "",
        "",
        cut=True,
    ),
    Case(
        "cut by the limit at the end of a statement: the statement",
        "javascript",
        "const total = █\n",
        "price¦ *¦ count¦;",
        "price * count;",
        "price * count;",
        cut=True,
    ),
    Case(
        "cut by the limit right after a whole word: the line",
        "python",
        "def add(a, b):\n    return █\n",
        "a¦ +¦ b",
        "a + b",
        "a + b",
        cut=True,
    ),
    Case(
        "nothing where text follows the cursor",
        "python",
        "total = compute(█) + tax\n",
        "items",
        "",
        "",
    ),
]


CASES += [
    Case(
        "after a space the user typed, the model's own leading space is dropped",
        "python",
        'def check(items):\n    if not items:\n        raise RuntimeError("at least one item has █\n',
        ' to¦ be¦ provided")¦\n',
        'to be provided")',
        'to be provided")',
    ),
    Case(
        "after indentation the model's leading spaces are indentation: none is dropped as doubled",
        "python",
        "def f(x):\n    if x:\n        █\n",
        " ¦   return¦ x¦\n",
        "    return x",
        "    return x",
    ),
]


def answers(case: Case) -> tuple[str, str]:
    """(whole, shown) for a case: the engine's own shaper fed the model's text piece by piece (line by line
    unless the case marks its pieces), as it streams; what stands is shown only at a line's end, as the
    pipeline does."""
    prefix, suffix = case.document.split(CURSOR)
    prepared = prepare(FimRequest(prefix, suffix, path="case", language=case.language), SyntaxCache())
    if prepared.plan.mode is Mode.NONE:
        return "", ""
    shaper, shown = Shaper(prepared.request, prepared.plan, prepared.rules), None
    pieces = case.written.split(PIECE) if PIECE in case.written else case.written.splitlines(keepends=True)
    for piece in pieces:
        if shaper.feed(piece):
            break
        shown = shown if shown is not None or "\n" not in piece else shaper.standing()
    whole = shaper.finish(cut=case.cut)
    return whole, whole if shown is None else shown


@pytest.mark.parametrize("case", CASES, ids=[f"{case.language}: {case.name}" for case in CASES])
def test_golden(case: Case) -> None:
    whole, shown = answers(case)
    assert whole == case.whole, "the whole suggestion"
    assert shown == case.shown, "what is shown when the budget ends first"
    assert whole.startswith(shown)  # what is shown is the start of what is computed
