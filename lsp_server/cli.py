"""`tabwise lsp`: registered with the tabwise command through the "tabwise.commands" entry points."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(commands: Any) -> None:
    """Add the `lsp` subcommand to the tabwise command's subparsers."""
    lsp = commands.add_parser("lsp", help="run the language server (stdio; --tcp HOST:PORT for TCP)")
    add_transport_flags(lsp)
    lsp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lsp_server.server import main  # pygls loads only when the server runs

    main((["--tcp", args.tcp] if args.tcp else []) + (["--allow-remote"] if args.allow_remote else []))
    return 0


def add_transport_flags(parser: Any) -> None:
    """--tcp and --allow-remote, for `python -m lsp_server` and `tabwise lsp` alike."""
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="listen on TCP instead of stdio (loopback only; a client sends the token the server names on stderr)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --tcp listen on an address other machines can reach (unencrypted; a token is still required)",
    )
