"""Language ids (as LSP clients name them) from file names."""

from __future__ import annotations

from pathlib import PurePath

_BY_SUFFIX = {
    ".py": "python", ".pyi": "python", ".ipynb": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascriptreact",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "typescriptreact",
    ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".rb": "ruby", ".sh": "shellscript", ".bash": "shellscript", ".sql": "sql",
    ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".md": "markdown", ".toml": "toml",
    ".html": "html", ".css": "css", ".php": "php", ".kt": "kotlin", ".swift": "swift", ".lua": "lua",
}  # fmt: skip


def language_of(path: str) -> str:
    """The language id for `path` by its suffix; "" when unknown (the engine still completes it)."""
    return _BY_SUFFIX.get(PurePath(path).suffix.lower(), "")
