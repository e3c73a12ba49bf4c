"""The Jupyter Server extension: a thin client of the tabwise service, which holds the one engine.

The model runs in the service's process (found or started on demand, shared with editors and
kernels), never in the Jupyter server: a crash of llama.cpp costs the pending requests an error, and
the client starts the service again for the next one.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode

from completion.config import EngineConfig
from completion.service.client import ServiceClient
from jupyter_ext import handlers

log = logging.getLogger(__name__)

ROUTES: list[tuple[str, type]] = [  # under the server's base URL; every handler requires authentication
    (r"/tabwise/status", handlers.StatusHandler),
    (r"/tabwise/complete", handlers.CompleteHandler),
    (r"/tabwise/ask", handlers.AskHandler),
    (r"/tabwise/explain", handlers.ExplainHandler),
    (r"/tabwise/cancel", handlers.CancelHandler),
    (r"/tabwise/inline", handlers.InlineCompletionHandler),
]


class TabwiseExtension(ExtensionApp):
    """Settings as traitlets (`c.TabwiseExtension.model_path = ...` or `--TabwiseExtension.preload=False`)."""

    name = "jupyter_ext"
    model_path = Unicode(
        "", config=True, help="A GGUF file; empty: the one chosen with `tabwise model use`, else the default."
    )
    gpu_layers = Int(-1, config=True, help="Layers offloaded to the GPU; -1: all when llama.cpp has a GPU.")
    threads = Int(0, config=True, help="CPU threads; 0: one per physical core.")
    preload = Bool(True, config=True, help="Load the model when the server starts, not on the first request.")
    answer_tokens = Int(768, config=True, help="Longest answer of ask and explain, in tokens.")

    def engine_settings(self) -> dict[str, Any]:
        """The traitlets as engine settings (EngineConfig field names), for the service's `configure`."""
        settings: dict[str, Any] = {
            "model_path": str(Path(self.model_path).expanduser().absolute()) if self.model_path else None,
            "n_gpu_layers": None if self.gpu_layers < 0 else self.gpu_layers,  # None: all, when there is a GPU
            "n_threads": self.threads or None,  # None: the physical cores
            "preload": self.preload,
            "chat_max_tokens": self.answer_tokens,
        }
        EngineConfig(**settings)  # a renamed field fails here, at start, not in the service
        return settings

    def initialize_settings(self) -> None:
        root = Path(self.serverapp.root_dir if self.serverapp else Path.cwd()).expanduser().resolve()
        service = ServiceClient("jupyter")  # its runtime directory: $TABWISE_RUNTIME_DIR, else the platform's
        configured = service.configure(self.engine_settings())  # starts the service, in the background
        configured.add_done_callback(_report_configure)
        self.settings.update(
            {
                "tabwise_service": service,
                "tabwise_configured": configured,  # requests wait for it: they run on these settings
                "tabwise_root": str(root),
                "tabwise_streams": {},
            }
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def stop_extension(self) -> None:
        service: ServiceClient | None = self.settings.get("tabwise_service")
        if service is not None:
            service.close()  # the service goes on for other front ends, and exits once none is left


def _report_configure(done: Future[EngineConfig]) -> None:
    """Log a service that could not be started or configured; each request then answers why (503)."""
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.warning("tabwise: %s", exc)
