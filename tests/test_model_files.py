"""Model files: header checks, choosing a model, listing what is on the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from completion.errors import ModelFileError
from completion.gguf_file import read_header
from completion.models import chosen_model_path, list_models, resolve_model_path, use_model
from tests.conftest import TinyModels


def test_header_of_a_real_gguf(tiny_models: TinyModels) -> None:
    header = read_header(tiny_models.qwen)
    assert header.version == 3
    assert header.get("general.architecture") == "qwen2"
    assert header.data_end == tiny_models.qwen.stat().st_size


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a GGUF"),
        (b"PK\x03\x04" + b"\0" * 100, "not a GGUF"),
        (b"GGUF" + (9).to_bytes(4, "little") + b"\0" * 40, "version 9"),
        (b"GGUF" + (3).to_bytes(4, "little") + (1).to_bytes(8, "little") + (2**40).to_bytes(8, "little"), "truncated"),
    ],
)
def test_bad_files_get_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as error:
        read_header(path)
    assert "\n" not in str(error.value)


def test_truncated_model_is_refused(tmp_path: Path, tiny_models: TinyModels) -> None:
    data = tiny_models.qwen.read_bytes()
    path = tmp_path / "half.gguf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"truncated \(.* bytes\); download it again"):
        read_header(path)


def test_use_remembers_a_good_model_and_refuses_a_bad_one(tmp_path: Path, tiny_models: TinyModels) -> None:
    use_model(tiny_models.qwen)
    assert chosen_model_path() == tiny_models.qwen.resolve()
    assert resolve_model_path() == tiny_models.qwen.resolve()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"nonsense")
    with pytest.raises(ModelFileError):
        use_model(bad)
    assert chosen_model_path() == tiny_models.qwen.resolve()  # unchanged


def test_list_finds_huggingface_downloads(tmp_path: Path, tiny_models: TinyModels, monkeypatch) -> None:
    snapshot = tmp_path / "hf" / "hub" / "models--someone--tiny" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "tiny.gguf").symlink_to(tiny_models.qwen)
    (snapshot / "broken.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    entries = {e.path.name: e for e in list_models()}
    assert entries["tiny.gguf"].error is None and entries["tiny.gguf"].name == "tiny scripted qwen2"
    assert entries["broken.gguf"].error is not None
