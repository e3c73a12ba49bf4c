"""Several KV caches over one loaded model, so that each client keeps its place.

llama-cpp-python's `Llama` holds one llama.cpp context, whose KV cache keeps the tokens of the last
prompt: a prompt that starts differently (a notebook cell after a file in an editor, an answer after a
suggestion) is evaluated from scratch, and so is the other one when the user switches back. Here the
`Llama` object's per-sequence state (its context, the tokens that context holds, its sampler) is kept
per slot and swapped in before each call: the weights are loaded once, and each slot is a KV cache of
its own (about 112 MiB at 4,096 tokens for the default model, plus its compute buffer: docs/benchmarks.md).

A prompt goes to the slot that already holds a useful part of it (the longest prefix, as llama-server
picks the slot whose cached prompt matches best); else to the slot its sequence used last (the same
document, whose window moved) or one never used; else to a new slot while there is room; else to the
least recently used.
Single-threaded by design: only the engine's worker calls it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

USEFUL_PREFIX = 64  # tokens: a slot holding at least this much of a prompt (or half of it) is worth reusing


@dataclass(eq=False)
class Slot:
    """One KV cache: a llama.cpp context over the shared model and the tokens it holds."""

    context: Any  # llama_cpp._internals.LlamaContext
    input_ids: Any  # numpy array of n_ctx token ids; the first n_tokens are in the KV cache
    sequence: str = ""  # who used it last: a document, or "chat"
    n_tokens: int = 0
    requires_eval: bool = True  # llama-cpp-python's flag: the logits must be recomputed before sampling
    sampler: Any = None  # the sampler of a generation in progress on this slot
    used: int = 0  # tick of the last use (least recently used goes first)
    busy: bool = False  # a generation paused on it (an answer, while a suggestion runs): not to be taken


def common_prefix(held: Sequence[int] | Any, tokens: Sequence[int]) -> int:
    """Length of the common prefix of the tokens a slot holds and a new prompt (vectorized: every request
    compares its ~1,000 tokens with each slot's)."""
    size = min(len(held), len(tokens))
    differ = np.flatnonzero(np.asarray(held[:size]) != np.asarray(tokens[:size]))
    return int(differ[0]) if differ.size else size


class KvSlots:
    """The slots of one `Llama` object; the active one's state lives in the `Llama` object itself."""

    def __init__(self, llm: Any, new_context: Callable[[], Any], limit: int) -> None:
        self.llm = llm  # the llama_cpp.Llama whose state is swapped
        self._new_context = new_context  # makes another context over the same model (costs its KV memory)
        self._limit = max(1, limit)
        self._ticks = itertools.count(1)
        self._active = Slot(llm._ctx, llm.input_ids)
        self._slots = [self._active]

    def __len__(self) -> int:
        return len(self._slots)

    def slots(self) -> list[Slot]:
        """The slots, with the active one's counters up to date."""
        self._save()
        return list(self._slots)

    def held(self) -> list[tuple[str, int]]:
        """(sequence, tokens held) per slot, read without changing anything: safe from another thread."""
        active = self._active
        return [(s.sequence, int(self.llm.n_tokens) if s is active else s.n_tokens) for s in list(self._slots)]

    def longest_prefix(self, tokens: Sequence[int]) -> int:
        """The most of a prompt of `tokens` that a slot free to take already holds (what `take` would reuse at
        best): the rest is what evaluating it costs."""
        self._save()
        return max((common_prefix(s.input_ids[: s.n_tokens], tokens) for s in self._slots if not s.busy), default=0)

    def take(self, tokens: Sequence[int], sequence: str) -> int:
        """Make the best slot for a prompt of `tokens` active; returns how many of them it already holds."""
        self._save()
        free = [s for s in self._slots if not s.busy]
        held = {id(s): common_prefix(s.input_ids[: s.n_tokens], tokens) for s in free}
        best = max(free, key=lambda s: (held[id(s)], s.used), default=None)
        if best is None or held[id(best)] < min(USEFUL_PREFIX, len(tokens) // 2):
            own = [s for s in free if s.sequence in (sequence, "")]  # its own, or one never used
            if own:
                best = own[0]
            elif len(self._slots) < self._limit:
                best = Slot(self._new_context(), self.llm.input_ids.copy())
                self._slots.append(best)
                held[id(best)] = 0
            elif free:
                best = min(free, key=lambda s: s.used)
            else:
                raise RuntimeError("every KV slot holds a paused generation")  # the engine never lets this be
        best.sequence = sequence
        self.activate(best)
        return held[id(best)]

    def activate(self, slot: Slot) -> None:
        """Swap `slot` into the `Llama` object (a generation resuming after another ran calls this)."""
        slot.used = next(self._ticks)
        if slot is self._active:
            return
        self._save()
        llm = self.llm
        llm._ctx, llm.input_ids, llm.n_tokens = slot.context, slot.input_ids, slot.n_tokens
        llm._requires_eval, llm._sampler = slot.requires_eval, slot.sampler
        self._active = slot

    @property
    def active(self) -> Slot:
        """The slot whose state is in the `Llama` object now."""
        return self._active

    def _save(self) -> None:
        slot, llm = self._active, self.llm
        slot.n_tokens, slot.requires_eval, slot.sampler = llm.n_tokens, llm._requires_eval, llm._sampler
