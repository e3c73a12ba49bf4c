"""Put the per-completion debug line (completion/fim/trace.py) into an older checkout of tabwise, so that
the typing replay (`--code DIR`) can say how that code answered each request: for comparisons on the
same requests (docs/benchmarks.md, "Where the time goes"). For checkouts from before issue 24's folders,
where the engine's `submit_complete` decides between nothing, following a running generation, the cache
and the queue; leave the change uncommitted there.

    python -m bench.replay.trace_older DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]


def _edit(text: str, old: str, new: str, required: bool = True) -> str:
    if old not in text:
        if required:
            raise SystemExit(f"not found in the older engine: {old!r}")
        return text
    return text.replace(old, new, 1)


def patch(root: Path) -> None:
    """completion/fim_trace.py (this tree's trace.py), a trace() call on each of submit_complete's ways out,
    and TABWISE_LOG_LEVEL=debug honoured by the service's log."""
    trace = (HERE / "completion/fim/trace.py").read_text()
    trace = trace.replace("from completion.schedule.worker import Job", "from completion.worker import Job")
    trace = trace.replace("logging.getLogger(__name__)", 'logging.getLogger("completion.fim.trace")')
    (root / "completion/fim_trace.py").write_text(trace)
    engine = root / "completion/engine.py"
    text = _edit(
        engine.read_text(),
        "from completion.cache import",
        "from completion.fim_trace import trace\nfrom completion.cache import",
    )
    for old, route in (
        ("        if plan.mode is Mode.NONE:\n", "nothing"),
        ("        if self._follows(request, job):\n", "follow"),
        ("        if (cached := self._cache.lookup(request)) is not None:\n", "cache"),
    ):
        text = _edit(text, old, f"{old}            trace(job, request, {route!r})\n", required=route != "follow")
    text = _edit(
        text,
        "        return self._worker.submit(job)\n",
        "        trace(job, request, 'queued')\n        return self._worker.submit(job)\n",
    )
    engine.write_text(text)
    server = root / "completion/service/server.py"
    basic = "handlers=handlers)\n"  # the end of the service's logging.basicConfig(...) line
    level = '    if os.environ.get("TABWISE_LOG_LEVEL", "").lower() == "debug":\n'
    level += '        logging.getLogger("completion").setLevel(logging.DEBUG)\n'
    server.write_text(_edit(server.read_text(), basic, basic + level))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="the older checkout (a git worktree at that commit)")
    patch(parser.parse_args().root)


if __name__ == "__main__":
    main()
