"""The LSP spelling of the settings (completion/settings.py): camelCase options from `initializationOptions`
and `workspace/didChangeConfiguration`, under a "tabwise" section or not. The environment lies under them;
a bad value is reported and ignored, so a wrong setting never stops the server."""

from __future__ import annotations

from dataclasses import replace

from completion.settings import Settings, Spelling, read_settings
from completion.types import FimRequest


def parse_settings(raw: object, current: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from a client's JSON (a "tabwise" section is unwrapped); problems come back as text."""
    if isinstance(raw, dict) and isinstance(raw.get("tabwise"), dict):
        raw = raw["tabwise"]
    settings, problems = read_settings(raw if isinstance(raw, dict) else {}, Spelling.CAMEL, current)
    if raw is not None and not isinstance(raw, dict):
        problems.append(f"tabwise settings must be an object, not {type(raw).__name__}")
    return settings, problems


def limit(settings: Settings, request: FimRequest) -> FimRequest:
    """`request` with this client's limits: the service is shared, so they ride on each request too."""
    return replace(request, max_tokens=settings.max_tokens, time_budget_ms=settings.time_budget_ms)
