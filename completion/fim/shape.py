"""Where to stop and how to clean up what the model wrote: pure functions of text and request.

`stop_index` runs on the growing text while streaming, so generation ends as soon as the model has
written what fits (a cut saves the seconds the rest would take); `clean_suggestion` runs once on
the final text.
"""

from __future__ import annotations

import re

from completion.fim.plan import CLOSERS, OPENERS, STRINGS, Mode, Plan, bracket_depth, indent_of, opens_block
from completion.languages import LanguageRules

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
REPEAT_WINDOW = 5  # lines before the cursor that a looping model re-writes
MID_EXPRESSION = set(",.:?!=+-*/%<>&|^~@\\") | set(OPENERS)  # a line cut after one of these goes on


def rest_of_line(suffix: str) -> str:
    """The text after the cursor on the cursor's line."""
    return suffix.split("\n", 1)[0]


def next_code_line(suffix: str) -> str:
    """The first non-blank line after the cursor's line, without trailing space ("" if none)."""
    for line in suffix.split("\n")[1:]:
        if line.strip():
            return line.rstrip()
    return ""


def is_retyped(line: str, following: str) -> bool:
    """True if a written line repeats the next line of the file. A line of closing brackets must
    match with its indentation too: "  }" closing the model's own block is not the "}" below."""
    if not following or line.strip() != following.strip():
        return False
    return line.rstrip() == following or following.strip()[0] not in CLOSERS


def leaves_place(past_stop: str, plan: Plan, suffix: str) -> bool:
    """Whether what the model wrote past a stop rule's cut says that nothing belongs at the place after the
    cut, judged by that place's `plan`: its next code line is indented below the plan's floor (the block,
    or the definition, is over) or is the code below written again. Asked there, the model says so again."""
    line = next((line for line in past_stop.split("\n") if line.strip()), "")
    return bool(line) and (indent_of(line) < plan.min_indent or is_retyped(line, next_code_line(suffix)))


def stop_index(text: str, plan: Plan, line_before: str, suffix: str, rules: LanguageRules) -> int | None:
    """Where the completion should end (an index into `text`), or None to keep generating.

    A line is judged once a newline ends it, so a half-written line is never cut; call it with
    text + "\n" when generation is over to judge the last line too.
    """
    following = next_code_line(suffix)
    lines = text.split("\n")
    in_block, opened_here, min_indent, going_on = plan.mode is Mode.BLOCK, False, plan.min_indent, False
    statement = line_before + lines[0]  # LINE mode: the statement written so far
    offset = len(lines[0])  # index of the newline that ends lines[index - 1]
    for index in range(1, len(lines)):
        if not in_block:  # the statement's line just ended: is the statement over?
            if opens_block(statement.rsplit("\n", 1)[-1], rules) and bracket_depth(statement) <= 0:
                in_block, opened_here, min_indent = True, True, indent_of(statement) + 1
            elif bracket_depth(statement) <= 0:
                if not plan.goes_on or opens_block(statement.split("\n", 1)[0], rules):
                    return offset  # a braced block ends with its closing line, as an indented one does
                in_block, min_indent, going_on = True, plan.min_indent, True  # the lines that follow
        line = lines[index]
        if going_on and min_indent == 0 and index < len(lines) - 1 and not line.strip():
            return offset  # at top level, going on after a statement ends at a blank line: a new paragraph
        if index < len(lines) - 1 and line.strip():
            if is_retyped(line, following):
                return offset
            if in_block and indent_of(line) < min_indent:
                at_opener = indent_of(line) == min_indent - 1
                if not (at_opener and line.lstrip().startswith(rules.clauses)):
                    closing = line.lstrip()[:1] in CLOSERS
                    closes_own_block = opened_here and closing and at_opener
                    # `)` or `}` closing what was open at the cursor, which the code below does not close
                    closes_cursor = closing and 0 < plan.closes <= -bracket_depth(text[: offset + 1 + len(line)])
                    return offset + 1 + len(line) if closes_own_block or closes_cursor else offset
            if rules.stop_words and indent_of(line) == 0 and line.startswith(rules.stop_words):
                return offset
            if rules.stop_lines and line.lstrip().startswith(rules.stop_lines):
                return offset
        if not in_block:
            statement += "\n" + line
        offset += 1 + len(line)
    return None


def added_comment_end(text: str, line_before: str, suffix: str, rules: LanguageRules) -> int:
    """How much of `text` to drop where it begins by appending a comment to the line of code the user
    just ended (a small model's habit at a line's end: `  # type: ignore`, `  # with context`): the code
    that follows is what was asked for, and a comment the user wants they begin themselves. 0 elsewhere."""
    first = text.split("\n", 1)[0]
    code_before = line_before.strip() and rules.comment not in line_before
    if code_before and first.lstrip().startswith(rules.comment) and not rest_of_line(suffix).strip():
        return len(first)
    return 0


def _open_literal(code: str) -> bool:
    """True if `code` ends inside a literal that spans lines (a triple-quoted string, a template string)."""
    return code.count('"""') % 2 == 1 or code.count("'''") % 2 == 1 or STRINGS.sub("", code).count("`") % 2 == 1


def standing_end(text: str, line_before: str, rules: LanguageRules, closes: int = 0) -> int | None:
    """The end of the longest run of whole lines of `text` that can be shown alone, or None.

    What is shown when the time budget ends must stand on its own: every bracket it opened closed (a
    braced block with its `}`), and the `closes` brackets open at the cursor that nothing below closes (a
    dict's last entries come with its closing brace), no literal left open, and not ending in a block
    opener without its body (`else:`). The rest comes when it is computed.
    """
    best, offset = None, text.find("\n")
    while offset >= 0:
        part = text[:offset]
        last = next((line for line in reversed((line_before + part).split("\n")) if line.strip()), "")
        if part.strip() and bracket_depth(part) <= -closes and not _open_literal(part) and not opens_block(last, rules):
            best = offset
        offset = text.find("\n", offset + 1)
    return best


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def complete_line(text: str, last_piece: int, line_before: str, rules: LanguageRules, closes: int = 0) -> bool:
    """True if `text`, a first line a limit cut before the model ended it, may still be shown: it closed
    every bracket it opened (and the `closes` open at the cursor that nothing below closes), left no string
    open, and does not stop mid-expression: after an operator, a comma or an opener, or in a word its last
    piece only continued (`ret` + `urn`; a piece that begins a word, ` total`, is taken as whole). Anything
    else is half a statement (`(year % 100 != 0 or year % 400 == `) that would not even parse."""
    if "\n" in text or not text.strip() or bracket_depth(text) > -closes:
        return False
    line = line_before + text
    if any(quote in STRINGS.sub("", line) for quote in "\"'`") or opens_block(line, rules):
        return False
    end = line.rstrip()[-1]
    start = len(line_before) + min(last_piece, len(text))  # where the last piece begins in `line`
    mid_word = _word(line[-1]) and 0 < start < len(line) and _word(line[start - 1]) and _word(line[start])
    return end not in MID_EXPRESSION and not mid_word


def repeated_suffix_start(text: str, suffix: str) -> int | None:
    """Where the model began re-typing the suffix's next code line, or None."""
    following = next_code_line(suffix)
    if not following or "\n" not in text:
        return None
    offset = text.index("\n") + 1
    for line in text.split("\n")[1:]:
        if is_retyped(line, following):
            return offset - 1
        offset += len(line) + 1
    return None


def _cut_at_brackets_closed_after_cursor(text: str, line_before: str, rest: str) -> str:
    """End a mid-line suggestion before it closes a bracket that the text after the cursor closes.

    `print(len(|))`: the suggestion `items))` becomes `items`; `f"Hi, {|}"`: `name}! Welcome` becomes
    `name`. Brackets the suggestion opens itself it may close.
    """
    closed_after = sum(1 for ch in STRINGS.sub("", rest) if ch in CLOSERS)
    if not closed_after:
        return text
    floor = min(0, closed_after - bracket_depth(line_before))  # how far below the cursor's depth it may go
    base = bracket_depth(line_before)
    for index, ch in enumerate(text):
        if ch in CLOSERS and bracket_depth(line_before + text[: index + 1]) - base < floor:
            return text[:index]
    return text


def _drop_repeated_lines(text: str, prefix: str) -> str:
    """Cut a multi-line suggestion where it starts re-writing two lines just above the cursor."""
    recent = [line.strip() for line in prefix.split("\n")[-REPEAT_WINDOW - 1 : -1] if line.strip()]
    lines = text.split("\n")
    for index in range(1, len(lines) - 1):
        pair = [lines[index].strip(), lines[index + 1].strip()]
        if all(pair) and any(recent[i : i + 2] == pair for i in range(len(recent) - 1)):
            return "\n".join(lines[:index])
    return text


def _match_indent_style(text: str, prefix: str) -> str:
    """Tabs or spaces as the file already uses them."""
    uses_tabs = "\n\t" in prefix
    uses_spaces = "\n    " in prefix or "\n  " in prefix
    if uses_spaces and not uses_tabs and "\t" in text:
        return "\n".join(re.sub(r"^\t+", lambda m: "    " * len(m.group()), line) for line in text.split("\n"))
    if uses_tabs and not uses_spaces and "\n    " in "\n" + text:
        return "\n".join(re.sub(r"^(    )+", lambda m: "\t" * (len(m.group()) // 4), line) for line in text.split("\n"))
    return text


def _within_indent(text: str, line_before: str, deepest: int | None) -> str:
    """Shift a suggestion left whose first line starts deeper than `deepest` (the plan's limit where
    indentation is syntax): the model wrote the right line at a miscounted indentation, and `for x in xs:`
    four columns deeper than the statement above it is an IndentationError, not a suggestion."""
    first = text.split("\n", 1)[0]
    if deepest is None or not first.strip():
        return text
    excess = indent_of(line_before + first) - deepest
    if excess <= 0 or excess > len(first) - len(first.lstrip(" ")):
        return text  # only the model's own leading spaces are removed
    return "\n".join(line[excess:] if line[:excess].isspace() else line for line in text.split("\n"))


def clean_suggestion(text: str, prefix: str, suffix: str, deepest: int | None = None) -> str:
    """The final text to insert at the cursor; `deepest` is the plan's `max_indent`."""
    text = _THINK.sub("", text)
    cut = repeated_suffix_start(text, suffix)
    if cut is not None:
        text = text[:cut]
    line_before, rest = prefix.rsplit("\n", 1)[-1], rest_of_line(suffix)
    if rest.strip() and "\n" not in text.rstrip() and text.rstrip().endswith(rest.strip()):
        text = text.rstrip()[: -len(rest.strip())]
    text = _cut_at_brackets_closed_after_cursor(text, line_before, rest)
    text = _drop_repeated_lines(text, prefix)
    text = _match_indent_style(text, prefix)
    text = _within_indent(text, line_before, deepest)
    if "\n" in text:
        text = text.rstrip()
    return text.rstrip(" \t") if rest.strip() else text
