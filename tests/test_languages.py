"""Adding a language is one `register` call: Gleam, which tabwise does not know, added in the test.

Its files are then recognised and parsed, completions planned by its syntax and stopped by its stop
words, its comment syntax marks what the context elides, and its imports bring other workspace files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tree_sitter import Node

from completion.context.gatherer import ContextGatherer
from completion.context.syntax import SyntaxCache, node_text
from completion.context.workspace import Workspace, find_root
from completion.engine import Engine
from completion.fim.plan import Mode, plan_completion
from completion.fim.prompt import build_fim_prompt
from completion.fim.shape import stop_index
from completion.languages import Files, Imports, Language, LanguageRules, language_of, register, rules_for, unregister
from completion.types import FimRequest
from prompts import fim_format


def gleam_files(files: Files, current: str, statement: Node) -> list[str]:
    """`import app/util`: src/app/util.gleam, where Gleam keeps a project's modules."""
    module = statement.child_by_field_name("module")
    path = f"src/{node_text(module)}.gleam" if module is not None else ""
    return [path] if path and files.exists(path) else []


def gleam_names(statement: Node) -> set[str]:
    """`import app/util.{shout, whisper}`: shout and whisper."""
    imports = statement.child_by_field_name("imports")
    names = [item.child_by_field_name("name") for item in imports.named_children] if imports is not None else []
    return {node_text(name) for name in names if name is not None}


GLEAM = Language(
    "gleam",
    suffixes=(".gleam",),
    grammar="gleam",  # in tree-sitter-language-pack
    rules=LanguageRules(
        comment="//",
        imports=frozenset({"import"}),
        definitions=frozenset({"function"}),
        scopes=frozenset({"function"}),
        comments=frozenset({"comment", "statement_comment", "module_comment"}),
        strings=frozenset({"string", "quoted_content"}),
        stop_words=("pub fn ", "fn ", "pub type ", "type ", "import "),
    ),
    imports=Imports(gleam_files, gleam_names),
    root_markers=("gleam.toml",),
)
UTIL = """import gleam/string

/// Loud text.
pub fn shout(text: String) -> String {
  let upper = string.uppercase(text)
  upper <> "!"
}

pub fn whisper(text: String) -> String {
  string.lowercase(text)
}

fn helper() {
  Nil
}
"""
MAIN = """import app/util.{shout, whisper}
import gleam/io

pub fn greeting(name: String) -> String {
  let base = "Hello, " <> name
  let more = base <> "!"
  let last = more <> "?"
  last
}

pub fn main() {
  let loud = shout(greeting("Lucy"))
  io.println("""


def words(text: str) -> int:
    return len(text.split()) + text.count("\n")


@pytest.fixture
def gleam() -> Iterator[Language]:
    """Gleam, registered for one test and forgotten after it."""
    assert register(GLEAM) is None  # no language of that id was known
    try:
        yield GLEAM
    finally:
        unregister("gleam")


def test_its_files_are_recognised_and_parsed(gleam: Language) -> None:
    assert language_of("src/app/main.gleam") == language_of("SRC/MAIN.GLEAM") == "gleam"
    tree = SyntaxCache().parse("main", "gleam", MAIN.encode())
    assert tree is not None and tree.root_node.type == "source_file"
    assert [node.type for node in tree.root_node.named_children[:3]] == ["import", "import", "function"]
    assert rules_for("gleam") is gleam.rules


def test_a_completion_in_a_comment_is_not_asked_for(gleam: Language) -> None:
    rules = rules_for("gleam")
    comment = FimRequest("pub fn main() {\n  // say ", "\n}\n", path="src/app/main.gleam")
    code = FimRequest("pub fn main() {\n  ", "\n}\n", path="src/app/main.gleam")
    assert plan_completion(comment, "gleam", SyntaxCache(), rules).mode is Mode.NONE
    assert plan_completion(code, "gleam", SyntaxCache(), rules).mode is Mode.BLOCK


def test_the_engine_plans_it_without_model_work(gleam: Language, qwen_engine: Engine) -> None:
    job = qwen_engine.submit_complete(FimRequest("pub fn main() {\n  // say ", "\n}\n", path="src/app/main.gleam"))
    assert job.future.done() and job.result().text == ""
    assert qwen_engine.status().state == "unloaded"  # the model was not even loaded


def test_its_stop_words_end_a_completion(gleam: Language) -> None:
    request = FimRequest("import gleam/io\n\n", "", path="main.gleam")
    plan = plan_completion(request, "gleam", SyntaxCache(), rules_for("gleam"))
    written = "const limit = 3\npub fn next() {\n  limit\n}\n"
    assert stop_index(written, plan, "", "", rules_for("gleam")) == len("const limit = 3")
    assert stop_index(written, plan, "", "", rules_for("cobol")) is None  # plain rules know no such word


def test_its_imports_and_comments_shape_the_context(gleam: Language, tmp_path: Path) -> None:
    (tmp_path / "gleam.toml").write_text('name = "app"\n')
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "util.gleam").write_text(UTIL)
    assert find_root(tmp_path / "src" / "app" / "main.gleam") == tmp_path.resolve()
    request = FimRequest(MAIN, ")\n}\n", path="src/app/main.gleam", language="gleam")
    context = ContextGatherer(Workspace(tmp_path)).gather(request, "gleam")
    assert context.comment == "//"
    assert [(f.path, f.text) for f in context.files] == [
        (
            "src/app/util.gleam",
            "pub fn shout(text: String) -> String\n\n"  # used near the cursor: how to call it
            "pub fn whisper(text: String) -> String {\n  string.lowercase(text)\n}",  # imported by name
        )
    ]
    assert [(s.rank, s.text) for s in context.snippets] == [
        (0, "pub fn main() {"),
        (1, "import app/util.{shout, whisper}\nimport gleam/io"),
        (2, "pub fn greeting(name: String) -> String {\n    // ...\n}"),  # elided in Gleam's comment syntax
    ]
    prompt = build_fim_prompt(request, fim_format("qwen2.5-coder"), words, 1024, 90, context)
    assert "// src/app/util.gleam:\n// pub fn shout(text: String) -> String\n" in prompt.text


def test_without_the_entry_gleam_is_plain_text() -> None:
    assert language_of("src/app/main.gleam") == ""
    assert SyntaxCache().parse("main", "gleam", MAIN.encode()) is None
    comment = FimRequest("pub fn main() {\n  // say ", "\n}\n", path="src/app/main.gleam")
    assert plan_completion(comment, "gleam", SyntaxCache(), rules_for("gleam")).mode is Mode.LINE
