"""A real Jupyter server (pytest-jupyter) with the extension on a tiny scripted GGUF, and a private tabwise
service for every test (its runtime directory in the environment, the service stopped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TinyModels
from tests.processes import private_service, service_env


@pytest.fixture(autouse=True)
def service_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The tabwise service's runtime directory for this test's servers and kernels (set before they start)."""
    with private_service() as path:
        for name, value in service_env(path).items():
            monkeypatch.setenv(name, value)
        yield path


@pytest.fixture
def jp_server_config(tiny_models: TinyModels) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "TabwiseExtension": {"model_path": str(tiny_models.qwen), "threads": 1},
    }
