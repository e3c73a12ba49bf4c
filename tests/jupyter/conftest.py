"""A real Jupyter server (pytest-jupyter) with the extension on a tiny scripted GGUF."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TinyModels


@pytest.fixture
def jp_server_config(tiny_models: TinyModels) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "TabwiseExtension": {"model_path": str(tiny_models.qwen), "threads": 1},
    }
