"""Notebooks as one document: the other cells, in notebook order, around the cell being edited.

Cells are joined in the percent format (`# %%` markers, markdown cells as comments) that editors
and models know from Python scripts, so the model sees the notebook as the file it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from completion.languages import rules_for
from completion.types import FimRequest


@dataclass(frozen=True)
class Cell:
    """One notebook cell."""

    kind: str  # "code" or "markdown" (anything else is shown as markdown)
    text: str


def cell_text(cell: Cell, comment: str) -> str:
    """A cell in percent format; markdown lines become comments."""
    if cell.kind == "code":
        return f"{comment} %%\n{cell.text}"
    lines = "\n".join(f"{comment} {line}".rstrip() for line in cell.text.split("\n"))
    return f"{comment} %% [markdown]\n{lines}"


def notebook_request(cells: Sequence[Cell], index: int, request: FimRequest) -> FimRequest:
    """`request` (prefix and suffix within cell `index`) widened to the whole notebook."""
    if not 0 <= index < len(cells):
        raise IndexError(f"cell {index} is not in a notebook of {len(cells)} cells")
    comment = rules_for(request.language or "python").comment
    before = "".join(cell_text(cell, comment) + "\n\n" for cell in cells[:index])
    after = "".join("\n\n" + cell_text(cell, comment) for cell in cells[index + 1 :])
    return replace(request, prefix=f"{before}{comment} %%\n{request.prefix}", suffix=request.suffix + after)
