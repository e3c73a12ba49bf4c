"""`tabwise serve` and `python -m completion.service`: run the engine service in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from completion.config import EngineConfig
from completion.runtime.host import BackendFactory
from completion.service import launch
from completion.service.rundir import read_info, runtime_dir
from completion.service.server import DEFAULT_IDLE_EXIT_S, serve
from completion.settings import Spelling, add_flags, engine_settings, flag_values, read_settings

IDLE_EXIT_ENV = "TABWISE_SERVICE_IDLE_EXIT_S"  # the default of --idle-exit, in seconds (tests: a short one)
STOP_WAIT_S = 15.0  # how long `tabwise serve --stop` waits for the service to end


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The service's flags."""
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=float(os.environ.get(IDLE_EXIT_ENV) or DEFAULT_IDLE_EXIT_S),
        metavar="SECONDS",
        help=f"exit after this long with no client (default ${IDLE_EXIT_ENV} or {DEFAULT_IDLE_EXIT_S:.0f}; 0 = never)",
    )
    parser.add_argument("--stop", action="store_true", help="stop the running service (front ends start it again)")
    add_flags(parser, "model_path", "threads")  # --model, --threads


def add_serve_command(commands: Any) -> None:
    """Add `tabwise serve` to the tabwise command's subparsers."""
    parser = commands.add_parser("serve", help="run the engine service in the foreground (else front ends start it)")
    add_arguments(parser)
    parser.set_defaults(run=lambda args: run(args, echo=True))


def run(args: argparse.Namespace, echo: bool, backend_factory: BackendFactory | None = None) -> int:
    """Serve with the settings from the flags; `echo` logs to stderr too (a terminal, a process manager).
    `backend_factory` makes the model (None: as the settings say)."""
    if getattr(args, "stop", False):
        print(stop_service())
        return 0
    settings, problems = read_settings(flag_values(args), Spelling.FLAG)  # over the environment
    for problem in problems:
        print(f"tabwise service: {problem}", file=sys.stderr)
    config = EngineConfig(**engine_settings(settings)).with_changes(preload=False)  # front ends ask for it
    return serve(config, args.idle_exit, echo=echo, backend_factory=backend_factory)


def stop_service(wait_s: float = STOP_WAIT_S) -> str:
    """Ask the running service to stop (SIGTERM: it says goodbye to its clients) and wait for it."""
    rundir = runtime_dir()
    info = read_info(rundir)
    if info is None or not launch.pid_alive(info.pid):
        return f"no tabwise service is running (runtime directory {rundir.path})"
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while launch.pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    state = "still stopping" if launch.pid_alive(info.pid) else "stopped"
    return f"the tabwise service (pid {info.pid}) {state}; its log: {info.log}"
