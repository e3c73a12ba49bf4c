"""The `tabwise` command as users run it: a real subprocess on a tiny real GGUF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CHAT_SCRIPT, FIM_SCRIPT, TinyModels


def tabwise(*args: str | Path, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {"TABWISE_CONFIG_DIR": str(env_home / "config"), "PATH": "/usr/bin:/bin", "HOME": str(env_home)}
    command = [sys.executable, "-m", "cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "calc.py"
    path.write_text("def add(a, b):\n    return \n", encoding="utf-8")
    return path


def test_complete_prints_the_suggestion(tmp_path: Path, source: Path, tiny_models: TinyModels) -> None:
    done = tabwise("complete", source, "--line", "2", "--column", "12", "--model", tiny_models.qwen, env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == FIM_SCRIPT.split("\n")[0] + "\n"  # the statement, not the lines after it
    assert "prompt tokens" in done.stderr


def test_explain_streams_the_answer(tmp_path: Path, source: Path, tiny_models: TinyModels) -> None:
    done = tabwise("explain", source, "--lines", "1-2", "--model", tiny_models.qwen, env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == CHAT_SCRIPT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--line", "9", "--column", "1"], "line 9 is outside the file (it has 3 lines)"),
        (["--line", "2", "--column", "40"], "column 40 is outside line 2"),
        (["--line", "0", "--column", "1"], "line 0 is outside"),
    ],
)
def test_positions_out_of_range(tmp_path: Path, source: Path, tiny_models: TinyModels, args, message) -> None:
    done = tabwise("complete", source, *args, "--model", tiny_models.qwen, env_home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"tabwise: {message}") and done.stderr.count("\n") == 1


def test_bad_files_and_models_are_one_line_errors(tmp_path: Path, source: Path) -> None:
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("hello")
    cursor = ["--line", "2", "--column", "12"]
    cases = [
        (["complete", binary, "--line", "1", "--column", "1"], "binary file"),
        (["complete", source, *cursor, "--model", not_gguf], "not a GGUF"),
        (["complete", source, *cursor, "--model", tmp_path / "gone.gguf"], "no model file"),
        (["explain", source, "--lines", "5-2"], "--lines 5-2 is outside"),
        (["model", "use", not_gguf], "not a GGUF"),
    ]
    for args, message in cases:
        done = tabwise(*args, env_home=tmp_path)
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr


def test_model_use_then_list(tmp_path: Path, tiny_models: TinyModels) -> None:
    used = tabwise("model", "use", tiny_models.qwen, env_home=tmp_path)
    assert used.returncode == 0 and "tiny scripted qwen2" in used.stdout
    listed = tabwise("model", "list", env_home=tmp_path)
    assert listed.returncode == 0
    assert any(line.startswith("*") and str(tiny_models.qwen) in line for line in listed.stdout.splitlines())


def test_complete_waits_for_whole_lines_not_a_keystroke_budget(tmp_path: Path, tiny_models: TinyModels) -> None:
    """A line that takes longer than the editors' time budget (1 s) to write comes back whole: the command
    line has no keystroke to keep up with. The endless model writes one line of " ok" ~4 ms a token."""
    source = tmp_path / "slow.py"
    source.write_text("def f():\n    x = \n", encoding="utf-8")
    cursor = ["--line", "2", "--column", "9", "--max-tokens", "1000"]
    done = tabwise("complete", source, *cursor, "--threads", "1", "--model", tiny_models.endless, env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"] * 1000, done.stderr
