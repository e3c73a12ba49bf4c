"""Each front end's settings in the one shared service: its own limits, and whose model the engine runs.

One engine serves every front end of a user, so the settings that pick and load the model (every
EngineConfig field outside CLIENT_FIELDS) can be one front end's only. The first connection that
configures holds them while it is connected; a later one asking for others is told which differ and who
holds them, is served by the running model, and gets its own once the holder disconnects (the earliest
waiting first). Nobody's configure switches the model from under another, so two front ends never
reload it back and forth. The limits (CLIENT_FIELDS) are each connection's own: the service fills them
into that connection's requests. A front end changing its own settings while it holds them reloads as
ever; one that never configured is served on the settings in force.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from completion.config import CLIENT_FIELDS, EngineConfig, shared_differences
from completion.schedule.worker import Job
from completion.service.protocol import converter
from completion.settings import setting_name

Apply = Callable[[EngineConfig], Job[None]]  # puts settings in force on the engine (Engine.reconfigure)
SHOWN_DIFFERENCES = 4  # settings named in a warning with both values; more are counted


@dataclass(frozen=True)
class Configured:
    """`configure`'s answer: the settings this front end's requests run on, and why some are not its own."""

    config: EngineConfig
    warning: str | None = None  # None: all its own

    def to_wire(self) -> dict[str, Any]:
        """The EngineConfig's fields, with "warning" beside them."""
        return {**converter.unstructure(self.config), "warning": self.warning}

    @staticmethod
    def from_wire(value: dict[str, Any]) -> Configured:
        fields = dict(value)
        warning = fields.pop("warning", None)
        return Configured(converter.structure(fields, EngineConfig), str(warning) if warning else None)


@dataclass(frozen=True)
class Own:
    """What one connection asked for."""

    name: str  # who it is, for other front ends' warnings: its kind and connection number
    config: EngineConfig


class ClientConfigs:
    """Connections' settings and the one that holds the model's; used on the service's event loop only."""

    def __init__(self, base: EngineConfig, apply: Apply) -> None:
        self.base = base  # the settings the service started with; each configure applies over them
        self._apply = apply
        self._own: dict[int, Own] = {}  # by connection number, in the order they first configured
        self._holder: int | None = None  # the connection whose settings the engine runs on
        self._in_force = base  # the settings last put on the engine

    def configure(self, client: int, kind: str, config: EngineConfig) -> Job[None] | None:
        """Take a connection's settings; the job that puts them in force, or None while another holds the
        model's (then `answer` says why)."""
        self._own[client] = Own(f"{kind} (connection {client})", config)
        if self._holder not in (None, client):
            return None
        return self._hold(client)

    def answer(self, client: int) -> Configured:
        """What `configure` answers a connection: the settings it is served on, and a warning if they
        are not all its own."""
        return Configured(self.served(client), self.warning(client))

    def served(self, client: int) -> EngineConfig:
        """The settings a connection's requests run on: the engine's, with its own limits."""
        own = self._own.get(client)
        if own is None:
            return self._in_force
        return replace(self._in_force, **{name: getattr(own.config, name) for name in CLIENT_FIELDS})

    def warning(self, client: int) -> str | None:
        """Why a connection is not served on all of its own settings (None: it is)."""
        own, holder = self._own.get(client), self._own.get(self._holder) if self._holder is not None else None
        if own is None or holder is None or self._holder == client:
            return None
        differ = shared_differences(own.config, self._in_force)
        if not differ:
            return None
        return (
            f"the shared tabwise service keeps the model settings of {holder.name}, which set them first: "
            f"{_differences(self._in_force, own.config, differ)}. This front end is served by that model, with "
            f"its own limits, and its own model settings apply once that front end disconnects. To run both at "
            f"once, give one of them its own service (a separate TABWISE_RUNTIME_DIR)."
        )

    def holder(self) -> str | None:
        """Who holds the model settings (None: the service's own are in force, or the holder left)."""
        own = self._own.get(self._holder) if self._holder is not None else None
        return own.name if own is not None else None

    def client_gone(self, client: int) -> None:
        """A connection closed: if it held the model settings, the earliest waiting connection's apply."""
        self._own.pop(client, None)
        if self._holder == client:
            self._holder = None
            if self._own:
                self._hold(next(iter(self._own)))

    def _hold(self, client: int) -> Job[None]:
        self._holder, self._in_force = client, self._own[client].config
        return self._apply(self._in_force)


def _differences(there: EngineConfig, here: EngineConfig, names: list[str]) -> str:
    """Settings that differ, with both values: the first few, the rest counted."""
    shown = [
        f"{setting_name(name)} is {_shown(getattr(there, name))} there, {_shown(getattr(here, name))} here"
        for name in names[:SHOWN_DIFFERENCES]
    ]
    more = f" (and {len(names) - SHOWN_DIFFERENCES} more)" if len(names) > SHOWN_DIFFERENCES else ""
    return "; ".join(shown) + more


def _shown(value: object) -> str:
    """A setting's value in a message."""
    return "unset" if value is None else str(value)
