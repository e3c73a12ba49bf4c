"""Stop rules and clean-up, on what a model writes at real cursors in several languages."""

from __future__ import annotations

import pytest

from completion.context.syntax import SyntaxCache
from completion.fim.plan import Mode, Plan, plan_completion
from completion.fim.running import prepare
from completion.fim.shape import bracket_depth, clean_suggestion, leaves_place, repeated_suffix_start, stop_index
from completion.fim.shaper import Shaper
from completion.languages import rules_for
from completion.types import FimRequest


def finish(prefix: str, suffix: str, written: str, language: str) -> str:
    """What the engine keeps of `written` at the cursor between prefix and suffix (its own shaper)."""
    prepared = prepare(FimRequest(prefix, suffix, language=language), SyntaxCache())
    shaper = Shaper(prepared.request, prepared.plan, prepared.rules)
    shaper.feed(written)
    return shaper.finish()


def test_at_a_line_end_the_statement_goes_on_with_the_lines_of_its_scope() -> None:
    prefix = "def total(items):\n    result = sum("
    written = "items)\n    return result\ndef other():\n    pass\n"
    assert finish(prefix, "\n", written, "python") == "items)\n    return result"
    written = "items)\n    count = len(items)\n\n    return result\n"  # in a function, past a blank line
    assert finish(prefix, "\n", written, "python") == "items)\n    count = len(items)\n\n    return result"
    assert finish("x = load(", "\n", "path)\ny = 2\n\nz = 3\n", "python") == "path)\ny = 2"  # top level: not


def test_going_on_may_close_blocks_down_to_the_function_body() -> None:
    prefix = "def count(items):\n    total = 0\n    for item in items:\n        if item:\n            total += item"
    written = "\n        seen += 1\n    return total\ndef other():\n"
    assert finish(prefix, "\n", written, "python") == "\n        seen += 1\n    return total"


def test_with_text_after_the_cursor_only_the_statement_is_written() -> None:
    assert finish("x = f(", ")\n", "a)\ny = 2\n", "python") == "a"
    prefix = "function f() {\n  const total = add("
    assert finish(prefix, ");\n}\n", "1, 2);\n  return total;\n}", "javascript") == "1, 2"


def test_open_brackets_carry_a_statement_over_lines() -> None:
    prefix = "config = dict(\n"[:-1]
    written = "\n    host='localhost',\n    port=8080,\n)\ndef serve():\n    pass"
    assert finish(prefix, "\n", written, "python") == "\n    host='localhost',\n    port=8080,\n)"


def test_a_line_that_opens_a_block_goes_on_with_its_body_python() -> None:
    prefix = "def total(items):\n    result = 0\n    for item in "
    written = "items:\n        result += item.price\n    return result\n"
    assert finish(prefix, "\n", written, "python") == "items:\n        result += item.price"


def test_a_line_that_opens_a_block_keeps_its_own_closing_brace_js() -> None:
    prefix = "function total(items) {\n  let sum = 0;\n  for (const item of "
    written = "items) {\n    sum += item.price;\n  }\n  return sum;\n}"
    assert finish(prefix, "\n}\n", written, "javascript") == "items) {\n    sum += item.price;\n  }"


def test_block_mode_ends_at_the_dedent_python() -> None:
    prefix = "class Stack:\n    def push(self, item):\n"
    written = "        self.items.append(item)\n\n    def pop(self):\n        return self.items.pop()\n"
    plan = plan_completion(FimRequest(prefix, "\n"), "python", SyntaxCache(), rules_for("python"))
    assert plan.mode is Mode.BLOCK and plan.min_indent == 5
    assert finish(prefix, "\n", written, "python") == "        self.items.append(item)"


def test_a_block_goes_on_with_the_next_clause_of_its_statement_python() -> None:
    prefix = "score = 95\nif score > 90:\n"  # top level (a script, a notebook cell): the if body's dedent ends it
    written = "    grade = 'A'\nelif score > 80:\n    grade = 'B'\nelse:\n    grade = 'C'\nprint(grade)\n"
    expected = "    grade = 'A'\nelif score > 80:\n    grade = 'B'\nelse:\n    grade = 'C'"
    assert finish(prefix, "\n", written, "python") == expected  # the if statement, whole; not what follows it
    typed = finish("try", "\n", ":\n    x = int(s)\nexcept ValueError:\n    x = 0\nprint(x)\n", "python")
    assert typed == ":\n    x = int(s)\nexcept ValueError:\n    x = 0"
    nested = "if a:\n    if b:\n"  # an else at the outer if's column belongs to the outer if
    assert finish(nested, "\n", "        g()\nelse:\n    h()\n", "python") == "        g()"
    suffix = "\nelse:\n    grade = 'C'\n"  # the clause the code below already has is not written again
    assert finish(prefix, suffix, "    grade = 'A'\nelse:\n    grade = 'C'\n", "python") == "    grade = 'A'"


def test_block_mode_stops_before_the_suffix_closing_brace_go() -> None:
    prefix = "package main\n\nfunc add(a, b int) int {\n"
    assert finish(prefix, "}\n", "\treturn a + b\n}\n\nfunc main() {}\n", "go") == "\treturn a + b"


def test_new_top_level_definition_ends_the_completion_rust() -> None:
    prefix = "fn main() {\n    run();\n}\n\n"
    written = 'fn run() {\n    println!("hi");\n}\n\nfn other() {}\n'
    assert finish(prefix, "", written, "rust") == 'fn run() {\n    println!("hi");\n}'


def test_retyped_suffix_line_is_cut_typescript() -> None:
    prefix = "function area(r: number): number {\n  const pi = Math.PI;\n"
    suffix = "\n  return result;\n}\n"
    written = "  const result = pi * r * r;\n  return result;\n}"
    assert finish(prefix, suffix, written, "typescript") == "  const result = pi * r * r;"


def test_closing_brackets_already_after_the_cursor_are_dropped() -> None:
    assert finish("print(len(", "))\n", "items))", "python") == "items"
    assert finish("foo(", ")\n", "bar(x))", "javascript") == "bar(x)"  # the inner call keeps its ")"


def test_a_looping_model_is_cut_where_it_repeats_lines() -> None:
    prefix = "x = load()\ny = transform(x)\nz = save(y)\n"
    written = "report(z)\nx = load()\ny = transform(x)\n"
    assert clean_suggestion(written, prefix, "") == "report(z)"


def test_indentation_follows_the_file() -> None:
    prefix = "def f():\n    if ready:\n"
    assert clean_suggestion("\t\tgo()\n\t\tstop()", prefix, "\n") == "        go()\n        stop()"


def test_a_line_deeper_than_python_allows_is_shifted_to_where_it_can_be() -> None:
    prefix, suffix = "def primes(n):\n    found = []\n", "\n        if all(i % p for p in found):\n"
    written = "        for i in range(2, n):\n            pass"  # one level too deep: an IndentationError
    assert finish(prefix, suffix, written, "python") == "    for i in range(2, n):\n        pass"
    after_opener = "def primes(n):\n    for i in range(2, n):\n"
    assert finish(after_opener, suffix, "        found.append(i)", "python") == "        found.append(i)"
    js = "function f() {\n  let x = 1;\n"  # indentation is style there: kept as written
    assert finish(js, "\n}\n", "      x += 1;", "javascript") == "      x += 1;"


def test_think_text_never_reaches_code() -> None:
    assert clean_suggestion("<think>hmm</think>x + 1", "y = ", "\n") == "x + 1"


def test_streaming_check_ignores_the_first_line() -> None:
    assert repeated_suffix_start("print(x)", "\nprint(x)\n") is None
    assert repeated_suffix_start("a + b\n\nprint(add(1, 2))", "\n\nprint(add(1, 2))\n") == 6


def test_half_written_lines_are_never_judged() -> None:
    plan = Plan(Mode.BLOCK, min_indent=4)
    assert stop_index("    a = 1\nb", plan, "", "", rules_for("python")) is None


@pytest.mark.parametrize(
    ("code", "depth"), [("f(a, [b", 2), ("f(')')", 0), ('x = "((("', 0), ("g(h(x))", 0), ("})", -2)]
)
def test_bracket_depth_ignores_strings(code: str, depth: int) -> None:
    assert bracket_depth(code) == depth


def test_mid_line_suggestion_ends_where_the_rest_of_the_line_closes() -> None:
    assert finish('return f"Hello, {', '}"\n', "name}! Welcome to the world", "python") == "name"
    assert finish("foo(bar(", "))\n", "x), y)", "python") == "x"  # ")" of bar( is closed by the rest
    assert finish("foo(bar(", ")\n", "x), y)", "python") == "x), y"  # here the suggestion closes bar(


def test_a_model_drifting_into_markdown_is_cut() -> None:
    written = "    raise NotFound(name)\n```\n\n**Question**: how do I"
    assert finish("def f(name):\n", "\n", written, "python") == "    raise NotFound(name)"
    assert finish("Some text\n", "\n", "```python\nx = 1\n```\n", "markdown").startswith("```python")


@pytest.mark.parametrize(
    "prefix, suffix, written, language, kept",
    [  # at the end of a line of code the model likes to append a comment: the code after it is what counts
        ("if key in cache:", "\n", "  # hit\n    return cache[key]\n", "python", "\n    return cache[key]"),
        ("if (hit) {", "\n}", "  // cached\n  return cache[key];\n", "javascript", "\n  return cache[key];"),
        ("x = compute()", "\n", "  # type: ignore", "python", ""),
        # the user began the comment, or there is no code on the line, or text follows the cursor: kept
        ("x = compute()  #", "\n", " type: ignore", "python", " type: ignore"),
        ("def f():\n    ", "\n", "# the total\n    return 1\n", "python", "# the total\n    return 1"),
        ("call(", ")\n", " # why\n", "python", " # why"),
    ],
)
def test_a_comment_appended_to_the_line_just_written_is_dropped(
    prefix: str, suffix: str, written: str, language: str, kept: str
) -> None:
    assert finish(prefix, suffix, written, language) == kept


def test_a_stop_rule_says_nothing_belongs_after_it_only_where_its_next_line_leaves_the_block() -> None:
    """Judged by the plan of the place after the cut (at `        return node`: a line, its floor the body's 8)."""
    plan = Plan(Mode.LINE, min_indent=8, goes_on=True)
    below = "\n\n    @typing.overload\n    def parse_assign_target("
    assert leaves_place("\n\n    @typing.overload\n", plan, below)  # the definition is over
    assert leaves_place("\n        return node\n", plan, "\n        return node\n")  # the code below again
    assert not leaves_place("\n        node.lineno = 1\n", plan, below)  # the next statement of the block
    assert not leaves_place("\n\n", plan, below)  # nothing said
