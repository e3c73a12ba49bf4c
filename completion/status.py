"""What the engine reports of itself: its state for status bars and `tabwise doctor`, and what a job cost."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from completion.runtime import Generation, ModelInfo
from completion.schedule.worker import Job
from completion.types import Timings


@dataclass(frozen=True)
class EngineStatus:
    """A snapshot for status bars and `tabwise doctor`."""

    state: str  # "unloaded", "loading", "ready" or "error"
    model: ModelInfo | None
    error: str | None  # the last load error, one line
    queued: int  # jobs waiting
    busy: bool  # a job is running
    last_outcome: str  # how the last job ended: "done", "cancelled", "error" ("" before any)
    last_latency_ms: float  # the last completion, from the worker taking it to its end (0 before any)
    last_evaluated_tokens: int  # prompt tokens the last completion evaluated (not reused from the KV cache)
    debounce_ms: int  # how long clients should wait after a keystroke before asking, from the typing rhythm
    kv_slots: tuple[tuple[str, int], ...] = ()  # per KV cache: the sequence (document, "chat") it holds, tokens
    loads: int = 0  # models loaded since the engine started (each settings change that reloads adds one)

    def summary(self) -> dict[str, Any]:
        """Plain JSON for front ends' status requests."""
        return {
            "state": self.state,
            "model": self.model.name if self.model else None,
            "device": _device(self.model) if self.model else None,
            "server": self.model.path if self.model and self.model.backend != "local" else None,  # its URL
            "error": self.error,
            "queued": self.queued,
            "busy": self.busy,
            "last_outcome": self.last_outcome,
            "last_latency_ms": round(self.last_latency_ms, 1),
            "last_evaluated_tokens": self.last_evaluated_tokens,
            "debounce_ms": self.debounce_ms,
            "kv_slots": [{"sequence": sequence, "tokens": tokens} for sequence, tokens in self.kv_slots],
            "loads": self.loads,
        }


def _device(model: ModelInfo) -> str:
    """Where the model runs, for status bars: GPU or CPU in process, else the kind of server."""
    if model.backend != "local":
        return model.backend
    return "GPU" if model.gpu_layers else "CPU"


def timings(job: Job[Any], began: float, generation: Generation, first_at: float) -> Timings:
    """The cost of a finished job: its generation's counters, times from `began` (model ready)."""
    end = time.perf_counter()
    return Timings(
        prompt_tokens=generation.prompt_tokens,
        reused_tokens=generation.reused_tokens,
        generated_tokens=generation.generated_tokens,
        queued_ms=(job.started_at - job.submitted_at) * 1000,
        prompt_ms=((first_at or end) - began) * 1000,
        total_ms=(end - began) * 1000,
    )
