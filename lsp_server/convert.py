"""LSP <-> engine: documents and positions become FimRequests, suggestions become LSP items.

Positions arrive in the client's units (UTF-16 code units by default); pygls's document converts
them. They are checked here first: a position outside the document is the client's error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.workspace import TextDocument

from completion.context.notebook import Cell, cell_text, notebook_request
from completion.languages import language_of
from completion.types import FimRequest, Suggestion


class BadRequest(ValueError):
    """The client sent something that cannot be answered (the message says what)."""


def uri_path(uri: str, root: Path | None) -> str:
    """The document's path relative to the workspace root ("/"-separated), else its file name."""
    parsed = urlparse(uri)
    path = Path(unquote(parsed.path))
    if root is not None and parsed.scheme == "file" and path.resolve().is_relative_to(root.resolve()):
        return path.resolve().relative_to(root.resolve()).as_posix()
    return path.name or "untitled"


def root_text(root: Path | None) -> str:
    """The workspace folder as FimRequest.root and the service's document calls take it ("": none)."""
    return str(root) if root is not None else ""


def after_insert(start: types.Position, text: str) -> types.Position:
    """Where the cursor is after `text` was inserted at `start` (LSP positions: UTF-16 columns)."""
    *above, last = text.split("\n")
    if not above:
        return types.Position(start.line, start.character + utf16_length(text))
    return types.Position(start.line + len(above), utf16_length(last))


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the LSP default position unit."""
    return len(text.encode("utf-16-le")) // 2


def check_position(document: TextDocument, position: types.Position) -> None:
    """BadRequest unless `position` is inside `document`."""
    lines = document.source.split("\n")
    if not 0 <= position.line < len(lines):
        raise BadRequest(f"line {position.line} is outside the document ({len(lines)} lines)")
    length = utf16_length(lines[position.line].rstrip("\r"))
    if not 0 <= position.character <= length:
        raise BadRequest(f"character {position.character} is outside line {position.line} ({length} long)")


def check_text(document: TextDocument) -> None:
    """BadRequest for a document that is not text (NUL bytes)."""
    if "\0" in document.source:
        raise BadRequest(f"{document.uri} looks binary; tabwise completes text only")


def split_document(
    document: TextDocument, position: types.Position, selected: types.SelectedCompletionInfo | None = None
) -> tuple[str, str]:
    """Text before and after the cursor; with a selected completion-list item applied, as VS Code shows it."""
    check_text(document)
    check_position(document, position)
    source = document.source
    offset = document.offset_at_position(position)
    if selected is None:
        return source[:offset], source[offset:]
    check_position(document, selected.range.start)
    start = document.offset_at_position(selected.range.start)
    end = document.offset_at_position(selected.range.end)
    return source[:start] + selected.text, source[max(end, offset) :]


def text_request(
    document: TextDocument,
    position: types.Position,
    root: Path | None,
    selected: types.SelectedCompletionInfo | None = None,
) -> FimRequest:
    """The completion request for a cursor in a text document."""
    prefix, suffix = split_document(document, position, selected)
    path = uri_path(document.uri, root)
    language = document.language_id or language_of(path)
    return FimRequest(prefix, suffix, path=path, root=root_text(root), language=language, document=document.uri)


def cell_request(
    notebook: types.NotebookDocument,
    cells: list[tuple[types.NotebookCell, TextDocument]],
    index: int,
    position: types.Position,
    root: Path | None,
) -> FimRequest:
    """The completion request for a cursor in notebook cell `index`, with the other cells as context."""
    document = cells[index][1]
    prefix, suffix = split_document(document, position)
    path = uri_path(notebook.uri, root)
    language = document.language_id or "python"
    request = FimRequest(prefix, suffix, path=path, root=root_text(root), language=language, document=document.uri)
    return notebook_request(notebook_cells(cells), index, request)


def notebook_cells(cells: list[tuple[types.NotebookCell, TextDocument]]) -> list[Cell]:
    """The engine's view of a notebook's cells, in order."""
    kinds = {types.NotebookCellKind.Code: "code", types.NotebookCellKind.Markup: "markdown"}
    return [Cell(kinds.get(cell.kind, "markdown"), text.source) for cell, text in cells]


def notebook_text(cells: list[tuple[types.NotebookCell, TextDocument]]) -> str:
    """The whole notebook as one Python document, as a cell's request shows it to the model (percent format)."""
    return "\n\n".join(cell_text(cell, "#") for cell in notebook_cells(cells))


def inline_list(
    suggestion: Suggestion, position: types.Position, selected: types.SelectedCompletionInfo | None = None
) -> types.InlineCompletionList:
    """The suggestion as VS Code's inline completion (empty when there is none)."""
    if not suggestion.text.strip():
        return types.InlineCompletionList(items=[])
    if selected is not None:  # the item replaces the selected completion's range, its text included
        item = types.InlineCompletionItem(insert_text=selected.text + suggestion.text, range=selected.range)
    else:
        item = types.InlineCompletionItem(insert_text=suggestion.text, range=types.Range(position, position))
    return types.InlineCompletionList(items=[item])


def completion_list(suggestion: Suggestion) -> types.CompletionList:
    """The suggestion as one completion item, for editors without inline completion."""
    if not suggestion.text.strip():
        return types.CompletionList(is_incomplete=True, items=[])
    label = suggestion.text.strip().split("\n", 1)[0][:80]
    item = types.CompletionItem(
        label=label,
        kind=types.CompletionItemKind.Text,
        detail="tabwise",
        insert_text=suggestion.text,
        insert_text_format=types.InsertTextFormat.PlainText,
        sort_text="0",
    )
    return types.CompletionList(is_incomplete=True, items=[item])  # incomplete: ask again as the user types
