"""The remote backend a setting names, connected; and the local model standing in while it is away."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from completion.config import EngineConfig
from completion.errors import BackendUnavailable, RequestError
from completion.runtime import Backend, Generation, SamplingParams
from completion.runtime.llama_server_backend import LlamaServerBackend
from completion.runtime.openai_backend import OpenAIBackend
from completion.types import ChatMessage

log = logging.getLogger(__name__)
CONNECTORS: dict[str, Callable[[EngineConfig], LlamaServerBackend | OpenAIBackend]] = {
    "llama-server": LlamaServerBackend.connect,
    "openai": OpenAIBackend.connect,
}
BACKEND_KINDS = ("local", *CONNECTORS)  # the values of the `backend` setting


def connect(config: EngineConfig) -> LlamaServerBackend | OpenAIBackend:
    """The server `config` names, its model learned (BackendUnavailable if it does not answer)."""
    if config.backend not in CONNECTORS:
        raise RequestError(f"unknown backend {config.backend!r} (known: {', '.join(BACKEND_KINDS)})")
    return CONNECTORS[config.backend](config)


def problem(backend: Backend) -> str | None:
    """What is wrong with a remote backend's server now (its backoff's failure), for status; None if nothing."""
    server = getattr(backend, "server", None)
    return server.backoff.problem() if server is not None else None


class Fallback:
    """A remote backend that hands each call to the local model while its server is unavailable; the
    prompts keep the remote model's format, so the local model should be of the same family."""

    def __init__(self, remote: LlamaServerBackend | OpenAIBackend, load_local: Callable[[], Backend]) -> None:
        self.remote, self.server, self.info = remote, remote.server, remote.info
        self._load_local = load_local
        self._local: Backend | None = None  # loaded on the first call the server cannot take

    def _local_backend(self, exc: BackendUnavailable) -> Backend:
        if self._local is None:
            log.warning("%s: answering with the local model meanwhile", exc)
            self._local = self._load_local()
        return self._local

    def token_count(self, text: str) -> int:
        try:
            return self.remote.token_count(text)
        except BackendUnavailable as exc:
            return self._local_backend(exc).token_count(text)

    def is_special_token(self, text: str) -> bool:
        return self.remote.is_special_token(text)

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        try:
            return self.remote.render_chat(messages)
        except BackendUnavailable as exc:
            return self._local_backend(exc).render_chat(messages)

    def generate(
        self, prompt: str, params: SamplingParams, sequence: str = "", keep_going: Callable[[], bool] | None = None
    ) -> Generation:
        try:
            return self.remote.generate(prompt, params, sequence, keep_going)
        except BackendUnavailable as exc:
            local = self._local_backend(exc)
            return local.generate(str(prompt), params, sequence, keep_going)

    def kv_held(self) -> list[tuple[str, int]]:
        return self._local.kv_held() if self._local is not None else []

    def uncached_tokens(self, prompt: str, sequence: str = "") -> int:
        """The local model's count while it stands in for the server (its KV cache is seen), else the server's."""
        if self._local is not None and self.server.backoff.problem() is not None:
            return self._local.uncached_tokens(prompt, sequence)
        return self.remote.uncached_tokens(prompt, sequence)

    def prefill(self, prompt: str, keep_going: Callable[[], bool], sequence: str = "") -> int:
        try:
            return self.remote.prefill(prompt, keep_going, sequence)
        except BackendUnavailable:
            return 0  # a warm-up is not worth loading the local model for
