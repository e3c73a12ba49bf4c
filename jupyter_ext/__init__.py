"""The Jupyter side of tabwise: a server extension, a thin client of the tabwise service (the one engine of
every notebook and editor), and the IPython extension with the `%%ask` magic (`%load_ext jupyter_ext`),
which talks to that server, or to the service when no server started the kernel."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_ext.extension import TabwiseExtension

    return [{"module": "jupyter_ext", "app": TabwiseExtension}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext jupyter_ext`: registers `%%ask` and `%ask`."""
    from jupyter_ext.magics import AskMagics

    ipython.register_magics(AskMagics(ipython))
