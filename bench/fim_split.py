"""Where a FIM prompt splits a line being typed, and how often the model's first line is then right.

At each place inside a line where issue 25's user asks (after a space, `(` or `.`), the default model writes
its first line greedily from three prompts of the same code: `cursor` (the prefix part ends at the cursor,
the middle is empty: tabwise's prompt), `anchor` (the prefix part ends at the line's indentation and what was
typed since follows the middle marker: tabwise's within-line anchor before issue 25), `line` (the prefix
part ends at the line's start and the whole line follows the marker: llama.cpp's /infill as llama.vscode
sends it). A place counts as right when the line is non-empty and what the user types next begins with it
(a space the model doubles after one typed is dropped first, as the shaper does). Plain windows (about 600
tokens above, 128 below), no other context: the split is all that differs.

    python -m bench.fim_split --functions 6 --seed 0 [--splits cursor,anchor,line]
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.replay.tasks import Task, tasks
from bench.replay.users import every_space_bracket_dot
from completion.weights.models import resolve_model_path
from prompts import fim_format

BEFORE_CHARS, AFTER_CHARS, MAX_TOKENS = 1800, 450, 40
SPLITS = ("cursor", "anchor", "line")
QWEN = fim_format("qwen2.5-coder")  # the default model's markers and stop strings (prompts/)


def _lines_tail(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[-chars:].split("\n", 1)[-1]


def _lines_head(text: str, chars: int) -> str:
    return text[:chars].rsplit("\n", 1)[0] + "\n" if len(text) > chars and "\n" in text[:chars] else text[:chars]


def prompt(task: Task, cursor: int, split: str) -> str:
    """The default model's FIM prompt at `cursor` in `task`'s body, split as `split` says."""
    body = task.body
    line_start = body.rfind("\n", 0, cursor) + 1
    indent = len(body[line_start:cursor]) - len(body[line_start:cursor].lstrip(" "))
    at = {"cursor": cursor, "anchor": line_start + indent, "line": line_start}[split]
    opening, between, closing = QWEN.infill_markers
    before, after = _lines_tail(task.before + body[:at], BEFORE_CHARS), _lines_head(task.after, AFTER_CHARS)
    return opening + before + between + after + closing + body[at:cursor]


def first_line(llm: Any, text: str, space_typed: bool) -> str:
    out = llm.create_completion(text, max_tokens=MAX_TOKENS, temperature=0, stop=["\n", *QWEN.stop])
    line = str(out["choices"][0]["text"])
    return line[1:] if space_typed and line.startswith(" ") else line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import llama_cpp

    llm = llama_cpp.Llama(str(resolve_model_path(None)), n_ctx=4096, n_threads=args.threads, verbose=False)
    splits = args.splits.split(",")
    right = dict.fromkeys(splits, 0)
    places = 0
    for task in tasks(args.functions, args.seed):
        body = task.body
        inside = [p for p in every_space_bracket_dot(body) if body[body.rfind("\n", 0, p) + 1 : p].strip()]
        places += len(inside)
        for split in splits:  # one split at a time: each keeps its own prompts' KV prefix
            for cursor in inside:
                got = first_line(llm, prompt(task, cursor, split), body[cursor - 1] == " ")
                right[split] += bool(got.strip()) and body[cursor:].split("\n", 1)[0].startswith(got)
    print(f"{places} places inside a line, {args.functions} functions (seed {args.seed}); first line right:")
    for split in splits:
        print(f"  {split:7s} {right[split]:4d}  ({100 * right[split] / max(places, 1):.0f}%)")


if __name__ == "__main__":
    main()
