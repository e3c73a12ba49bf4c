"""Fill-in-the-middle prompt assembly within a token budget, laid out stable-first.

llama.cpp keeps the KV cache of the previous prompt and re-evaluates only from the first token that
differs. So the prompt runs from what changes least to what changes most: the request's notes (a notebook
kernel's variables, as comments; they change when a cell runs), a folded view of the current
file (its imports, the headers around the cursor, definitions it uses), then other files right above the
prefix window (nearer the cursor they help more: docs/benchmarks.md), then the suffix. While the user
types, the previous prompt's Layout is kept: the window's first line stays put until the window outgrows
its budget (then it jumps forward, leaving room to grow), and the folded view and other files are reused
as they were for as long as the window and the enclosing scopes stay the same. The prefix part always ends
at the cursor, and the middle marker ends the prompt: the small model's first line is right at 62 of 146
places inside a line so, against 26 with the line's typed part after the middle marker (the anchor tabwise
kept within a line until issue 25) and 25 with the whole line there (llama.cpp's /infill, as llama.vscode
sends it): `python -m bench.fim_split`, docs/benchmarks.md. Each request then evaluates the suffix again
(128 tokens, within the time budget on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from completion.context.gatherer import CodeContext, Snippet
from completion.types import FimRequest
from prompts import FimFormat

FILES_SHARE = 0.35  # other files may add this share of the budget on top of it
NOTES_SHARE = 0.4  # the request's notes (a kernel's variables) may add this share on top of it
HEAD_SHARE = 0.2  # at most this share goes to the folded view of the current file
GROWTH_SHARE = 0.25  # a window that moves leaves this share of its budget free to type into
CHARS_PER_TOKEN = 3  # a safe lower bound for code, used only to cut a single overlong line
MAX_CHARS_PER_TOKEN = 8  # a safe upper bound: longer text cannot fit a token budget
MIN_SNIPPET_TOKENS = 8  # below this much head budget no snippet fits

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Layout:
    """What a document's prompt fixed, kept for its next prompt so that the prompt's start stays put."""

    window_start: int  # 0-based first line of the prefix window
    scopes: tuple[int, ...]  # first lines of the scopes around the cursor the folded view was made for
    head: str  # the folded view of the file above the window ("" for none)
    head_snippets: int  # snippets in it
    files: str = ""  # other files shown above it
    files_shown: int = 0


@dataclass(frozen=True)
class FimPrompt:
    """The prompt text, what of the document it shows, and its layout for the next prompt."""

    text: str
    prefix_start_line: int  # 0-based line of the document where the shown prefix starts
    suffix_end_line: int  # lines of the suffix shown (0 = only the rest of the cursor's line)
    files_shown: int  # how many context files fit
    snippets_shown: int  # how many same-file snippets fit in the folded view
    layout: Layout


def _tokens(lines: list[str], count: TokenCounter) -> int:
    return sum(count(line + "\n") for line in lines)


def _window_start(lines: list[str], budget: int, count: TokenCounter) -> int:
    """The first line of the longest tail of `lines` within `budget` tokens (the last line always)."""
    used, first = 0, len(lines) - 1
    for index in range(len(lines) - 1, -1, -1):
        used += count(lines[index] + "\n")
        if used > budget:
            break
        first = index
    return first


def _window(lines: list[str], start: int, budget: int, count: TokenCounter) -> str:
    window = "\n".join(lines[start:])
    if start == len(lines) - 1 and count(window) > budget:  # one huge line: keep its tail
        window = window[-budget * CHARS_PER_TOKEN :]
    return window


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
    suffix_budget: int,
    context: CodeContext | None = None,
    previous: Layout | None = None,
) -> FimPrompt:
    """The FIM prompt for `request` in `fmt`: about `budget` tokens of code, `suffix_budget` of them
    after the cursor, laid out like `previous` (the document's last prompt) where that still fits."""
    context = context or CodeContext(files=request.context_files)
    suffix, suffix_end = _suffix_window(request.suffix, suffix_budget, count)
    lines = request.prefix.split("\n")
    cursor_line = len(lines) - 1
    whole = max(budget - suffix_budget, 0)  # the window's budget when it starts at the file's top
    head_budget = int(budget * HEAD_SHARE) if context.snippets else 0
    scopes = tuple(s.line for s in context.snippets if s.rank == 0)
    if not scopes and previous is not None:  # a half-typed line may leave no scope in the parse: same place
        scopes = previous.scopes
    start = _chosen_start(lines, whole, whole - head_budget, count, previous)
    prefix = _window(lines, start, whole if start == 0 else whole - head_budget, count)
    head, shown = "", 0
    if previous is not None and (previous.window_start, previous.scopes) == (start, scopes):
        # As they were: the tokens after them stay cached (other files follow the names near the cursor)
        files_text, files_shown = previous.files, previous.files_shown
        head, shown = previous.head, previous.head_snippets
    else:
        files_text, files_shown = _files_block(context, fmt, count, int(budget * FILES_SHARE))
        if start > 0 and context.snippets:
            visible = range(start, cursor_line + suffix_end + 1)
            head, shown = _folded_head(context.snippets, visible, cursor_line, head_budget, context.comment, count)
    notes = _notes_block(request.notes, context.comment, count, int(budget * NOTES_SHARE))  # first: changes least
    lead, code = _lead_and_code(request, fmt, notes, head, files_text, prefix)  # files_text: "" if none shown
    opening, between, closing = fmt.infill_markers
    layout = Layout(start, scopes, head, shown, files_text, files_shown)
    text = lead + opening + code + between + suffix + closing
    return FimPrompt(text, start, suffix_end, files_shown, shown, layout)


def _chosen_start(lines: list[str], whole: int, folded: int, count: TokenCounter, previous: Layout | None) -> int:
    """The window's first line (0-based): the previous window's while it still fits, else the file's top if
    all of it fits `whole`, else one that leaves GROWTH_SHARE of `folded` (the budget beside the folded
    view) free to type into."""
    start = _kept_start(lines, whole, folded, count, previous)
    if start is not None:
        return start
    if _window_start(lines, whole, count) == 0:
        return 0
    return _window_start(lines, int(folded * (1 - GROWTH_SHARE)), count)


def _lead_and_code(
    request: FimRequest, fmt: FimFormat, notes: str, head: str, files: str, prefix: str
) -> tuple[str, str]:
    """What goes before the opening marker (the repository form's header and other files) and the code
    after it, up to the cursor. In the file-level form, or with no other files shown, there is no lead:
    other files are comments above the window."""
    if not fmt.repo_form or not files:
        return "", notes + head + files + prefix
    lead = fmt.repo_header.format(repo="workspace") + files + fmt.current_file.format(path=request.path)
    return lead, notes + head + prefix


def _notes_block(notes: str, comment: str, count: TokenCounter, budget: int) -> str:
    """The request's notes as comments, the whole lines that fit `budget` from the first (on top of the
    code budget; the same notes give the same text, so they stay cached while the user types)."""
    block = ""
    for line in notes.split("\n") if notes.strip() else ():
        commented = f"{comment} {line}".rstrip() + "\n"
        cost = count(commented) if len(commented) <= budget * MAX_CHARS_PER_TOKEN else budget + 1
        if cost > budget:
            break
        block, budget = block + commented, budget - cost
    return block


def _kept_start(lines: list[str], whole: int, folded: int, count: TokenCounter, previous: Layout | None) -> int | None:
    """The previous window's first line, if the window from there to the cursor still fits."""
    if previous is None or previous.window_start > len(lines) - 1:
        return None
    start = previous.window_start
    return start if _tokens(lines[start:], count) <= (whole if start == 0 else folded) else None


def _files_block(context: CodeContext, fmt: FimFormat, count: TokenCounter, budget: int) -> tuple[str, int]:
    """Other files in their given order, as much as fits `budget` (on top of the code budget: taking it
    from the window cost 10 points of exact match on the cross-file set, docs/benchmarks.md). A file that
    does not fit whole keeps its leading definitions (blank-line separated) that fit; one with none
    that fits is left out."""
    text, shown = "", 0
    for context_file in context.files:
        parts = context_file.text.split("\n\n")
        while parts:
            body = "\n\n".join(parts)
            block = (
                fmt.context_file.format(path=context_file.path, text=body)
                if fmt.repo_form
                else _commented(context_file.path, body, context.comment)
            )
            cost = count(block) if len(block) <= budget * MAX_CHARS_PER_TOKEN else budget + 1
            if cost <= budget:
                text, shown, budget = text + block, shown + 1, budget - cost
                break
            parts.pop()
    return text, shown
