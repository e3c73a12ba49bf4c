"""The live variables of a notebook's kernel, as notes for the completions asked from that notebook.

A completion request names its notebook (`path`); the server's session manager knows the notebook's
kernel. A `KernelWatcher` per kernel asks it for `kernel_summary.py`'s summary the way Jupyter's own
machinery leaves no trace: an `execute_request` with `silent=True` and `store_history=False`, empty
code and one user expression. A silent request gets no execution count, no history entry, no
`execute_input` broadcast, and a user expression is evaluated without the display hook (`_`, `Out`
stay as they were). The expression runs the summary's source in a fresh namespace of its own (the
kernel need not have tabwise installed), and resolves no name at all: a notebook may define `__import__`,
`exec`, `str` or `len`, and none of them is called.

It is asked again after each cell the user runs (an `execute_input` on the kernel's IOPub channel, then
the kernel idle again), never per keystroke; a request meanwhile takes the last summary. Only a
notebook's first request waits for one, briefly, and not while the kernel is busy: a kernel running
a long cell answers after it, and until then completions go on with what they had.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from tornado import web

log = logging.getLogger(__name__)
FIRST_WAIT_S = 2.0  # a notebook's first request waits this long at most for a summary (an idle kernel: ms)
REPLY_WAIT_S = 900.0  # a summary queued behind a long cell is given up after this; the next cell asks again
KEY = "tabwise"  # the user expression's name in the reply
SOURCE = (Path(__file__).parent / "kernel_summary.py").read_text(encoding="utf-8")
# One expression that names nothing: it is evaluated in the user's namespace, where `__import__`, `exec` or
# `str` may be the notebook's own. A new function's `__builtins__` is the builtins dict the namespace runs
# with (the interpreter's; Python 3.10+); the summary's source runs in a namespace of its own with them.
EXPRESSION = (
    "(lambda b: (lambda g: b['exec'](b['compile'](" + repr(SOURCE) + ", '<tabwise kernel summary>', 'exec'), g)"
    " or g['kernel_summary']())({'__builtins__': b, '__name__': 'tabwise_kernel_summary'}))((lambda: 0).__builtins__)"
)
ASK_FAILED = (asyncio.TimeoutError, zmq.ZMQError, RuntimeError, KeyError, TypeError, ValueError, SyntaxError)


class KernelWatcher:
    """One kernel's last summary, asked for again after each cell the user runs."""

    def __init__(self, client: Any, state: Callable[[], str]) -> None:
        self.client = client  # a jupyter_client async kernel client: shell and IOPub channels of our own
        self.state = state  # the kernel's execution state as the server tracks it ("busy", "idle", ...)
        self.summary: str | None = None  # the last summary; None until the first one arrives
        self.executed = 0  # cells the user ran (execute_input messages seen)
        self.summarized = -1  # the value of `executed` when the last summary was asked for
        self.asking: asyncio.Task[None] | None = None  # the summary request in flight
        self.asked_id = ""  # its message id, to tell its own IOPub messages and reply apart
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self.listening = asyncio.ensure_future(self.listen())

    @property
    def stale(self) -> bool:
        return self.summarized != self.executed

    async def notes(self) -> str:
        """The last summary ("" for none yet); a first one is waited for while the kernel is not busy."""
        if self.stale and self.asking is None:
            self.ask()
        if self.summary is None and self.asking is not None and self.state() != "busy":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.asking), FIRST_WAIT_S)
        return self.summary or ""

    def ask(self) -> None:
        self.asking = asyncio.ensure_future(self.summarize())
        self.asking.add_done_callback(self._asked)

    def _asked(self, task: asyncio.Task[None]) -> None:
        self.asking = None

    async def summarize(self) -> None:
        """Ask the kernel for its summary and keep it; a failed or aborted one leaves the last in place."""
        executed = self.executed
        self.asked_id = self.client.execute(
            "", silent=True, store_history=False, user_expressions={KEY: EXPRESSION}, allow_stdin=False,
            stop_on_error=False,
        )  # fmt: skip
        try:
            reply = await asyncio.wait_for(self.reply(self.asked_id), REPLY_WAIT_S)
            result = reply["content"].get("user_expressions", {}).get(KEY, {})
            if result.get("status") != "ok":
                log.debug("kernel summary not made: %s", result.get("evalue") or reply["content"].get("status"))
                return
            summary = ast.literal_eval(result["data"]["text/plain"])
            if not isinstance(summary, str):
                raise TypeError(f"the summary is a {type(summary).__name__}")
            self.summary, self.summarized = summary, executed
        except ASK_FAILED as exc:
            log.debug("kernel summary not made: %r", exc)

    async def reply(self, msg_id: str) -> dict[str, Any]:
        """The shell reply to `msg_id` (replies to earlier requests given up on are skipped)."""
        while True:
            message = await self.client.get_shell_msg()
            if message.get("parent_header", {}).get("msg_id") == msg_id:
                return message

    async def listen(self) -> None:
        """Follow the kernel's IOPub: a cell the user runs makes the summary stale, and the kernel idle again
        after it asks for a new one; a (re)started kernel has an empty namespace."""
        while True:
            try:
                message = await self.client.get_iopub_msg()
            except (zmq.ZMQError, RuntimeError) as exc:
                log.debug("kernel IOPub closed: %r", exc)
                return
            kind, parent = message["header"]["msg_type"], message.get("parent_header") or {}
            state = message.get("content", {}).get("execution_state")
            if kind == "execute_input":
                self.executed += 1
            elif kind == "status" and state == "starting":
                self.summary, self.executed = None, self.executed + 1
            elif state == "idle" and self.stale and self.asking is None and parent.get("msg_id") != self.asked_id:
                self.ask()

    def close(self) -> None:
        self.listening.cancel()
        if self.asking is not None:
            self.asking.cancel()
        self.client.stop_channels()


class KernelSummaries:
    """The summary of each notebook's kernel, by the notebook's path, for the completions asked there."""

    def __init__(self, sessions: Any, kernels: Any) -> None:
        self.sessions = sessions  # the server's SessionManager: notebook path -> kernel
        self.kernels = kernels  # the server's MappingKernelManager
        self.watchers: dict[str, KernelWatcher] = {}  # by kernel id
        self.kernel_ids: dict[str, str] = {}  # notebook path -> the kernel its last request found

    async def notes(self, path: str) -> str:
        """What the kernel of the notebook at `path` (server-relative) holds; "" without a running one."""
        self.forget_stopped()
        kernel_id = await self.kernel_of(path)
        if kernel_id is None:
            return ""
        watcher = self.watchers.get(kernel_id)
        if watcher is None:
            try:
                kernel = self.kernels.get_kernel(kernel_id)
            except KeyError:  # shut down since the session was read
                return ""
            state: Callable[[], str] = lambda: str(getattr(kernel, "execution_state", "idle"))  # noqa: E731
            watcher = self.watchers[kernel_id] = KernelWatcher(kernel.client(), state)
        return await watcher.notes()

    def last(self, path: str) -> str | None:
        """The last summary of the kernel of `path`'s notebook, if one was made (what status shows)."""
        watcher = self.watchers.get(self.kernel_ids.get(path, ""))
        return None if watcher is None else watcher.summary

    async def kernel_of(self, path: str) -> str | None:
        """The running kernel of the notebook at `path`, from the server's sessions."""
        try:
            session = await self.sessions.get_session(path=path)
        except web.HTTPError:  # no session for that path
            return None
        kernel_id = (session.get("kernel") or {}).get("id")
        if kernel_id is None or kernel_id not in self.kernels:
            return None
        self.kernel_ids[path] = kernel_id
        return str(kernel_id)

    def forget_stopped(self) -> None:
        """Stop watching kernels that were shut down."""
        for kernel_id in [k for k in self.watchers if k not in self.kernels]:
            self.watchers.pop(kernel_id).close()

    def close(self) -> None:
        for watcher in self.watchers.values():
            watcher.close()
        self.watchers.clear()
