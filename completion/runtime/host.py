"""The model host: the one model of an engine, loaded on first use and reloaded when a setting that picks
it changes; a failed load is remembered until its file or the settings change.

Everything here runs on the engine's worker thread, except `snapshot()`, which status reads from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from completion.config import MODEL_FIELDS, EngineConfig
from completion.errors import BackendUnavailable, ModelFileError, ModelLoadError
from completion.runtime import Backend
from completion.runtime.traits import ModelTraits, detect_traits
from completion.weights.models import resolve_model_path

log = logging.getLogger(__name__)
BackendFactory = Callable[[EngineConfig, Path], Backend]
TOKEN_COUNT_CACHE = 16_384  # texts (lines, snippets) whose token counts are remembered


@dataclass(frozen=True)
class HostState:
    """What status shows of the model, read without waiting for the worker."""

    state: str  # "unloaded", "loading", "ready" or "error"
    error: str | None  # the last load error, one line
    backend: Backend | None  # the loaded model, if any
    loads: int  # models loaded since the engine started (each settings change that reloads adds one)


def default_factory(config: EngineConfig, path: Path) -> Backend:
    """The model in process (`path`), or the server the `backend` setting names (and, with
    `backend_fallback`, the local model for while it is away)."""

    def local() -> Backend:
        from completion.runtime.llama_backend import LlamaBackend  # llama_cpp is imported here only

        return LlamaBackend.load(config, path)

    if config.backend == "local":
        return local()
    from completion.runtime.remote_backends import Fallback, connect

    try:
        remote = connect(config)
    except BackendUnavailable:
        if not config.backend_fallback:
            raise
        log.warning("the inference server is unavailable: the local model answers until the settings change")
        return local()
    return Fallback(remote, local) if config.backend_fallback else remote


class ModelHost:
    """Owns the backend, what it can do (traits) and its memoized token counter."""

    def __init__(self, config: EngineConfig, factory: BackendFactory | None = None) -> None:
        self.config = config  # the settings in use; replaced only by reconfigure()
        self._factory = factory or default_factory
        self._backend: Backend | None = None
        self._traits: ModelTraits | None = None
        self._failed: tuple[tuple[str, float, int], Exception] | None = None  # (file identity, error)
        self.count: Callable[[str], int] = len  # the backend's token counter, memoized: lines recur per keystroke
        self._state: str = "unloaded"  # these three are written under _lock
        self._error: str | None = None
        self._loads = 0
        self._lock = threading.Lock()

    def ensure(self) -> tuple[Backend, ModelTraits]:
        """The loaded model and its traits, loading it if needed."""
        if self._backend is not None and self._traits is not None:
            return self._backend, self._traits
        path = resolve_model_path(self.config.model_path)
        identity = _file_identity(path)
        if self._failed is not None and self._failed[0] == identity:
            raise self._failed[1]
        self._set_state("loading", None)
        try:
            backend = self._factory(self.config, path)
            traits = detect_traits(
                backend,
                reasoning_temperature=self.config.reasoning_temperature,
                reasoning_top_p=self.config.reasoning_top_p,
                fim_name=self.config.fim_format,
            )
        except (ModelFileError, ModelLoadError) as exc:
            self._failed = (identity, exc)
            self._set_state("error", str(exc))
            raise
        except BackendUnavailable as exc:  # the server's backoff decides when the next attempt connects
            self._set_state("error", str(exc))
            raise
        self._backend, self._traits, self._failed = backend, traits, None
        self.count = lru_cache(maxsize=TOKEN_COUNT_CACHE)(backend.token_count)
        self._set_state("ready", None, loaded=True)
        log.info("loaded %s (%s)", backend.info.name, "FIM " + traits.fim.name if traits.fim else "chat only")
        return backend, traits

    def reconfigure(self, config: EngineConfig) -> bool:
        """Use `config` from now on; True if a setting that picks or loads the model changed, so the model
        is dropped (loaded again on next use)."""
        reload = any(getattr(config, name) != getattr(self.config, name) for name in MODEL_FIELDS)
        if reload:
            self._backend, self._traits, self._failed = None, None, None
            self._set_state("unloaded", None)
        self.config = config
        return reload

    def snapshot(self) -> HostState:
        """The model's state now, from any thread."""
        with self._lock:
            return HostState(self._state, self._error, self._backend, self._loads)

    def _set_state(self, state: str, error: str | None, loaded: bool = False) -> None:
        with self._lock:
            self._state, self._error = state, error
            self._loads += loaded


def _file_identity(path: Path) -> tuple[str, float, int]:
    """Path, mtime and size: a failed load is retried only when these change."""
    try:
        stat = path.stat()
        return (str(path), stat.st_mtime, stat.st_size)
    except OSError:
        return (str(path), 0.0, -1)
