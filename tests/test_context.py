"""Code context from real parsed files: the folded view of this file, other files, notebooks."""

from __future__ import annotations

from pathlib import Path

from completion.context.gatherer import ContextGatherer
from completion.context.notebook import Cell, notebook_request
from completion.context.syntax import SyntaxCache
from completion.context.workspace import Workspace
from completion.fim.prompt import FimPrompt, Layout, build_fim_prompt
from completion.types import FimRequest
from prompts import fim_format

QWEN = fim_format("qwen2.5-coder")


def words(text: str) -> int:
    return len(text.split()) + text.count("\n")


def long_module() -> tuple[str, str]:
    """A module whose helper, imports and class header are far above the cursor."""
    head = (
        "import json\nfrom pathlib import Path\n\n\n"
        "def load_prices(path: Path) -> dict[str, float]:\n"
        '    """Prices by item name, from a JSON file."""\n'
        "    with path.open() as stream:\n        return json.load(stream)\n\n\n"
        "def discount(price: float) -> float:\n    return price * 0.9\n\n\n"
        "class Shop:\n"
        '    """A shop with a price list."""\n\n'
        "    def __init__(self, path: Path) -> None:\n        self.path = path\n\n"
        "    def filler(self) -> None:\n"
    )
    filler = "".join(f"        step_{n} = {n}\n" for n in range(300))
    prefix = (
        head + filler + "\n    def total(self, names: list[str]) -> float:\n        prices = load_prices(self.path)\n"
    )
    prefix += "        return "
    return prefix, "\n"


def test_folded_view_shows_what_the_window_cuts_off() -> None:
    prefix, suffix = long_module()
    request = FimRequest(prefix, suffix, path="shop.py", language="python")
    context = ContextGatherer().gather(request, "python")
    prompt = build_fim_prompt(request, QWEN, words, 600, 90, context)
    assert prompt.prefix_start_line > 20  # the window alone would not show the top of the file
    text = prompt.text
    assert "import json\nfrom pathlib import Path" in text
    assert "def load_prices(path: Path) -> dict[str, float]:" in text
    assert '"""Prices by item name, from a JSON file."""' in text
    assert "return json.load(stream)" not in text  # a signature, not the body
    assert "class Shop:" in text
    assert text.index("class Shop:") < text.index("step_") < text.index("def total")
    assert "# ..." in text


def test_context_is_stable_while_a_line_is_typed() -> None:
    prefix, suffix = long_module()
    gatherer = ContextGatherer()
    contexts = {
        gatherer.gather(FimRequest(prefix + typed, suffix, path="shop.py", document="d"), "python")
        for typed in ["", "s", "sum", "sum(prices[", "sum(prices[n] for n in names)"]
    }
    assert len(contexts) == 1


def test_folded_view_is_kept_while_typing_so_the_prompt_start_stays_cached() -> None:
    prefix, suffix = long_module()
    gatherer = ContextGatherer()

    def prompt_for(text: str, previous: Layout | None) -> FimPrompt:
        request = FimRequest(text, suffix, path="shop.py", language="python", document="d")
        return build_fim_prompt(request, QWEN, words, 600, 90, gatherer.gather(request, "python"), previous)

    first = prompt_for(prefix, None)
    assert "def discount" not in first.text
    more = prefix + "0\n        rate = discount(\n        if rate >"  # a finished line names a far helper
    fresh, kept = prompt_for(more, None), prompt_for(more, first.layout)
    assert "def discount(price: float) -> float:" in fresh.text  # a new prompt would show it...
    assert kept.layout.head == first.layout.head  # ...a prompt while typing keeps its start as it was
    assert kept.text.startswith(first.text.split("        return ")[0])


def test_python_imports_bring_their_definitions(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "text.py").write_text(
        "import re\n\n\ndef slugify(value: str, sep: str = '-') -> str:\n"
        '    """Lower-case words joined by sep."""\n'
        "    words = re.findall(r'\\w+', value.lower())\n    return sep.join(words)\n\n\n"
        "def unused() -> None:\n    pass\n"
    )
    main = "from shop.text import slugify\nfrom .text import slugify as s2\n\n\ndef url(title):\n    return slugify("
    request = FimRequest(main, ")\n", path="shop/views.py", language="python")
    context = ContextGatherer(Workspace(tmp_path)).gather(request, "python")
    assert [f.path for f in context.files] == ["shop/text.py"]
    assert "def slugify(value: str, sep: str = '-') -> str:" in context.files[0].text
    assert "unused" not in context.files[0].text
    prompt = build_fim_prompt(request, QWEN, words, 1024, 90, context)
    assert prompt.text.startswith("<|fim_prefix|># shop/text.py:\n# def slugify(value: str, sep: str = '-') -> str:")
    assert "# ...\nfrom shop.text import slugify" not in prompt.text  # the file itself starts right after
    assert "\nfrom shop.text import slugify\nfrom .text import slugify as s2\n" in prompt.text


def test_other_files_show_how_to_call_what_is_imported(tmp_path: Path) -> None:
    (tmp_path / "auth.py").write_text(
        "class BasicAuth:\n"
        '    """Credentials sent as a (username, password) pair.\n\n    Details nobody needs.\n    """\n'
        "    def __init__(\n        self,\n        username: str,  # login\n        password: str,\n"
        '        sep: str = " # ",  # a hash in a string stays, the comment goes\n    ) -> None:\n'
        "        self._pair = (username, password)\n\n"
        "    def _encode(self) -> str:\n        return ':'.join(self._pair)\n\n"
        "    def headers(self) -> dict[str, str]:\n        return {'Authorization': self._encode()}\n\n\n"
        "def unrelated():\n    pass\n"
    )
    main = "from auth import BasicAuth\n\n\ndef login(pair):\n"  # BasicAuth is not used near the cursor
    context = ContextGatherer(Workspace(tmp_path)).gather(FimRequest(main, "\n", path="app.py"), "python")
    assert [(f.path, f.text) for f in context.files] == [
        (
            "auth.py",
            "class BasicAuth:\n"
            '    """Credentials sent as a (username, password) pair."""\n'
            '    def __init__(self, username: str, password: str, sep: str = " # ") -> None:\n'
            "    def headers(self) -> dict[str, str]:",
        )
    ]


def test_typescript_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "geometry.ts").write_text(
        "export interface Circle { radius: number }\n\n"
        "export function area(shape: Circle): number {\n  const r = shape.radius;\n  return Math.PI * r * r;\n}\n"
    )
    main = "import { area, Circle } from './geometry';\n\nconst c: Circle = { radius: 2 };\nconsole.log(area("
    request = FimRequest(main, "));\n", path="src/main.ts", language="typescript")
    context = ContextGatherer(Workspace(tmp_path)).gather(request, "typescript")
    assert [f.path for f in context.files] == ["src/geometry.ts"]
    assert "export function area(shape: Circle): number" in context.files[0].text
    assert "Math.PI" not in context.files[0].text  # how to call it, not its body
    assert "export interface Circle { radius: number }" in context.files[0].text


def test_recent_edits_elsewhere_come_after_imports(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.note_edit("notes.py", "TAX_RATE = 0.2\n", 0)
    workspace.note_edit("shop.py", "x = 1\n", 0)  # the file being edited is not context for itself
    request = FimRequest("price = 10\ntotal = price * ", "\n", path="shop.py")
    context = ContextGatherer(workspace).gather(request, "python")
    assert [(f.path, f.text) for f in context.files] == [("notes.py", "TAX_RATE = 0.2\n")]


def test_unknown_language_is_plain_text() -> None:
    request = FimRequest("IDENTIFICATION DIVISION.\n", "", path="a.cbl", language="cobol")
    context = ContextGatherer().gather(request, "cobol")
    assert context.snippets == () and context.files == ()
    prompt = build_fim_prompt(request, QWEN, words, 100, 15, context)
    assert "IDENTIFICATION DIVISION." in prompt.text


def test_notebook_cells_around_the_current_one() -> None:
    cells = [
        Cell("markdown", "# Sales\nLoad the data."),
        Cell("code", "import pandas as pd\ndf = pd.read_csv('sales.csv')"),
        Cell("code", "PLACEHOLDER"),
        Cell("code", "print(summary)"),
    ]
    request = notebook_request(cells, 2, FimRequest("summary = df.", "", language="python"))
    assert request.prefix == (
        "# %% [markdown]\n# # Sales\n# Load the data.\n\n"
        "# %%\nimport pandas as pd\ndf = pd.read_csv('sales.csv')\n\n# %%\nsummary = df."
    )
    assert request.suffix == "\n\n# %%\nprint(summary)"


def test_incremental_parse_matches_a_fresh_parse() -> None:
    prefix, suffix = long_module()
    cache = SyntaxCache()
    cache.parse("d", "python", (prefix + suffix).encode())
    edited = (prefix + "sum(prices)" + suffix).encode()
    incremental = cache.parse("d", "python", edited)
    fresh = SyntaxCache().parse("x", "python", edited)
    assert incremental is not None and fresh is not None
    assert str(incremental.root_node) == str(fresh.root_node)
