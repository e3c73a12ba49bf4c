"""How long a request may wait for the service's answer, by method.

A deadline bounds a wait, it does not pace the model: each is generous for a loaded 2-core machine,
where a cold 1,700-token prompt costs ~22 s and the default model loads in seconds to a minute. Past it
the request fails with ServiceTimeout and is cancelled in the service. A service that stops answering
altogether is found sooner than any deadline, by the link's ping (see connection.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from completion.config import EngineConfig
from completion.service.connection import DEFAULT_DEADLINE_S

# complete: twice the time budget (past its first token the engine waits that long for a line that stands)
# and this grace for the prompt's evaluation, a queue, the model loading for the first request.
COMPLETE_GRACE_S = 30.0
DEADLINES_S: dict[str, float] = {
    "explain": 180.0,  # chat methods: for each next chunk; the first waits for the model and a long prompt
    "ask": 180.0,
    "chat": 180.0,
    "configure": 600.0,  # with preload, answered once the model is loaded: a large one, a slow disk
    "opened": 60.0,  # documents: megabytes of text are read and parsed on the service's loop
    "edited": 60.0,
    "closed": 60.0,
}  # any other method (status, cancel): DEFAULT_DEADLINE_S


def deadline_for(method: str, params: Mapping[str, Any], settings: Mapping[str, Any] | None) -> float:
    """The deadline of one request; `settings` are the client's last configure (for the time budget)."""
    if method == "complete":
        budget_ms = params.get("time_budget_ms") or (settings or {}).get("time_budget_ms")
        return 2 * float(budget_ms or EngineConfig.time_budget_ms) / 1000 + COMPLETE_GRACE_S
    return DEADLINES_S.get(method, DEFAULT_DEADLINE_S)
