"""The Jupyter Server extension: a thin client of the tabwise service, which holds the one engine.

The model runs in the service's process (found or started on demand, shared with editors and
kernels), never in the Jupyter server: a crash of llama.cpp costs the pending requests an error, and
the client starts the service again for the next one.
"""

from __future__ import annotations

import logging
import types
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, TraitType, Unicode
from traitlets.config import Configurable

from completion.service.client import ServiceClient
from completion.service.configs import Configured
from completion.settings import Spelling, engine_names, engine_settings, help_text, read_settings, value_type
from jupyter_ext import handlers
from jupyter_ext.kernel_context import KernelSummaries

log = logging.getLogger(__name__)

ROUTES: list[tuple[str, type]] = [  # under the server's base URL; every handler requires authentication
    (r"/tabwise/status", handlers.StatusHandler),
    (r"/tabwise/complete", handlers.CompleteHandler),
    (r"/tabwise/ask", handlers.AskHandler),
    (r"/tabwise/explain", handlers.ExplainHandler),
    (r"/tabwise/cancel", handlers.CancelHandler),
    (r"/tabwise/inline", handlers.InlineCompletionHandler),
]


def setting_traits() -> dict[str, TraitType[Any, Any]]:
    """A traitlet for each setting that reaches the engine, named as the setting; unset (None) means the
    environment's value, else the default, as for every front end (completion/settings.py)."""
    traits: dict[str, TraitType[Any, Any]] = {}
    for name in engine_names():
        kind = {int: Int, bool: Bool, str: Unicode}[value_type(name)]
        traits[name] = kind(None, allow_none=True, config=True, help=help_text(name))
    return traits


# A base class made from the settings, so that no traitlet is declared here by hand: `--TabwiseExtension.X`
# works for each, as traitlets of a base do.
SettingTraits: Any = types.new_class("SettingTraits", (Configurable,), exec_body=lambda ns: ns.update(setting_traits()))


class TabwiseExtension(ExtensionApp, SettingTraits):
    """Settings as traitlets (`c.TabwiseExtension.model_path = ...` or `--TabwiseExtension.preload=False`)."""

    name = "jupyter_ext"

    def engine_settings(self) -> dict[str, Any]:
        """The traitlets as engine settings (EngineConfig field names), for the service's `configure`; a bad
        value is logged and left at the environment's value or the default."""
        settings, problems = read_settings({name: getattr(self, name) for name in engine_names()}, Spelling.SNAKE)
        for problem in problems:
            log.warning("tabwise: %s", problem)
        return engine_settings(settings)

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
                # notebooks' kernels' variables, for their completions (None without a server: no kernels)
                "tabwise_kernels": KernelSummaries(self.serverapp.session_manager, self.serverapp.kernel_manager)
                if self.serverapp
                else None,
            }
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def stop_extension(self) -> None:
        service: ServiceClient | None = self.settings.get("tabwise_service")
        if service is not None:
            service.close()  # the service goes on for other front ends, and exits once none is left
        kernels: KernelSummaries | None = self.settings.get("tabwise_kernels")
        if kernels is not None:
            kernels.close()


def _report_configure(done: Future[Configured]) -> None:
    """Log a service that could not be started or configured (each request then answers why, 503), or why
    it keeps another front end's model settings (the status route says so too, as `settings_warning`)."""
    if done.cancelled():
        return
    if (exc := done.exception()) is not None:
        log.warning("tabwise: %s", exc)
    elif (warning := done.result().warning) is not None:
        log.warning("tabwise: %s", warning)
