"""The real tabwise service, whose model backend also writes each prompt it generates from to a file (one JSON
string a line): so a test can assert on the prompt that a front end's request became, through the whole
path (Jupyter server, service protocol, engine), on the real llama.cpp.

`python -m tests.jupyter.recording_service PROMPTS` with TABWISE_RUNTIME_DIR set, as a front end starts it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from completion.config import EngineConfig
from completion.runtime import Backend
from completion.runtime.host import BackendFactory, default_factory
from completion.service import __main__ as service_main


class RecordingBackend:
    """The real backend; `generate` notes its prompt first."""

    def __init__(self, backend: Backend, prompts: Path) -> None:
        self._backend = backend
        self._prompts = prompts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def generate(self, prompt: str, *args: Any, **kwargs: Any) -> Any:
        with self._prompts.open("a", encoding="utf-8") as out:
            out.write(json.dumps(prompt) + "\n")
        return self._backend.generate(prompt, *args, **kwargs)


def recording_factory(prompts: Path) -> BackendFactory:
    """The service's model as the settings make it, wrapped to record each prompt to `prompts`."""

    def factory(config: EngineConfig, path: Path) -> Backend:
        return RecordingBackend(default_factory(config, path), prompts)  # type: ignore[return-value]

    return factory


def read_prompts(prompts: Path) -> list[str]:
    """The prompts recorded so far, oldest first."""
    if not prompts.exists():
        return []
    return [json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines() if line]


if __name__ == "__main__":
    prompts = Path(sys.argv[1])
    sys.argv[1:] = ["--idle-exit", "120"]
    sys.exit(service_main.main(recording_factory(prompts)))
