"""What tabwise needs to know of each language's syntax, as data: node types and line conventions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageRules:
    """Node types (tree-sitter names) and line conventions of one language."""

    comment: str  # line comment prefix, for elision marks ("# ...")
    imports: frozenset[str] = frozenset()  # top-level statements that import
    definitions: frozenset[str] = frozenset()  # statements that define a named thing
    scopes: frozenset[str] = frozenset()  # definitions whose header frames the code inside them
    wrappers: frozenset[str] = frozenset()  # nodes that wrap a definition (decorators, export)
    comments: frozenset[str] = frozenset({"comment"})
    strings: frozenset[str] = frozenset({"string"})
    block_openers: tuple[str, ...] = ("{",)  # a line ending in one of these opens a block
    stop_words: tuple[str, ...] = ()  # a line starting with one of these at column 0 ends a completion
    # A line starting with one of these ends a completion anywhere: a chat-tuned model drifting into a
    # Markdown answer opens a fence.
    stop_lines: tuple[str, ...] = ("```",)
    # A line starting with one of these at the indentation of the line that opened a block goes on with
    # the same statement (`elif`, `else`), so the block's end does not end the completion there.
    clauses: tuple[str, ...] = ()
    # Indentation is syntax (the off-side rule): a line indented deeper than the code above allows is an
    # error, not a style.
    offside: bool = False


_C_LIKE_STOPS = ("#include", "#define")
RULES: dict[str, LanguageRules] = {
    "python": LanguageRules(
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
    "javascript": LanguageRules(
        comment="//",
        imports=frozenset({"import_statement"}),
        definitions=frozenset(
            {"function_declaration", "generator_function_declaration", "class_declaration", "lexical_declaration"}
        ),
        scopes=frozenset({"function_declaration", "class_declaration", "method_definition"}),
        wrappers=frozenset({"export_statement"}),
        strings=frozenset({"string", "template_string", "string_fragment"}),
        stop_words=("function ", "class ", "export ", "import "),
    ),
    "go": LanguageRules(
        comment="//",
        imports=frozenset({"import_declaration"}),
        definitions=frozenset({"function_declaration", "method_declaration", "type_declaration"}),
        scopes=frozenset({"function_declaration", "method_declaration"}),
        strings=frozenset({"interpreted_string_literal", "raw_string_literal"}),
        stop_words=("func ", "type "),
    ),
    "rust": LanguageRules(
        comment="//",
        imports=frozenset({"use_declaration"}),
        definitions=frozenset({"function_item", "struct_item", "enum_item", "trait_item", "impl_item"}),
        scopes=frozenset({"function_item", "impl_item", "trait_item"}),
        comments=frozenset({"line_comment", "block_comment"}),
        strings=frozenset({"string_literal", "raw_string_literal"}),
        stop_words=("fn ", "pub fn ", "struct ", "impl ", "enum ", "trait ", "mod "),
    ),
    "java": LanguageRules(
        comment="//",
        imports=frozenset({"import_declaration"}),
        definitions=frozenset({"class_declaration", "interface_declaration", "method_declaration"}),
        scopes=frozenset({"class_declaration", "interface_declaration", "method_declaration"}),
        comments=frozenset({"line_comment", "block_comment"}),
        strings=frozenset({"string_literal"}),
        stop_words=("public class ", "class ", "interface "),
    ),
    "c": LanguageRules(
        comment="//",
        imports=frozenset({"preproc_include"}),
        definitions=frozenset({"function_definition", "struct_specifier"}),
        scopes=frozenset({"function_definition"}),
        strings=frozenset({"string_literal"}),
        stop_words=_C_LIKE_STOPS,
    ),
    "ruby": LanguageRules(
        comment="#",
        definitions=frozenset({"method", "class", "module"}),
        scopes=frozenset({"method", "class", "module"}),
        strings=frozenset({"string"}),
        block_openers=("do", "|"),
        stop_words=("def ", "class ", "module "),
    ),
}
RULES["typescript"] = RULES["tsx"] = LanguageRules(
    comment="//",
    imports=RULES["javascript"].imports,
    definitions=RULES["javascript"].definitions
    | {"interface_declaration", "type_alias_declaration", "enum_declaration", "abstract_class_declaration"},
    scopes=RULES["javascript"].scopes | {"abstract_class_declaration"},
    wrappers=RULES["javascript"].wrappers,
    strings=RULES["javascript"].strings,
    stop_words=(*RULES["javascript"].stop_words, "interface ", "type "),
)
RULES["cpp"] = LanguageRules(
    comment="//",
    imports=RULES["c"].imports,
    definitions=RULES["c"].definitions | {"class_specifier", "namespace_definition"},
    scopes=RULES["c"].scopes | {"class_specifier"},
    strings=frozenset({"string_literal", "raw_string_literal"}),
    stop_words=_C_LIKE_STOPS,
)
for _alias, _name in [("javascriptreact", "javascript"), ("typescriptreact", "tsx")]:
    RULES[_alias] = RULES[_name]
PLAIN = {"shellscript": "#", "bash": "#", "sql": "--", "yaml": "#", "toml": "#", "ruby": "#", "lua": "--"}


def rules_for(language: str) -> LanguageRules:
    """Rules for a language id; unknown languages get empty rules (plain line windows)."""
    if language == "markdown":
        return LanguageRules(comment="", stop_lines=())
    return RULES.get(language) or LanguageRules(comment=PLAIN.get(language, "#"))
