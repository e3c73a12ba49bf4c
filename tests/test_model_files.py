"""Model files: header checks, choosing a model, listing what is on the machine."""

from __future__ import annotations

import os
import shutil
import struct
import tracemalloc
from pathlib import Path

import pytest

from completion.engine import Engine
from completion.errors import ModelFileError
from completion.types import FimRequest
from completion.weights.gguf_file import read_header
from completion.weights.models import chosen_model_path, list_models, resolve_model_path, use_model
from tests.conftest import FIM_SCRIPT, TinyModels, tiny_config

UINT32, STRING, ARRAY = 4, 8, 9  # GGUF value types


def gguf_string(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


def crafted(*entries: bytes, tensors: int = 0, tail: bytes = b"") -> bytes:
    """A GGUF v3 header with these metadata entries (each key + type + value, already packed)."""
    return b"GGUF" + struct.pack("<IQQ", 3, tensors, len(entries)) + b"".join(entries) + tail


def alignment(value: int) -> bytes:
    return gguf_string("general.alignment") + struct.pack("<II", UINT32, value)


def array_of_arrays(depth: int) -> bytes:
    """An array holding an array holding ... `depth` deep (a parser that recurses runs out of stack)."""
    return gguf_string("nested") + struct.pack("<I", ARRAY) + struct.pack("<IQ", ARRAY, 1) * depth + b"\0" * 12


CRAFTED = {
    "an array of arrays": crafted(array_of_arrays(5000)),
    "alignment 0": crafted(alignment(0)),
    "alignment 3": crafted(alignment(3)),
    "alignment as a string": crafted(gguf_string("general.alignment") + struct.pack("<I", STRING) + gguf_string("x")),
    "a string of 2**62 bytes": crafted(gguf_string("general.name") + struct.pack("<IQ", STRING, 2**62)),
    "a key of 2**62 bytes": crafted(struct.pack("<Q", 2**62)),
    "2**40 strings in an array": crafted(gguf_string("tokens") + struct.pack("<IIQ", ARRAY, STRING, 2**40)),
    "2**40 integers in an array": crafted(gguf_string("types") + struct.pack("<IIQ", ARRAY, UINT32, 2**40)),
    "2**62 doubles in an array": crafted(gguf_string("scores") + struct.pack("<IIQ", ARRAY, 12, 2**62)),
    "2**60 metadata entries": b"GGUF" + struct.pack("<IQQ", 3, 0, 2**60),
    "2**40 tensors": b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0),
    "a tensor of 2**31 dimensions": crafted(tensors=1, tail=gguf_string("t") + struct.pack("<I", 2**31)),
    "an unknown value type": crafted(gguf_string("k") + struct.pack("<I", 99)),
}


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


@pytest.mark.parametrize("content", CRAFTED.values(), ids=CRAFTED.keys())
@pytest.mark.parametrize("keep_arrays", [False, True])
def test_crafted_headers_get_the_model_file_error_quickly(tmp_path: Path, content: bytes, keep_arrays: bool) -> None:
    path = tmp_path / "crafted.gguf"
    path.write_bytes(content + b"\0" * 64)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"damaged|truncated") as error:
            read_header(path, keep_arrays=keep_arrays)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert peak < 2**20  # bytes: nothing sized by what the header claims was allocated


def test_many_strings_are_refused_without_keeping_them(tmp_path: Path) -> None:
    # Two arrays of 3M one-byte strings: each array fits the file, together they pass the header's limit.
    many = 3_000_000
    array = struct.pack("<IIQ", ARRAY, STRING, many) + gguf_string("x") * many
    path = tmp_path / "many.gguf"
    path.write_bytes(crafted(gguf_string("a") + array, gguf_string("b") + array))
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="strings in its header"):
            read_header(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # bytes: a chunk at a time, not 6M strings


def test_a_model_that_failed_to_load_is_not_read_again_until_it_changes(
    tmp_path: Path, tiny_models: TinyModels
) -> None:
    path = tmp_path / "model.gguf"
    size = 128  # both files: trailing bytes change neither error
    aligned_at_zero, nested = (data.ljust(size, b"\0") for data in (crafted(alignment(0)), crafted(array_of_arrays(3))))
    path.write_bytes(aligned_at_zero)
    with Engine(tiny_config(path)) as engine:
        for _ in range(3):
            with pytest.raises(ModelFileError, match=r"general\.alignment 0 is not a power of two"):
                engine.complete(FimRequest("x = ", ""))
        # Other bytes with the same size and time: were the file read again, the error would be another.
        stamp = path.stat()
        path.write_bytes(nested)
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        with pytest.raises(ModelFileError, match=r"general\.alignment 0 "):
            engine.complete(FimRequest("x = ", ""))
        assert engine.status().state == "error" and "general.alignment 0" in (engine.status().error or "")
        # A settings change reads it again (and remembers the new failure); so does a changed file.
        engine.reconfigure(tiny_config(path, n_ctx=1024)).result(30)
        with pytest.raises(ModelFileError, match="an array of arrays"):
            engine.complete(FimRequest("x = ", ""))
        shutil.copyfile(tiny_models.qwen, path)
        assert engine.complete(FimRequest("x = 1\n", "")).text == FIM_SCRIPT
        assert engine.status().state == "ready"


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
