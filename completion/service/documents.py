"""Which documents each client reported open, so the engine hears of a document closing only when the
last client that had it open closes it or goes away."""

from __future__ import annotations

from completion.engine import Engine
from completion.service.protocol import EditedParams, OpenedParams


class OpenDocuments:
    """Documents by id, with the clients (connection numbers) that have them open; forwards to the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._holders: dict[str, set[int]] = {}  # document -> connections that have it open
        self._places: dict[str, tuple[str, str]] = {}  # document -> (path, root), for the engine's closed()

    def __len__(self) -> int:
        return len(self._holders)

    def opened(self, client: int, params: OpenedParams, context_tokens: int | None = None) -> None:
        """A client opened a document (or opened it again after a service restart); its end is warmed with
        that client's `context_tokens` (None: the engine's)."""
        self._hold(client, params.document, params.path, params.root)
        self._engine.document_opened(
            params.document, params.path, params.text, params.language, params.warm, params.root, context_tokens
        )

    def edited(self, client: int, params: EditedParams) -> None:
        """A client edited a document; an edit implies the document is open."""
        self._hold(client, params.document, params.path, params.root)
        self._engine.document_edited(params.document, params.path, params.text, params.line, params.at, params.root)

    def closed(self, client: int, document: str) -> None:
        """A client closed `document`; the engine forgets it once no client has it open."""
        holders = self._holders.get(document)
        if holders is None:
            return
        holders.discard(client)
        if not holders:
            del self._holders[document]
            path, root = self._places.pop(document)
            self._engine.document_closed(document, path, root)

    def client_gone(self, client: int) -> None:
        """A client disconnected: close what it had open."""
        for document in [d for d, holders in self._holders.items() if client in holders]:
            self.closed(client, document)

    def _hold(self, client: int, document: str, path: str, root: str) -> None:
        self._holders.setdefault(document, set()).add(client)
        self._places[document] = (path, root)
