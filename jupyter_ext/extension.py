"""The Jupyter Server extension: one engine, loaded once in the server, shared by every notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode

from completion.config import EngineConfig
from completion.engine import Engine
from completion.workspace import Workspace
from jupyter_ext import handlers

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

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            model_path=Path(self.model_path).expanduser() if self.model_path else None,
            n_gpu_layers=None if self.gpu_layers < 0 else self.gpu_layers,
            n_threads=self.threads or None,
            preload=self.preload,
            chat_max_tokens=self.answer_tokens,
        )

    def initialize_settings(self) -> None:
        root = Path(self.serverapp.root_dir) if self.serverapp else Path.cwd()
        engine = Engine(self.engine_config(), workspace=Workspace(root))
        self.settings.update({"tabwise_engine": engine, "tabwise_streams": {}})

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def stop_extension(self) -> None:
        engine: Any = self.settings.get("tabwise_engine")
        if engine is not None:
            engine.close()
