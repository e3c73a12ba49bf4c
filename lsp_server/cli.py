"""The language server's command line: `python -m lsp_server`, and `tabwise lsp` (registered with the tabwise
command through the "tabwise.commands" entry points)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from completion.errors import TabwiseError


def add_command(commands: Any) -> None:
    """Add the `lsp` subcommand to the tabwise command's subparsers."""
    lsp = commands.add_parser("lsp", help="run the language server (stdio; --tcp HOST:PORT for TCP)")
    add_transport_flags(lsp)
    lsp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`tabwise lsp`: the same as `python -m lsp_server`."""
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


def main(argv: list[str] | None = None) -> None:
    """Run over stdio (default) or TCP (`--tcp HOST:PORT`: loopback only, a token per client; lsp_server.tcp)."""
    from lsp_server import tcp  # pygls loads only when the server runs
    from lsp_server.server import private_stdout, server

    parser = argparse.ArgumentParser(prog="tabwise lsp", description="Run the tabwise language server.")
    add_transport_flags(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # stderr; pygls logs every message at INFO
    logging.getLogger("completion").setLevel(logging.INFO)
    if not args.tcp:
        if args.allow_remote:
            parser.error("--allow-remote goes with --tcp")
        server.start_io(sys.stdin.buffer, private_stdout())
        return
    try:
        host, port = tcp.parse_address(args.tcp, args.allow_remote)
        tcp.start(server, host, port)
    except tcp.AddressError as exc:
        parser.error(str(exc))
    except TabwiseError as exc:  # a runtime directory others can reach: no token file there
        parser.exit(1, f"tabwise lsp: {exc}\n")
