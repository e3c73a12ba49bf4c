"""The documents store: what the editors show, per workspace root.

`document` is a front end's identity for a document (an LSP uri, a notebook connection...), the same as
FimRequest.document of its requests; `path` is workspace-relative ("/"-separated), as in FimRequest.path.
An open document's text wins over the file on disk for cross-file context. Each root (FimRequest.root;
"" = the engine's own workspace) has its context; the parse trees and the typing rhythm are shared.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from completion.bounded import BoundedDict
from completion.context.gatherer import ContextGatherer
from completion.context.syntax import SyntaxCache
from completion.context.workspace import Workspace
from completion.schedule.rhythm import TypingRhythm

ROOTS_KEPT = 16  # workspace roots (editors' folders) whose context is kept without an open document


class Documents:
    """Open documents' text, their parse trees, the context gathered from them, and the rhythm of edits."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.syntax = SyntaxCache()  # parse trees by document, for planning and context alike
        self.rhythm = TypingRhythm()  # edits are keystrokes; status turns them into a debounce hint
        own = ContextGatherer(workspace or Workspace(), self.syntax)
        self._contexts: BoundedDict[str, ContextGatherer] = BoundedDict(ROOTS_KEPT, evictable=self._idle)
        self._contexts[""] = own
        self._lock = threading.Lock()  # front ends' threads and the worker both look contexts up

    def context_for(self, root: str) -> ContextGatherer:
        """The context of the workspace at `root`, created on first use."""
        with self._lock:
            if (context := self._contexts.get(root)) is None:
                context = self._contexts[root] = ContextGatherer(Workspace(Path(root)), self.syntax)
            return context

    def opened(self, path: str, text: str, root: str) -> None:
        """The editor shows `text` at `path`: it is context from now on, saved or not."""
        self.context_for(root).workspace.open(path, text)

    def edited(self, path: str, text: str, line: int | None, root: str) -> None:
        """`path` now reads `text` after an edit at `line` (0-based; None: a full change)."""
        self.rhythm.keystroke(time.monotonic())
        workspace = self.context_for(root).workspace
        if line is None:
            workspace.open(path, text)
        else:
            workspace.note_edit(path, text, line)

    def closed(self, document: str, path: str, root: str) -> None:
        """The editor closed `document`: the file on disk is context again; its parse tree is dropped."""
        self.context_for(root).workspace.close(path)
        self.syntax.forget(document)

    @staticmethod
    def _idle(root: str, context: ContextGatherer) -> bool:
        """A root may be forgotten once it has no open document (never the engine's own)."""
        return bool(root) and not context.workspace.has_open()
