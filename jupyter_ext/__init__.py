"""The Jupyter side of tabwise: a server extension that hosts one engine for every notebook, and the
IPython extension with the `%%ask` magic (`%load_ext jupyter_ext`), which talks to that server."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_ext.extension import TabwiseExtension

    return [{"module": "jupyter_ext", "app": TabwiseExtension}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext jupyter_ext`: registers `%%ask` and `%ask`."""
    from jupyter_ext.magics import AskMagics

    ipython.register_magics(AskMagics(ipython))
