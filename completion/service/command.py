"""`tabwise serve` and `python -m completion.service`: run the engine service in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from completion.config import EngineConfig
from completion.service.server import DEFAULT_IDLE_EXIT_S, serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The service's flags."""
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=DEFAULT_IDLE_EXIT_S,
        metavar="SECONDS",
        help=f"exit after this long with no client (default {DEFAULT_IDLE_EXIT_S:.0f}; 0 = never)",
    )
    parser.add_argument("--model", type=Path, help="GGUF to use instead of the configured one")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")


def add_serve_command(commands: Any) -> None:
    """Add `tabwise serve` to the tabwise command's subparsers."""
    parser = commands.add_parser("serve", help="run the engine service in the foreground (else front ends start it)")
    add_arguments(parser)
    parser.set_defaults(run=lambda args: run(args, echo=True))


def run(args: argparse.Namespace, echo: bool) -> int:
    """Serve with the settings from the flags; `echo` logs to stderr too (a terminal, a process manager)."""
    config = EngineConfig(model_path=args.model, n_threads=args.threads)
    return serve(config, args.idle_exit, echo=echo)
