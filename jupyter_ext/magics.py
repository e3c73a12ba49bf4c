"""`%%ask` and `%ask`: questions about the notebook, answered as Markdown that streams into the output.

The kernel asks through the Jupyter server that started it; without one (terminal IPython, VS Code
notebooks, or `--local`) it asks the tabwise service itself and says so once. Either way the engine is
the service's, shared with every notebook and editor: no kernel loads a model. User code is never executed on the way:
`{name}` is filled with the variable's value when it is a builtin one (a str as it is, numbers, lists,
dicts as Python writes them, cut before they are formatted) and with its summary line otherwise (a
DataFrame's rows and columns, an object's type: never its `str()`, which is the notebook's code), and the
context is the source of recent cells and a summary of the kernel's variables
(jupyter_ext/kernel_summary.py: types, columns, shapes, keys, read without calling any of the user's
code), the same one ghost text gets.
"""

from __future__ import annotations

import re
import sys
import time
import traceback
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import Markdown, display

from completion.errors import TabwiseError
from jupyter_ext.client import Client, ServiceKernelClient, find_server
from jupyter_ext.kernel_summary import summarize, value_text

RECENT_CELLS = 3  # cells of code shown as context
VALUE_CHARS = 2000  # longest text a `{name}` becomes
ERROR_CHARS = 3000  # longest traceback shown as context
UPDATE_EVERY_S = 0.1  # how often the output is redrawn while the answer streams
FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@magics_class
class AskMagics(Magics):
    """Holds the connection: found once per kernel; the service directly only when asked or when no server answers."""

    shell: Any  # IPython's InteractiveShell; always set once the extension is loaded

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._server: Client | None = None
        self._direct: ServiceKernelClient | None = None
        self._said_direct = False

    def client(self, local: bool) -> Client:
        if not local:
            self._server = self._server or find_server()
            if self._server is not None:
                return self._server
        if self._direct is None:
            self._direct = ServiceKernelClient()
        if not self._said_direct:
            reason = "as asked (--local)" if local else "no Jupyter server with tabwise started this kernel"
            print(f"tabwise: asking the tabwise service directly, {reason}; it shares one model with every front end.")
            self._said_direct = True
        return self._direct

    @magic_arguments()
    @argument("-f", "--format", choices=["markdown", "code"], default="markdown", help="code: offer it as a new cell")
    @argument("--local", action="store_true", help="ask the tabwise service directly, not through the Jupyter server")
    @argument("words", nargs="*", help="%%ask: options only; %ask: explain | fix | status | a question")
    @line_cell_magic
    def ask(self, line: str, cell: str | None = None) -> None:
        """%%ask: ask about the cell's text. %ask explain (the previous cell), %ask fix (the last error),
        %ask status."""
        args = parse_argstring(self.ask, line)
        client = self.client(args.local)
        if cell is not None:
            question = fill_placeholders(cell, self.shell.user_ns)
            answer = show_stream(client, "ask", {"question": question, "context": self.context()})
            if args.format == "code" and answer:
                self.shell.set_next_input(first_code_block(answer), replace=False)
            return
        command, rest = (args.words[0], " ".join(args.words[1:])) if args.words else ("", "")
        if command == "status":
            show_status(client, self.variables())
        elif command == "explain":
            code = self.previous_cell()
            if not code:
                print("tabwise: there is no previous cell to explain.")
                return
            show_stream(client, "explain", {"code": code, "language": "python"})
        elif command == "fix":
            error = last_error()
            if not error:
                print("tabwise: there is no error to fix: run the failing cell first.")
                return
            question = f"Fix this error. {rest}".strip()
            context = f"The cell that failed:\n```python\n{self.previous_cell()}\n```\n\nThe error:\n```\n{error}\n```"
            if variables := self.variables():
                context = f"```text\n{variables}\n```\n\n{context}"
            show_stream(client, "ask", {"question": question, "context": context})
        elif command:
            question = fill_placeholders(" ".join(args.words), self.shell.user_ns)
            show_stream(client, "ask", {"question": question, "context": self.context()})
        else:
            print("usage: %%ask [-f code] [--local] (question in the cell) | %ask explain | %ask fix | %ask status")

    def inputs(self) -> list[str]:
        """Source of the cells run before this one, oldest first (IPython's `In`, without this cell: read from
        its history manager, as the notebook may rebind the name `In`)."""
        history = self.shell.history_manager.input_hist_parsed[1:-1]
        return [source for source in history if type(source) is str and source.strip()]

    def previous_cell(self) -> str:
        inputs = self.inputs()
        return inputs[-1] if inputs else ""

    def variables(self) -> str:
        """The summary of this kernel's variables, as the server's summary for ghost text is made."""
        return summarize(self.shell.user_ns, self.shell.user_ns_hidden)

    def context(self) -> str:
        """The kernel's variables, recent cells' code and the last error, shown to the model before the question."""
        parts = []
        if variables := self.variables():
            parts.append(f"```text\n{variables}\n```")
        if recent := self.inputs()[-RECENT_CELLS:]:
            parts.append("Recent notebook cells:\n```python\n" + "\n\n".join(recent) + "\n```")
        if error := last_error():
            parts.append(f"The last error:\n```\n{error}\n```")
        return "\n\n".join(parts)


def fill_placeholders(text: str, namespace: dict[str, Any]) -> str:
    """`{name}` becomes the text of the user's variable `name` (others stay as written), made by the kernel
    summary's reader, which calls none of the notebook's code (`str(value)` would call its `__str__`)."""
    variables = {key: value for key, value in namespace.items() if type(key) is str}  # str keys: no user `__eq__`

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            return match.group(0)
        return value_text(name, variables[name], VALUE_CHARS)

    return PLACEHOLDER.sub(value, text)


def last_error() -> str:
    """The traceback of the last exception in this kernel (IPython keeps it in `sys.last_*`)."""
    error = getattr(sys, "last_value", None)
    if error is None:
        return ""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text[-ERROR_CHARS:]


def first_code_block(answer: str) -> str:
    """The first fenced code block of an answer, or the whole answer when it has none."""
    found = FENCE.search(answer)
    return (found.group(1) if found else answer).strip("\n")


def show_stream(client: Client, route: str, body: dict[str, Any]) -> str:
    """Stream an answer into one output that updates in place; returns the answer ("" when it failed).

    An interrupt stops reading, which closes the connection, and the server stops generating."""
    handle = display(Markdown("*tabwise is thinking…*"), display_id=True)
    answer, last_draw = "", 0.0
    try:
        for message in client.stream(route, body):
            if message["type"] == "token" and message["kind"] == "answer":
                answer += message["text"]
                if time.monotonic() - last_draw > UPDATE_EVERY_S:
                    handle.update(Markdown(answer))
                    last_draw = time.monotonic()
            elif message["type"] == "done":
                answer = message["answer"]
            elif message["type"] == "error":
                handle.update(Markdown(f"**tabwise:** {message['message']}"))
                return ""
    except KeyboardInterrupt:
        handle.update(Markdown(answer + "\n\n*(stopped)*"))
        raise
    except TabwiseError as exc:
        handle.update(Markdown(f"**tabwise:** {exc}"))
        return ""
    handle.update(Markdown(answer))
    return answer


def show_status(client: Client, variables: str) -> None:
    """Where answers come from, the model's state, and what the model is told about the kernel's variables."""
    try:
        status = client.status()
        told = client.kernel_summary()
    except TabwiseError as exc:
        display(Markdown(f"**tabwise:** {exc}"))
        return
    service = status.pop("service", None) or {}
    rows = "\n".join(f"| {key} | {value} |" for key, value in {**status, **prefixed(service)}.items())
    where = f"{client.where} (service pid {service['pid']})" if "pid" in service else client.where
    display(Markdown(f"tabwise answers from {where}.\n\n| | |\n|---|---|\n{rows}\n\n{told_text(told, variables)}"))


def told_text(ghost: str | None, variables: str) -> str:
    """What ghost text was last told about this kernel (the server's summary, made after each cell) and
    what `%%ask` is told now, as Markdown."""
    if ghost is not None:
        text = "Ghost text in this notebook was last told (made after the last cell ran):"
        text += f"\n\n```text\n{ghost or '(no variables)'}\n```"
        if ghost != variables:
            text += f"\n\n`%%ask` is told now:\n\n```text\n{variables or '(no variables)'}\n```"
        return text
    return f"`%%ask` is told about this kernel's variables:\n\n```text\n{variables or '(no variables)'}\n```"


def prefixed(service: dict[str, Any]) -> dict[str, Any]:
    """The service's part of a status as rows of their own: `service.pid`, `service.clients`, ..."""
    return {f"service.{key}": value for key, value in service.items()}
