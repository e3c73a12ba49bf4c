"""Read a GGUF file's header without loading it: metadata for model detection, and a size check.

llama.cpp reports a broken file with a C-level log and a bare ValueError; reading the header first
lets tabwise say in one line what is wrong. gguf's own GGUFReader parses every array into numpy
objects (seconds for a 151k-token vocabulary) and fails on a truncated file, so this reader parses
only what it needs with struct, and uses gguf's constants for the value and tensor types.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gguf.constants import GGML_QUANT_SIZES, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from completion.errors import ModelFileError

_SCALARS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
_DEFAULT_ALIGNMENT = 32


@dataclass(frozen=True)
class GgufHeader:
    """What the header says: metadata (arrays only when asked for) and where tensor data ends."""

    version: int
    metadata: dict[str, Any]
    tensor_count: int
    data_end: int  # bytes: the file must be at least this long to hold every tensor

    def get(self, key: str, default: Any = None) -> Any:
        """One metadata value, or `default`."""
        return self.metadata.get(key, default)


class _Reader:
    """Little-endian reads from a buffered file, with a clear error at an unexpected end."""

    def __init__(self, stream: BinaryIO, path: Path, file_size: int) -> None:
        self.stream = stream
        self.path = path
        self.file_size = file_size

    def take(self, size: int) -> bytes:
        if self.stream.tell() + size > self.file_size:  # also guards a garbled length against huge reads
            raise ModelFileError(f"{self.path} is truncated: its GGUF header ends early; download it again")
        data = self.stream.read(size)
        if len(data) != size:
            raise ModelFileError(f"{self.path} is truncated: its GGUF header ends early; download it again")
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar("<Q")).decode("utf-8", errors="replace")

    def value(self, vtype: GGUFValueType, keep_arrays: bool) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            item_type = GGUFValueType(self.scalar("<I"))
            count = self.scalar("<Q")
            if item_type in _SCALARS and not keep_arrays:
                self.stream.seek(count * struct.calcsize(_SCALARS[item_type]), os.SEEK_CUR)
                return _ArrayStub(count)
            if item_type in _SCALARS:
                fmt = _SCALARS[item_type]
                return list(struct.unpack(f"<{count}{fmt[1]}", self.take(count * struct.calcsize(fmt))))
            items = [self.value(item_type, keep_arrays) for _ in range(count)]
            return items if keep_arrays else _ArrayStub(count)
        return self.scalar(_SCALARS[vtype])


@dataclass(frozen=True)
class _ArrayStub:
    """An array that was skipped; only its length is known."""

    length: int


def read_header(path: str | os.PathLike[str], *, keep_arrays: bool = False, check_size: bool = True) -> GgufHeader:
    """Parse the header of the GGUF at `path`; ModelFileError if it is missing, not GGUF or truncated.

    keep_arrays: also return array values (the tokenizer's 151k tokens take ~1.5 s);
    check_size: require the tensor data to be in the file (off only for a header-only chunk).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}; run `tabwise model fetch` or `tabwise model use PATH`")
    size = path.stat().st_size
    try:
        with path.open("rb") as stream:
            reader = _Reader(stream, path, size)
            if size < 24 or reader.scalar("<I") != GGUF_MAGIC:
                raise ModelFileError(f"{path} is not a GGUF model file; give tabwise a .gguf file")
            version = reader.scalar("<I")
            if version not in (2, 3):
                raise ModelFileError(f"{path} is GGUF version {version}; tabwise reads versions 2 and 3")
            tensor_count, kv_count = reader.scalar("<Q"), reader.scalar("<Q")
            metadata: dict[str, Any] = {}
            for _ in range(kv_count):
                key = reader.string()
                metadata[key] = reader.value(GGUFValueType(reader.scalar("<I")), keep_arrays)
            data_size = 0
            for _ in range(tensor_count):
                reader.string()  # tensor name
                dims = [reader.scalar("<Q") for _ in range(reader.scalar("<I"))]
                ttype, offset = GGMLQuantizationType(reader.scalar("<I")), reader.scalar("<Q")
                block, block_bytes = GGML_QUANT_SIZES[ttype]
                elements = 1
                for dim in dims:
                    elements *= dim
                data_size = max(data_size, offset + elements // block * block_bytes)
            alignment = int(metadata.get("general.alignment", _DEFAULT_ALIGNMENT))
            data_start = -(-stream.tell() // alignment) * alignment
    except (ValueError, KeyError, struct.error) as exc:  # an unknown enum value or a garbled length
        raise ModelFileError(f"{path} is a damaged GGUF file ({exc}); download it again") from exc
    header = GgufHeader(version, metadata, tensor_count, data_start + data_size)
    if check_size and size < header.data_end:
        raise ModelFileError(f"{path} is truncated ({size:,} of {header.data_end:,} bytes); download it again")
    return header
