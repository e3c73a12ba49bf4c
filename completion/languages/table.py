"""The languages tabwise knows out of the box, one entry each (registered when the package loads)."""

from __future__ import annotations

from dataclasses import replace

from completion.languages.imports import PYTHON_IMPORTS, SCRIPT_IMPORTS
from completion.languages.registry import Language
from completion.languages.rules import LanguageRules

C_LIKE_STOPS = ("#include", "#define")
SCRIPT_DEFINITIONS = frozenset(
    {"function_declaration", "generator_function_declaration", "class_declaration", "lexical_declaration"}
)
SCRIPT_SCOPES = frozenset({"function_declaration", "class_declaration", "method_definition"})
SCRIPT_STRINGS = frozenset({"string", "template_string", "string_fragment"})
SCRIPT_STOPS = ("function ", "class ", "export ", "import ")
C_INCLUDES = frozenset({"preproc_include"})

PYTHON = Language(
    "python",
    suffixes=(".py", ".pyi", ".ipynb"),
    grammar="python",
    rules=LanguageRules(
        comment="#",
        imports=frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
        definitions=frozenset({"function_definition", "class_definition"}),
        scopes=frozenset({"function_definition", "class_definition"}),
        wrappers=frozenset({"decorated_definition"}),
        strings=frozenset({"string", "string_content"}),
        block_openers=(":",),
        stop_words=("def ", "class ", "async def ", "@", "if __name__"),
        clauses=("elif ", "else:", "except ", "except:", "finally:"),
        offside=True,
    ),
    imports=PYTHON_IMPORTS,
    root_markers=("pyproject.toml", "setup.py"),
)
JAVASCRIPT = Language(
    "javascript",
    suffixes=(".js", ".mjs", ".cjs"),
    grammar="javascript",
    rules=LanguageRules(
        comment="//",
        imports=frozenset({"import_statement"}),
        definitions=SCRIPT_DEFINITIONS,
        scopes=SCRIPT_SCOPES,
        wrappers=frozenset({"export_statement"}),
        strings=SCRIPT_STRINGS,
        stop_words=SCRIPT_STOPS,
    ),
    imports=SCRIPT_IMPORTS,
    root_markers=("package.json",),
)
JAVASCRIPT_REACT = replace(JAVASCRIPT, id="javascriptreact", suffixes=(".jsx",), root_markers=())
TYPESCRIPT = Language(
    "typescript",
    suffixes=(".ts", ".mts", ".cts"),
    grammar="typescript",
    rules=replace(
        JAVASCRIPT.rules,
        definitions=SCRIPT_DEFINITIONS
        | {"interface_declaration", "type_alias_declaration", "enum_declaration", "abstract_class_declaration"},
        scopes=SCRIPT_SCOPES | {"abstract_class_declaration"},
        stop_words=(*SCRIPT_STOPS, "interface ", "type "),
    ),
    imports=SCRIPT_IMPORTS,
)
TYPESCRIPT_REACT = replace(TYPESCRIPT, id="typescriptreact", suffixes=(".tsx",), aliases=("tsx",), grammar="tsx")
C = Language(
    "c",
    suffixes=(".c", ".h"),
    grammar="c",
    rules=LanguageRules(
        comment="//",
        imports=C_INCLUDES,
        definitions=frozenset({"function_definition", "struct_specifier"}),
        scopes=frozenset({"function_definition"}),
        strings=frozenset({"string_literal"}),
        stop_words=C_LIKE_STOPS,
    ),
)
CPP = Language(
    "cpp",
    suffixes=(".cc", ".cpp", ".cxx", ".hpp", ".hh"),
    grammar="cpp",
    rules=LanguageRules(
        comment="//",
        imports=C_INCLUDES,
        definitions=frozenset({"function_definition", "struct_specifier", "class_specifier", "namespace_definition"}),
        scopes=frozenset({"function_definition", "class_specifier"}),
        strings=frozenset({"string_literal", "raw_string_literal"}),
        stop_words=C_LIKE_STOPS,
    ),
)
GO = Language(
    "go",
    suffixes=(".go",),
    grammar="go",
    rules=LanguageRules(
        comment="//",
        imports=frozenset({"import_declaration"}),
        definitions=frozenset({"function_declaration", "method_declaration", "type_declaration"}),
        scopes=frozenset({"function_declaration", "method_declaration"}),
        strings=frozenset({"interpreted_string_literal", "raw_string_literal"}),
        stop_words=("func ", "type "),
    ),
    root_markers=("go.mod",),
)
RUST = Language(
    "rust",
    suffixes=(".rs",),
    grammar="rust",
    rules=LanguageRules(
        comment="//",
        imports=frozenset({"use_declaration"}),
        definitions=frozenset({"function_item", "struct_item", "enum_item", "trait_item", "impl_item"}),
        scopes=frozenset({"function_item", "impl_item", "trait_item"}),
        comments=frozenset({"line_comment", "block_comment"}),
        strings=frozenset({"string_literal", "raw_string_literal"}),
        stop_words=("fn ", "pub fn ", "struct ", "impl ", "enum ", "trait ", "mod "),
    ),
    root_markers=("Cargo.toml",),
)
JAVA = Language(
    "java",
    suffixes=(".java",),
    grammar="java",
    rules=LanguageRules(
        comment="//",
        imports=frozenset({"import_declaration"}),
        definitions=frozenset({"class_declaration", "interface_declaration", "method_declaration"}),
        scopes=frozenset({"class_declaration", "interface_declaration", "method_declaration"}),
        comments=frozenset({"line_comment", "block_comment"}),
        strings=frozenset({"string_literal"}),
        stop_words=("public class ", "class ", "interface "),
    ),
)
RUBY = Language(
    "ruby",
    suffixes=(".rb",),
    grammar="ruby",
    rules=LanguageRules(
        comment="#",
        definitions=frozenset({"method", "class", "module"}),
        scopes=frozenset({"method", "class", "module"}),
        strings=frozenset({"string"}),
        block_openers=("do", "|"),
        stop_words=("def ", "class ", "module "),
    ),
)
HASH_COMMENTS, DASH_COMMENTS = LanguageRules(comment="#"), LanguageRules(comment="--")
# Languages with a grammar (a parse for planning) but no rules of their own, and plain ones.
SHELL = Language("shellscript", suffixes=(".sh", ".bash"), aliases=("bash",), grammar="bash", rules=HASH_COMMENTS)
SQL = Language("sql", suffixes=(".sql",), grammar="sql", rules=DASH_COMMENTS)
JSON = Language("json", suffixes=(".json",), grammar="json", rules=HASH_COMMENTS)
YAML = Language("yaml", suffixes=(".yaml", ".yml"), grammar="yaml", rules=HASH_COMMENTS)
MARKDOWN = Language("markdown", suffixes=(".md",), grammar="markdown", rules=LanguageRules(comment="", stop_lines=()))
TOML = Language("toml", suffixes=(".toml",), rules=HASH_COMMENTS)
LUA = Language("lua", suffixes=(".lua",), rules=DASH_COMMENTS)
PLAIN = [Language(name, suffixes=(suffix,)) for name, suffix in [
    ("html", ".html"), ("css", ".css"), ("php", ".php"), ("kotlin", ".kt"), ("swift", ".swift"),
]]  # fmt: skip

BUILTIN = (
    PYTHON, JAVASCRIPT, JAVASCRIPT_REACT, TYPESCRIPT, TYPESCRIPT_REACT, GO, RUST, JAVA, C, CPP, RUBY,
    SHELL, SQL, JSON, YAML, MARKDOWN, TOML, LUA, *PLAIN,
)  # fmt: skip
