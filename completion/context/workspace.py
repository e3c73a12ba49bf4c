"""The files around the one being edited: open documents, files on disk, and recent edits.

Front ends report opened and edited documents; everything else is read from disk under the
workspace root on demand (bounded in size), so the CLI and the benchmarks get cross-file context
with no editor at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from completion.bounded import BoundedDict

MAX_FILE_BYTES = 512 * 1024  # larger files are not read for context
RING_CHUNKS = 16  # recently edited chunks kept (llama.vscode keeps 16 of 64 lines)
CHUNK_LINES = 64
JS_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", "/index.ts", "/index.tsx", "/index.js")


@dataclass(frozen=True)
class Chunk:
    """Lines of a file that the user worked on recently."""

    path: str  # workspace-relative, "/"-separated
    start_line: int  # 0-based
    text: str


ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "package.json", "go.mod", "Cargo.toml")


def find_root(file: Path) -> Path:
    """The nearest folder above `file` that looks like a project root, else the file's folder."""
    file = file.resolve()
    for folder in file.parents:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return file.parent


class Workspace:
    """Texts of files by workspace-relative path; thread-safe."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root  # None: only open documents are known
        self._open: dict[str, str] = {}
        self._ring: BoundedDict[tuple[str, int], Chunk] = BoundedDict(RING_CHUNKS)
        self._lock = threading.Lock()
        self.version = 0  # bumped when a document opens or closes: cached import resolutions expire

    def open(self, path: str, text: str) -> None:
        """A document the editor shows (or its new text); its text wins over the file on disk."""
        with self._lock:
            self.version += int(path not in self._open)
            self._open[path] = text

    def has_open(self) -> bool:
        """True while a front end has a document of this workspace open."""
        with self._lock:
            return bool(self._open)

    def close(self, path: str) -> None:
        """The editor closed the document."""
        with self._lock:
            self.version += int(self._open.pop(path, None) is not None)

    def note_edit(self, path: str, text: str, line: int) -> None:
        """Remember the chunk around an edit (0-based line); the newest chunk of a region replaces older."""
        lines = text.split("\n")
        start = max(0, min(line - CHUNK_LINES // 2, len(lines) - CHUNK_LINES))
        start -= start % (CHUNK_LINES // 2)  # aligned, so nearby edits land in the same chunk
        chunk = Chunk(path, start, "\n".join(lines[start : start + CHUNK_LINES]))
        with self._lock:
            self.version += int(path not in self._open)
            self._open[path] = text
            self._ring.pop((path, start), None)
            self._ring[(path, start)] = chunk

    def recent_chunks(self, exclude: str) -> list[Chunk]:
        """Recently edited chunks of other files, oldest first (a stable order for prompt reuse)."""
        with self._lock:
            return [c for c in self._ring.values() if c.path != exclude]

    def read(self, path: str) -> str | None:
        """The text of a workspace file: the open document, else the file on disk, else None."""
        with self._lock:
            if path in self._open:
                return self._open[path]
        if self.root is None:
            return None
        file = (self.root / path).resolve()
        try:
            if not file.is_relative_to(self.root.resolve()) or file.stat().st_size > MAX_FILE_BYTES:
                return None
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def exists(self, path: str) -> bool:
        """True if `path` is an open document or a file under the root."""
        with self._lock:
            if path in self._open:
                return True
        return self.root is not None and (self.root / path).is_file()

    def resolve_python(self, current: str, module: str) -> list[str]:
        """Candidate files for a Python import seen in `current` ("pkg.mod", ".mod", "..")."""
        dots = len(module) - len(module.lstrip("."))
        parts = [p for p in module.lstrip(".").split(".") if p]
        if dots:
            base = PurePosixPath(current).parent
            for _ in range(dots - 1):
                base = base.parent
            roots = [base]
        else:  # absolute: from the root, or from a source folder such as src/
            roots = [PurePosixPath("."), PurePosixPath("src")]
        found = []
        for root in roots:
            stem = root.joinpath(*parts) if parts else root
            for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                normal = str(PurePosixPath(candidate))
                if self.exists(normal):
                    found.append(normal)
        return found

    def resolve_javascript(self, current: str, specifier: str) -> list[str]:
        """Candidate files for a relative JS/TS import ("./util", "../lib/x.js")."""
        if not specifier.startswith("."):
            return []  # a package: not workspace code
        base = PurePosixPath(current).parent / specifier
        parts: list[str] = []
        for part in base.parts:  # normalise ".." without touching the disk
            if part == "..":
                if parts:
                    parts.pop()
            elif part != ".":
                parts.append(part)
        stem = "/".join(parts)
        candidates = [stem] if PurePosixPath(stem).suffix else []
        candidates += [stem + suffix for suffix in JS_SUFFIXES]
        return [c for c in candidates if self.exists(c)][:1]
