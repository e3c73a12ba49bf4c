"""`tabwise lsp`: registered with the tabwise command through the "tabwise.commands" entry points."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(commands: Any) -> None:
    """Add the `lsp` subcommand to the tabwise command's subparsers."""
    lsp = commands.add_parser("lsp", help="run the language server (stdio; --tcp HOST:PORT for TCP)")
    lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    lsp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lsp_server.server import main  # pygls loads only when the server runs

    main(["--tcp", args.tcp] if args.tcp else [])
    return 0
