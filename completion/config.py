"""Engine settings: every default in one place, each with the reason for its value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

LOADS: Mapping[str, bool] = MappingProxyType({"loads": True})  # a change of the field reloads the model
PER_CLIENT: Mapping[str, bool] = MappingProxyType({"per_client": True})  # each front end has its own value


@dataclass(frozen=True)
class EngineConfig:
    """How the engine loads and drives its model. Frozen: a change makes a new config (and a reload)."""

    # The GGUF to load; None means the one `tabwise model use` chose, else the fetched default model.
    model_path: Path | None = field(default=None, metadata=LOADS)
    # Context window in tokens. The model allows 32k, but on a 2-core CPU (~75 prompt tokens/s) a long
    # prompt costs tens of seconds; 4k holds the context budget below plus the longest answer.
    n_ctx: int = field(default=4096, metadata=LOADS)
    # Layers offloaded to the GPU: None = all when llama.cpp was built with GPU offload, else none.
    n_gpu_layers: int | None = field(default=None, metadata=LOADS)
    # Threads for generation and for prompt evaluation: None = the physical cores this process may use.
    n_threads: int | None = field(default=None, metadata=LOADS)
    n_threads_batch: int | None = field(default=None, metadata=LOADS)
    # Tokens evaluated per llama.cpp batch; 512 is llama.cpp's default and fastest on this CPU.
    n_batch: int = field(default=512, metadata=LOADS)
    # llama.cpp's extra weight buffer types (CPU_REPACK, AMX): None = on, except where the AMX buffer would
    # be used, which crashes (completion/runtime/buffers.py); True or False forces the choice.
    extra_buffers: bool | None = field(default=None, metadata=LOADS)
    # KV caches kept over the one loaded model, so that each client (a file in an editor, a notebook, an
    # answer streaming) keeps its place: switching between them re-evaluates only what changed. Each costs
    # ~112 MiB of KV at n_ctx 4096 plus its compute buffer pages (docs/benchmarks.md); made on first need.
    kv_slots: int = field(default=3, metadata=LOADS)
    # Load the model when the engine starts instead of on the first request.
    preload: bool = field(default=False, metadata=PER_CLIENT)
    # After a suggestion, prepare the one that follows its acceptance while idle (preempted by typing).
    speculate: bool = True
    # Where most of a live request's prompt is in no KV cache (a file just opened: 13-16 s on 2 cores), answer
    # from a short prompt of the cursor's neighbourhood and warm the full one behind it (completion/fim/cold.py).
    short_cold_prompts: bool = True
    # Fill-in-the-middle: token budget for the code around the cursor (prefix + suffix + other files).
    # ~1,000 tokens is ~13 s cold at 75 tokens/s, paid once; a keystroke re-evaluates only the tail.
    context_tokens: int = field(default=1024, metadata=PER_CLIENT)
    # Of that budget, tokens for the text after the cursor: the code below is what tells the model what
    # the line must do and where the suggestion ends. On 40 HumanEval single-line tasks, the raw model's
    # exact match was 40% with 16 tokens of suffix, 57.5% with 64 and 60% with 128 (tests passed: 57.5,
    # 80, 82.5%); on the typing replay 64, 128 and 256 saved 482, 530 and 493 characters of 1,010. Each
    # request evaluates it again after the cursor (~8-15 ms a token here; completion/fim/prompt.py).
    suffix_tokens: int = 128
    # Fill-in-the-middle: longest suggestion in tokens, and the time budget in milliseconds from taking the
    # request (prompt evaluation included) after which the part written that stands is shown: on 2 cores
    # (~25 tokens/s) a line or two; the model writes on to the plan's end, and Tab gets the rest from there.
    max_tokens: int = field(default=64, metadata=PER_CLIENT)
    time_budget_ms: int = field(default=1000, metadata=PER_CLIENT)
    # Fill-in-the-middle, from the model's own token probabilities (completion/fim/confidence.py; runtimes
    # that give none show all): a suggestion whose beginning (its first 3 tokens of code) the model finds
    # less likely than `confidence_hold` is not shown, and one is cut before the first token past them less
    # likely than `confidence_cut`. 0 turns a rule off. bench/calibrate_confidence.py on 164 places in 4 of
    # tabwise's own functions (the default model) chose 0.3 and 0.2: shown-but-nothing-taken 124 -> 79 for
    # issue 25's user (tab-or-nothing) and 104 -> 65 for accept-words, wrong characters shown 14,889 ->
    # 9,085, characters taken 1,059 = 1,059 and 1,803 -> 1,752 (docs/benchmarks.md). Off by default: in
    # JupyterLab they held back the kernel-aware `df["` -> column suggestion (tests/editors/test_jupyterlab.py),
    # one of several right answers, which a token's probability cannot tell from a guess.
    confidence_hold: float = 0.0
    confidence_cut: float = 0.0
    # Chat (ask/explain): longest answer in tokens, and sampling.
    chat_max_tokens: int = field(default=768, metadata=PER_CLIENT)
    chat_temperature: float = 0.2
    chat_top_p: float = 0.95
    # Reasoning models (DeepSeek-R1 distills): their authors' recommended sampling.
    reasoning_temperature: float = 0.6
    reasoning_top_p: float = 0.95
    # Largest document accepted, in characters; larger ones are refused rather than truncated silently.
    max_document_chars: int = 2_000_000
    # Seed for chat sampling, so the same question gets the same answer.
    seed: int = 0
    # Where the model runs: "local" (llama.cpp in this process), "llama-server" (a shared llama.cpp server's
    # native routes) or "openai" (any OpenAI-compatible server: vLLM, SGLang, LM Studio, ...). A team puts one
    # GPU box behind everyone's editors; context, prompts, plan, stop rules, caches and budgets stay here.
    backend: str = field(default="local", metadata=LOADS)
    # The server's base URL (for "openai" ending in /v1, as OpenAI clients take it); nothing else is contacted.
    backend_url: str | None = field(default=None, metadata=LOADS)
    # The model to ask an OpenAI-compatible server for; None: the first it lists (llama-server has one).
    backend_model: str | None = field(default=None, metadata=LOADS)
    # A file holding the server's API key, sent as a bearer token; None: $TABWISE_API_KEY, else no key.
    api_key_file: Path | None = field(default=None, metadata=LOADS)
    # While the server cannot be reached, answer with the local model instead of nothing (it loads on need).
    backend_fallback: bool = field(default=False, metadata=LOADS)
    # The FIM format by name (prompts/fim), for a server whose vocabulary cannot be read; None: detected.
    fim_format: str | None = field(default=None, metadata=LOADS)
    # Extra keyword arguments passed to the runtime as they are (advanced; e.g. {"flash_attn": True}).
    runtime_options: dict[str, Any] = field(default_factory=dict, metadata=LOADS)

    def with_changes(self, **changes: Any) -> EngineConfig:
        """A copy with some fields replaced; unknown names raise TypeError."""
        return replace(self, **changes)


# The settings that pick and load the model (marked LOADS above): a change reloads it.
MODEL_FIELDS = tuple(f.name for f in fields(EngineConfig) if f.metadata.get("loads"))
# The settings each front end of a shared engine has its own of (marked PER_CLIENT): limits, which ride on
# its requests (the service fills them in), and whether its `configure` waits for the model to load.
CLIENT_FIELDS = tuple(f.name for f in fields(EngineConfig) if f.metadata.get("per_client"))


def shared_differences(mine: EngineConfig, theirs: EngineConfig) -> list[str]:
    """The fields outside CLIENT_FIELDS where two configs differ: what two front ends cannot both have
    from one engine."""
    shared = [f.name for f in fields(EngineConfig) if f.name not in CLIENT_FIELDS]
    return [name for name in shared if getattr(mine, name) != getattr(theirs, name)]


def physical_cores() -> int:
    """Physical cores this process may run on: llama.cpp is slower on hyperthreads than on cores."""
    import psutil

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or allowed
    return max(1, min(physical, allowed))
