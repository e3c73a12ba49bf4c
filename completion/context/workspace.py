"""The files around the one being edited: open documents, files on disk, and recent edits.

Front ends report opened and edited documents; everything else is read from disk under the
workspace root on demand (bounded in size), so the CLI and the benchmarks get cross-file context
with no editor at all. Which file an import names is each language's business (`completion.languages`);
this only says which files exist.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from completion.bounded import BoundedDict
from completion.languages import languages

MAX_FILE_BYTES = 512 * 1024  # larger files are not read for context
RING_CHUNKS = 16  # recently edited chunks kept (llama.vscode keeps 16 of 64 lines)
CHUNK_LINES = 64


@dataclass(frozen=True)
class Chunk:
    """Lines of a file that the user worked on recently."""

    path: str  # workspace-relative, "/"-separated
    start_line: int  # 0-based
    text: str


ROOT_MARKERS = (".git",)  # besides the root markers of each language (pyproject.toml, package.json, ...)


def find_root(file: Path) -> Path:
    """The nearest folder above `file` that looks like a project root, else the file's folder."""
    file = file.resolve()
    markers = [*ROOT_MARKERS, *(marker for language in languages() for marker in language.root_markers)]
    for folder in file.parents:
        if any((folder / marker).exists() for marker in markers):
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
