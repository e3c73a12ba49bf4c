"""Server settings from `initializationOptions` and `workspace/didChangeConfiguration`.

Every field has a default; a bad value is reported and ignored, so a wrong setting never stops the
server (as jedi-language-server does). The engine runs in the tabwise service: `engine_settings()` is
what the server sends it (`configure`), and `limit()` what goes on each of its requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from completion.config import EngineConfig
from completion.types import FimRequest

_ENGINE = EngineConfig()  # the engine's defaults are the server's


@dataclass(frozen=True)
class Settings:
    """What a client may configure."""

    model_path: str | None = None  # a GGUF; None = the configured or default model
    gpu_layers: int | None = None  # None = all when llama.cpp has GPU offload
    threads: int | None = None  # None = physical cores
    max_tokens: int = _ENGINE.max_tokens  # longest inline suggestion, in tokens
    context_tokens: int = _ENGINE.context_tokens  # token budget for code around the cursor
    time_budget_ms: int = _ENGINE.time_budget_ms  # generation time budget, then stop at the next line end
    disabled_languages: tuple[str, ...] = ()  # language ids that get no completions
    preload: bool = True  # load the model when the client connects, not on the first keystroke
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for diagnostics

    def engine_settings(self) -> dict[str, Any]:
        """The engine settings (EngineConfig field names) these map to, for the service's `configure`."""
        return {
            "model_path": Path(self.model_path).expanduser() if self.model_path else None,
            "n_gpu_layers": self.gpu_layers,
            "n_threads": self.threads,
            "max_tokens": self.max_tokens,
            "context_tokens": self.context_tokens,
            "time_budget_ms": self.time_budget_ms,
            "preload": self.preload,  # the service loads the model as it takes these settings
        }

    def limit(self, request: FimRequest) -> FimRequest:
        """`request` with this client's limits: the service is shared, so they ride on each request too."""
        return replace(request, max_tokens=self.max_tokens, time_budget_ms=self.time_budget_ms)


_TYPES: dict[str, tuple[type, ...]] = {
    "model_path": (str, type(None)),
    "gpu_layers": (int, type(None)),
    "threads": (int, type(None)),
    "max_tokens": (int,),
    "context_tokens": (int,),
    "time_budget_ms": (int,),
    "disabled_languages": (list, tuple),
    "preload": (bool,),
}
_ALIASES = {  # VS Code style camelCase keys
    "modelPath": "model_path",
    "gpuLayers": "gpu_layers",
    "maxTokens": "max_tokens",
    "contextTokens": "context_tokens",
    "timeBudgetMs": "time_budget_ms",
    "disabledLanguages": "disabled_languages",
}


def parse_settings(raw: object, current: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from a client's JSON (a "tabwise" section is unwrapped); problems come back as text."""
    current = current or Settings()
    if isinstance(raw, dict) and isinstance(raw.get("tabwise"), dict):
        raw = raw["tabwise"]
    if raw is None:
        return current, []
    if not isinstance(raw, dict):
        return current, [f"tabwise settings must be an object, not {type(raw).__name__}"]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    extra = dict(current.extra)
    for key, value in raw.items():
        name = _ALIASES.get(key, key)
        if name not in _TYPES:
            extra[key] = value
        elif (problem := _problem(name, value)) is not None:
            problems.append(f"setting {key}={value!r} ignored: {problem}")
        else:
            changes[name] = tuple(value) if name == "disabled_languages" else value
    return replace(current, **changes, extra=extra), problems


def _problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be setting `name`, or None."""
    allowed = _TYPES[name]
    if (type(value) is bool and bool not in allowed) or not any(isinstance(value, kind) for kind in allowed):
        return f"expected {allowed[0].__name__}"
    if name in ("max_tokens", "context_tokens", "time_budget_ms") and value <= 0:
        return "must be positive"
    if name == "disabled_languages" and not all(isinstance(item, str) for item in value):
        return "expected a list of language ids"
    return None
