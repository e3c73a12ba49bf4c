"""One structured debug line per live completion: how it was answered and where its time went, so a slow
answer can be told apart (waiting in the queue, a prompt evaluated again, a wait for a line's end, a cache
answer that did not come) from the service's log alone (`TABWISE_LOG_LEVEL=debug`; the typing replay reads
it: bench/replay/editors.py).

    answered {"how": "budget", "route": "queued", "wait_ms": 812.4, "queued_ms": 0.3, "first_token_ms": 540.1,
              "past_first_token_ms": 271.9, "prompt_tokens": 1012, "reused_tokens": 990, ...}

`how` is one of: "nothing" (no completion fits there), "cache" (the suggestion cache, typed ahead or a
place seen before), "follow" (a running generation, at the end of a line it wrote), "follow-end" (the rest
of the generation it followed, once that ended), "queued-cache" (the cache, filled while it waited in the
queue), "budget" (its own generation, shown when the time budget ran out), "end" (its own generation, at
its end), "cancelled", "error". `route` is the way it took when it came: "nothing", "follow", "cache" or
"queued" (a follower that the generation it followed could not answer is generated, so how is "budget" or
"end").
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future
from typing import Any

from completion.errors import Cancelled
from completion.schedule.worker import Job
from completion.types import FimRequest, StopReason, Suggestion

log = logging.getLogger(__name__)


def trace(job: Job[Suggestion], request: FimRequest, route: str) -> None:
    """Log how `job` (a live completion that took `route`) is answered, when it is; nothing unless debug is on."""
    if log.isEnabledFor(logging.DEBUG):
        job.future.add_done_callback(lambda future: log.debug("answered %s", json.dumps(record(job, request, route))))


def record(job: Job[Suggestion], request: FimRequest, route: str) -> dict[str, Any]:
    """What the debug line says of a settled job: times in ms from its submission, tokens as model tokens."""
    found: dict[str, Any] = {
        "route": route,
        "document": request.document or request.path,
        "cursor": len(request.prefix),  # characters before the cursor
        "wait_ms": round((time.perf_counter() - job.submitted_at) * 1000, 1),
    }
    future: Future[Suggestion] = job.future
    error = None if future.cancelled() else future.exception()
    if future.cancelled() or isinstance(error, Cancelled):
        return {"how": "cancelled", **found}
    if error is not None:
        return {"how": "error", **found, "error": str(error)[:200]}
    suggestion = future.result()
    cost = suggestion.timings
    return {
        "how": how(route, suggestion),
        **found,
        "stop": suggestion.stop_reason.value,
        "chars": len(suggestion.text),
        "queued_ms": round(cost.queued_ms, 1),  # waiting for the worker (a generated answer only)
        "first_token_ms": round(cost.prompt_ms, 1),  # from the worker taking it to its first token
        "past_first_token_ms": round(cost.total_ms - cost.prompt_ms, 1),  # then until it was answered
        "prompt_tokens": cost.prompt_tokens,
        "reused_tokens": cost.reused_tokens,  # from the KV cache
        "evaluated_tokens": cost.evaluated_tokens,
        "generated_tokens": cost.generated_tokens,
    }


def how(route: str, suggestion: Suggestion) -> str:
    """The answer's source, from the way the request came and what ended its suggestion (see the module)."""
    reason, generated = suggestion.stop_reason, suggestion.timings.prompt_tokens > 0
    if route in ("nothing", "cache"):
        return route
    if reason is StopReason.CACHED:
        return "follow-end" if route == "follow" else "queued-cache"
    if reason is StopReason.TIME:
        return "budget" if generated else "follow"  # a follower is shown what stands with no cost of its own
    return "end"
