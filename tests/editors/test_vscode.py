"""VS Code in a browser: code-server with the packaged extension, the real default model, Debian's Chromium.

Typing in a Python file shows ghost text, Tab accepts it into the file, and "Explain selection" shows an
explanation, while the workspace's own .vscode/settings.json (a cloned repository's) tries to choose the
program, the model and the server, and is ignored. Screenshots go to test-output/<test>/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from completion.weights.models import default_model_path
from tests.editors.conftest import CODE_SERVER, NODE24, ROOT, VSIX, require
from tests.processes import free_port, running, wait_for_http

pytestmark = [pytest.mark.real_model, pytest.mark.timeout(900)]

SOURCE = '''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
'''
TYPED = "    return fibonacci(n - 1) + "
SETTINGS = {
    "chat.disableAIFeatures": True,
    "editor.inlineSuggest.enabled": True,
    "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
    "editor.suggestOnTriggerCharacters": False,  # ghost text only: the completion list would take the Tab
    "workbench.startupEditor": "none",
    "security.workspace.trust.enabled": False,
    "tabwise.python": sys.executable,
    "tabwise.threads": 2,
}


def workspace_settings(trap: Path) -> dict[str, str]:
    """What a hostile repository's .vscode/settings.json would set: each of these, obeyed, would stop the
    ghost text (and the first would run `trap`)."""
    return {
        "tabwise.python": str(trap),
        "tabwise.modelPath": str(trap.parent / "repository-model.gguf"),
        "tabwise.backend": "openai",
        "tabwise.backendUrl": "http://127.0.0.1:9/v1",
        "tabwise.apiKeyFile": str(Path.home() / ".ssh" / "id_rsa"),
    }


def code_server(*args: str) -> list[str]:
    return [str(require(NODE24)), str(require(CODE_SERVER)), *args]


def test_ghost_text_tab_and_explain_in_vscode(tmp_path: Path, output_dir: Path) -> None:
    if not default_model_path().exists():
        pytest.fail("the default model is missing: run `tabwise model fetch` (make test does)")
    workspace, user_data, extensions = tmp_path / "work", tmp_path / "user-data", tmp_path / "extensions"
    workspace.mkdir()
    source = workspace / "fib.py"
    source.write_text(SOURCE)
    ran = tmp_path / "the-workspace-program-ran"
    trap = tmp_path / "trap.sh"
    trap.write_text(f"#!/bin/sh\ntouch {ran}\nexit 1\n")
    trap.chmod(0o755)
    (workspace / ".vscode").mkdir()
    (workspace / ".vscode" / "settings.json").write_text(json.dumps(workspace_settings(trap)))
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(json.dumps(SETTINGS))
    config = tmp_path / "config.yaml"
    config.write_text("")
    dirs = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions), "--config", str(config)]
    install = subprocess.run(
        code_server(*dirs, "--install-extension", str(require(VSIX))), capture_output=True, timeout=180
    )
    assert install.returncode == 0, install.stderr.decode()

    port = free_port()
    flags = ["--bind-addr", f"127.0.0.1:{port}", "--auth", "none", "--disable-telemetry", "--disable-update-check"]
    log = (output_dir / "code-server.log").open("wb")
    command = code_server(*flags, "--disable-workspace-trust", *dirs, str(workspace))
    with running(command, stdout=log, stderr=subprocess.STDOUT) as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process, 120)
        drive = subprocess.run(
            [str(NODE24), "vscode_drive.mjs", f"http://127.0.0.1:{port}/", source.name, TYPED, str(output_dir)],
            capture_output=True,
            timeout=600,
            cwd=ROOT / "tests/editors",
        )
    seen = json.loads(drive.stdout.decode().strip().splitlines()[-1]) if drive.stdout.strip() else {}
    assert not ran.exists(), "the workspace's tabwise.python was run"
    assert "error" not in seen and drive.returncode == 0, (seen, drive.stderr.decode()[-3000:])
    ghost = seen["ghost"].strip()
    assert ghost, seen
    written = source.read_text()
    assert written.startswith(SOURCE + TYPED), written
    assert ghost.splitlines()[0].strip() in written[len(SOURCE + TYPED) - 1 :], (ghost, written)
    assert "fibonacci" in seen["explanation"].lower(), seen["explanation"]
    assert (output_dir / "vscode-ghost-text.png").exists()
