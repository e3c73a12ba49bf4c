"""Fill-in-the-middle prompt assembly within a token budget, laid out stable-first.

llama.cpp keeps the KV cache of the previous prompt and re-evaluates only from the first token that
differs. So the prompt runs from what changes least to what changes most: other files, then a folded
view of the current file (its imports, the headers around the cursor, definitions it uses) above a
prefix window whose first line is anchored (it moves in steps of ANCHOR_LINES lines, not with every
keystroke), then the short suffix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from completion.context import CodeContext, Snippet
from completion.types import FimRequest
from prompts import FimFormat

ANCHOR_LINES = 32  # the prefix window's first line is a multiple of this, so it rarely moves
FILES_SHARE = 0.35  # other files may add this share of the budget on top of it
HEAD_SHARE = 0.2  # at most this share goes to the folded view of the current file
CHARS_PER_TOKEN = 3  # a safe lower bound for code, used only to cut a single overlong line
MAX_CHARS_PER_TOKEN = 8  # a safe upper bound: longer text cannot fit a token budget
MIN_SNIPPET_TOKENS = 8  # below this much head budget no snippet fits

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class FimPrompt:
    """The prompt text and what of the document it shows."""

    text: str
    prefix_start_line: int  # 0-based line of the document where the shown prefix starts
    suffix_end_line: int  # lines of the suffix shown (0 = only the rest of the cursor's line)
    files_shown: int  # how many context files fit
    snippets_shown: int  # how many same-file snippets fit in the folded view


def _prefix_window(lines: list[str], budget: int, count: TokenCounter) -> tuple[str, int]:
    """The tail of the prefix lines that fits `budget` tokens, starting on an anchored line."""
    used, first = 0, len(lines) - 1
    for index in range(len(lines) - 1, -1, -1):
        used += count(lines[index] + "\n")
        if used > budget:
            break
        first = index
    if first > 0:  # anchor: round up to a multiple of ANCHOR_LINES (fewer lines, still in budget)
        first = min(-(-first // ANCHOR_LINES) * ANCHOR_LINES, len(lines) - 1)
    window = "\n".join(lines[first:])
    if first == len(lines) - 1 and count(window) > budget:  # one huge line: keep its tail
        window = window[-budget * CHARS_PER_TOKEN :]
    return window, first


def _suffix_window(suffix: str, budget: int, count: TokenCounter) -> tuple[str, int]:
    """The head of `suffix` that fits `budget` tokens, in whole lines (the cursor's line always)."""
    lines = suffix.split("\n")
    used = count(lines[0])
    last = 0
    for index in range(1, len(lines)):
        used += count("\n" + lines[index])
        if used > budget:
            break
        last = index
    window = "\n".join(lines[: last + 1])
    if last == 0 and count(window) > budget:  # one huge line: keep its head
        window = window[: budget * CHARS_PER_TOKEN]
    return window, last


def _folded_head(
    snippets: tuple[Snippet, ...], visible: range, cursor_line: int, budget: int, comment: str, count: TokenCounter
) -> tuple[str, int]:
    """Snippets not visible in the windows, in file order with elision marks, within `budget`."""
    hidden = [s for s in snippets if not (s.line in visible and s.end_line in visible)]
    hidden.sort(key=lambda s: (s.rank, abs(s.line - cursor_line)))
    chosen: list[Snippet] = []
    for snippet in hidden:
        if budget < MIN_SNIPPET_TOKENS:
            break
        if len(snippet.text) > budget * MAX_CHARS_PER_TOKEN:
            continue  # cannot fit: not worth tokenizing
        cost = count(snippet.text) + 4
        if cost <= budget:
            chosen.append(snippet)
            budget -= cost
    if not chosen:
        return "", 0
    chosen.sort(key=lambda s: s.line)
    parts, next_line = [], 0
    for snippet in chosen:
        if snippet.line > next_line:
            parts.append(f"{comment} ...")
        parts.append(snippet.text)
        next_line = snippet.end_line + 1
    parts.append(f"{comment} ...\n")
    return "\n".join(parts), len(chosen)


def _commented(path: str, text: str, comment: str) -> str:
    """Another file's code as a comment block, for models that do better in the file-level form."""
    lines = "\n".join(f"{comment} {line}".rstrip() for line in text.split("\n"))
    return f"{comment} {path}:\n{lines}\n"


def build_fim_prompt(
    request: FimRequest,
    fmt: FimFormat,
    count: TokenCounter,
    budget: int,
    suffix_share: float,
    context: CodeContext | None = None,
) -> FimPrompt:
    """The FIM prompt for `request` in `fmt`, at most about `budget` tokens of code."""
    context = context or CodeContext(files=request.context_files)
    suffix, suffix_end = _suffix_window(request.suffix, int(budget * suffix_share), count)
    remaining = budget - count(suffix)
    files_text, files_shown, files_budget = "", 0, int(budget * FILES_SHARE)
    for context_file in context.files:
        block = (
            fmt.context_file.format(path=context_file.path, text=context_file.text)
            if fmt.repo_form
            else _commented(context_file.path, context_file.text, context.comment)
        )
        cost = count(block)
        if cost > files_budget:
            break  # files keep their order: skipping one would reshuffle what follows
        files_text, files_shown, files_budget = files_text + block, files_shown + 1, files_budget - cost
    # Other files come on top of the code budget: taking it from the window around the cursor cost 10
    # points of exact match on the cross-file set (docs/benchmarks.md); they sit in the stable part of the
    # prompt, so their tokens are evaluated once, not per keystroke.
    lines = request.prefix.split("\n")
    prefix, prefix_start = _prefix_window(lines, max(remaining, 0), count)
    head, shown = "", 0
    if prefix_start > 0 and context.snippets:
        head_budget = int(budget * HEAD_SHARE)
        prefix, prefix_start = _prefix_window(lines, max(remaining - head_budget, 0), count)
        cursor_line = len(lines) - 1
        visible = range(prefix_start, cursor_line + suffix_end + 1)
        head, shown = _folded_head(context.snippets, visible, cursor_line, head_budget, context.comment, count)
    if not fmt.repo_form or not files_shown:  # the file-level form, other files as comments on top
        infill = fmt.infill.format(prefix=files_text + head + prefix, suffix=suffix)
        return FimPrompt(infill, prefix_start, suffix_end, files_shown, shown)
    infill = fmt.infill.format(prefix=head + prefix, suffix=suffix)
    header = fmt.repo_header.format(repo=request.repo or "workspace")
    text = header + files_text + fmt.current_file.format(path=request.path) + infill
    return FimPrompt(text, prefix_start, suffix_end, files_shown, shown)
