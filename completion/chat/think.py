"""Keep a reasoning model's <think>...</think> text apart from its answer, while streaming.

Tags may arrive split across pieces ("<thi", "nk>"), so text that could still become a tag is held
back until it cannot.
"""

from __future__ import annotations

from completion.types import ChatChunk, ChunkKind

OPEN, CLOSE = "<think>", "</think>"


def _partial_tag_start(text: str, tag: str) -> int:
    """Index where a proper prefix of `tag` ends `text`, or len(text) if none does."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return len(text) - size
    return len(text)


def open_thinking(prompt: str) -> str:
    """`prompt`, ending inside <think>: DeepSeek-R1's authors advise starting every answer with "<think>\n"
    (the model may skip its reasoning otherwise, and answer worse); older R1 GGUFs' templates do not."""
    return prompt if prompt.rstrip().endswith(OPEN) else prompt + OPEN + "\n"


class ThinkSplitter:
    """Feed streamed text; get chunks labelled reasoning or answer."""

    def __init__(self, *, reasoning: bool, starts_inside: bool = False) -> None:
        # reasoning: the model may think; starts_inside: the prompt already opened <think>
        self.state = "think" if starts_inside else ("start" if reasoning else "answer")
        self.held = ""  # text not yet emitted because it may be part of a tag
        self.answer_started = False  # leading blank lines after </think> are dropped

    def feed(self, piece: str) -> list[ChatChunk]:
        """Chunks that `piece` completes; may hold back a possible tag fragment."""
        self.held += piece
        out: list[ChatChunk] = []
        while True:
            if self.state == "start":
                stripped = self.held.lstrip()
                if stripped.startswith(OPEN):
                    self.held, self.state = stripped[len(OPEN) :], "think"
                    continue
                if OPEN.startswith(stripped):  # still undecided ("", "<", "<th" ...)
                    return out
                self.state = "answer"
            if self.state == "think":
                end = self.held.find(CLOSE)
                if end < 0:
                    cut = _partial_tag_start(self.held, CLOSE)
                    self._emit(out, ChunkKind.REASONING, self.held[:cut])
                    self.held = self.held[cut:]
                    return out
                self._emit(out, ChunkKind.REASONING, self.held[:end])
                self.held, self.state = self.held[end + len(CLOSE) :], "answer"
                continue
            text, self.held = self.held, ""
            self._emit(out, ChunkKind.ANSWER, text)
            return out

    def finish(self) -> list[ChatChunk]:
        """Flush what was held back at the end of the stream."""
        out: list[ChatChunk] = []
        kind = ChunkKind.REASONING if self.state == "think" else ChunkKind.ANSWER
        self._emit(out, kind, self.held)
        self.held = ""
        return out

    def _emit(self, out: list[ChatChunk], kind: ChunkKind, text: str) -> None:
        if kind is ChunkKind.ANSWER and not self.answer_started:
            text = text.lstrip("\n")
            self.answer_started = bool(text)
        if text:
            out.append(ChatChunk(kind, text))
