"""Read a GGUF file's header without loading it: metadata for model detection, and a size check.

llama.cpp reports a broken file with a C-level log and a bare ValueError; reading the header first
lets tabwise say in one line what is wrong. The file may be anyone's (a settings value names it), so
every count and length it claims is checked against the file's size and the limits below before
anything is read or kept, and whatever is wrong with it is a ModelFileError, never another exception.

gguf's own GGUFReader parses every array into numpy objects (seconds for a 151k-token vocabulary) and
fails on a truncated file, so this reader parses only what it needs with struct, and uses gguf's
constants for the value and tensor types.
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
# Limits: a crafted header may claim any count or length; these keep parsing quick and its memory small
# (every read is also checked against the file's size before it is made).
MAX_KEYS = 1 << 16  # metadata entries: a real model has tens
MAX_TENSORS = 1 << 16  # tensor infos: a real model has hundreds, a large mixture of experts a few thousand
MAX_STRINGS = 1 << 22  # strings in the whole header (Qwen2.5's tokens and merges: 300k)
MAX_DIMS = 4  # a tensor's dimensions (GGML_MAX_DIMS)
MAX_KEY_BYTES = 1 << 16  # a metadata key's length (the GGUF specification's limit)
KEPT_STRING_BYTES = 1 << 20  # a longer metadata string is skipped: tabwise reads names, not documents
KEPT_TOTAL_BYTES = 1 << 26  # text kept from one header (keys and strings); past it strings are skipped
SKIP_CHUNK_BYTES = 1 << 20  # skipped string arrays are walked a chunk at a time, not a read per string
_U64 = struct.Struct("<Q")


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
    """Little-endian reads from a buffered file, each checked against the file's size and the limits."""

    def __init__(self, stream: BinaryIO, path: Path, file_size: int) -> None:
        self.stream = stream
        self.path = path
        self.file_size = file_size
        self.strings_left = MAX_STRINGS
        self.kept_left = KEPT_TOTAL_BYTES

    def damaged(self, why: str) -> ModelFileError:
        return ModelFileError(f"{self.path} is a damaged GGUF file ({why}); download it again")

    def truncated(self) -> ModelFileError:
        return ModelFileError(f"{self.path} is truncated: its GGUF header ends early; download it again")

    def need(self, size: int) -> None:
        """ModelFileError unless `size` more bytes are in the file (a garbled length claims more)."""
        if self.stream.tell() + size > self.file_size:
            raise self.truncated()

    def take(self, size: int) -> bytes:
        self.need(size)
        data = self.stream.read(size)
        if len(data) != size:  # the file shrank while being read
            raise self.truncated()
        return data

    def skip(self, size: int) -> None:
        self.need(size)
        self.stream.seek(size, os.SEEK_CUR)

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self, limit: int | None, what: str, min_bytes: int) -> int:
        """A count of `what` from the file, within `limit` and within what the rest of the file can hold."""
        count = self.scalar("<Q")
        self.need(count * min_bytes)
        if limit is not None and count > limit:
            raise self.damaged(f"{count:,} {what}; at most {limit:,} are read")
        return count

    def spend_strings(self, count: int) -> None:
        """Count `count` strings against MAX_STRINGS."""
        self.strings_left -= count
        if self.strings_left < 0:
            raise self.damaged(f"more than {MAX_STRINGS:,} strings in its header")

    def string_length(self) -> int:
        """A string's length in bytes, after counting it against MAX_STRINGS."""
        self.spend_strings(1)
        length = self.scalar("<Q")
        self.need(length)
        return length

    def text(self, length: int) -> str:
        """The next `length` bytes as text, counted against KEPT_TOTAL_BYTES."""
        self.kept_left -= length
        return self.take(length).decode("utf-8", errors="replace")

    def key(self) -> str:
        length = self.string_length()
        if length > min(MAX_KEY_BYTES, self.kept_left):
            raise self.damaged(f"a metadata key of {length:,} bytes")
        return self.text(length)

    def string(self) -> str | _Skipped:
        """A metadata string; one longer than KEPT_STRING_BYTES (or than the text still kept) is skipped."""
        length = self.string_length()
        if length > min(KEPT_STRING_BYTES, self.kept_left):
            self.skip(length)
            return _Skipped(length)
        return self.text(length)

    def skip_string(self) -> None:
        self.skip(self.string_length())

    def skip_strings(self, count: int) -> None:
        """Skip `count` strings, walking their lengths in memory (a 151k-token vocabulary in milliseconds)."""
        self.spend_strings(count)
        position = self.stream.tell()
        while count:
            chunk = self.stream.read(SKIP_CHUNK_BYTES)
            if len(chunk) < _U64.size:  # the file ends inside the array
                raise self.truncated()
            offset = 0
            while count and offset + _U64.size <= len(chunk):
                offset += _U64.size + _U64.unpack_from(chunk, offset)[0]
                count -= 1
            position += offset
            if position > self.file_size:  # a length runs past the end of the file
                raise self.truncated()
            self.stream.seek(position)

    def value(self, vtype: GGUFValueType, keep_arrays: bool) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            return self.array(keep_arrays)
        return self.scalar(_SCALARS[vtype])

    def array(self, keep: bool) -> Any:
        """An array's items (kept only when asked for; else its length); arrays of arrays are refused, as
        llama.cpp refuses them."""
        item_type = GGUFValueType(self.scalar("<I"))
        if item_type == GGUFValueType.ARRAY:
            raise self.damaged("an array of arrays")
        if item_type in _SCALARS:
            fmt = _SCALARS[item_type]
            count = self.count(None, "array items", struct.calcsize(fmt))
            if keep:
                return list(struct.unpack(f"<{count}{fmt[1]}", self.take(count * struct.calcsize(fmt))))
            self.skip(count * struct.calcsize(fmt))
            return _Skipped(count)
        count = self.count(MAX_STRINGS, "strings in an array", 8)  # each is at least its 8-byte length
        if keep:
            return [self.string() for _ in range(count)]
        self.skip_strings(count)
        return _Skipped(count)


@dataclass(frozen=True)
class _Skipped:
    """A value that was skipped (an array, or a long string); only its length is known."""

    length: int


def read_header(path: str | os.PathLike[str], *, keep_arrays: bool = False, check_size: bool = True) -> GgufHeader:
    """Parse the header of the GGUF at `path`; ModelFileError (only) if it is missing, unreadable, not GGUF,
    damaged or truncated.

    keep_arrays: also return array values (the tokenizer's 151k tokens take ~1.5 s);
    check_size: require the tensor data to be in the file (off only for a header-only chunk).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}; run `tabwise model fetch` or `tabwise model use PATH`")
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            reader = _Reader(stream, path, size)
            if size < 24 or reader.scalar("<I") != GGUF_MAGIC:
                raise ModelFileError(f"{path} is not a GGUF model file; give tabwise a .gguf file")
            version = reader.scalar("<I")
            if version not in (2, 3):
                raise ModelFileError(f"{path} is GGUF version {version}; tabwise reads versions 2 and 3")
            tensor_count = reader.count(MAX_TENSORS, "tensors", 24)  # an info is at least 24 bytes
            metadata = _read_metadata(reader, keep_arrays)
            data_size = _read_tensor_infos(reader, tensor_count)
            alignment = _alignment(reader, metadata)
            data_start = -(-stream.tell() // alignment) * alignment
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, OverflowError, struct.error) as exc:  # an unknown enum value, say
        raise ModelFileError(f"{path} is a damaged GGUF file ({exc}); download it again") from exc
    header = GgufHeader(version, metadata, tensor_count, data_start + data_size)
    if check_size and size < header.data_end:
        raise ModelFileError(f"{path} is truncated ({size:,} of {header.data_end:,} bytes); download it again")
    return header


def _read_metadata(reader: _Reader, keep_arrays: bool) -> dict[str, Any]:
    """The key-value section (each entry at least 13 bytes: key length, type, a one-byte value)."""
    metadata: dict[str, Any] = {}
    for _ in range(reader.count(MAX_KEYS, "metadata entries", 13)):
        key = reader.key()
        metadata[key] = reader.value(GGUFValueType(reader.scalar("<I")), keep_arrays)
    return metadata


def _read_tensor_infos(reader: _Reader, tensor_count: int) -> int:
    """The bytes of tensor data the tensor infos describe, from the start of the data section."""
    data_size = 0
    for _ in range(tensor_count):
        reader.skip_string()  # tensor name
        dims = reader.scalar("<I")
        if dims > MAX_DIMS:
            raise reader.damaged(f"a tensor of {dims:,} dimensions")
        shape = [reader.scalar("<Q") for _ in range(dims)]
        ttype, offset = GGMLQuantizationType(reader.scalar("<I")), reader.scalar("<Q")
        block, block_bytes = GGML_QUANT_SIZES[ttype]
        elements = 1
        for dim in shape:
            elements *= dim
        data_size = max(data_size, offset + elements // block * block_bytes)
    return data_size


def _alignment(reader: _Reader, metadata: dict[str, Any]) -> int:
    """general.alignment: a power of two (0 or 3 would misplace every tensor, or divide by zero)."""
    alignment = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise reader.damaged(f"general.alignment {alignment!r} is not a power of two")
    return alignment
