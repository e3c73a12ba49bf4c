"""The kernel summary on real values (pandas, numpy, builtins, notebook code) and on hostile objects whose
methods would write a file or raise if anything called them."""

from __future__ import annotations

import tracemalloc
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jupyter_ext.kernel_summary import TITLE, describe, summarize
from tests.conftest import HostileNotebook

frame = pd.DataFrame({"region": ["north", "south", "east"], "unit_price": [1.5, 2.25, 0.75], "qty": [3, 4, 5]})


def load(path: str, sep: str = ",", *more: Any, strict: bool = True, **options: Any) -> pd.DataFrame:
    return pd.read_csv(path, sep=sep)


class Point:
    def __init__(self, x: float, y: float = 0.0, *, label: str = "p") -> None:
        self.x, self.y = x, y

    def norm(self) -> float:
        return (self.x**2 + self.y**2) ** 0.5

    def _private(self) -> None: ...


Point.__module__ = "__main__"  # as a notebook defines it
load.__module__ = "__main__"

CASES = [
    (frame, "v: DataFrame 3 rows: region str, unit_price float64, qty int64"),
    (frame["unit_price"], "v: Series 3 rows, float64, name unit_price"),
    (np.zeros((4, 3), dtype=np.float32), "v: ndarray shape (4, 3) float32"),
    (pd.DataFrame({"a b": [1], 2: [1.0]}), "v: DataFrame 1 rows: 'a b' int64, 2 float64"),
    (
        {"db": {"host": "h", "port": 5432}, "debug": True},
        "v: dict 2 keys {'db': dict {'host': str 'h', 'port': int 5432}, 'debug': bool True}",
    ),
    ({"deep": {"deeper": {"deepest": 1}}}, "v: dict 1 keys {'deep': dict {'deeper': dict 1}}"),
    ([{"id": 1, "name": "x"}] * 2, "v: list 2 items, first dict {'id': int 1, 'name': str 'x'}"),
    (["alice", "bob"], "v: list 2 items, first str 'alice'"),
    ((1.5,), "v: tuple 1 items, first float 1.5"),
    ([], "v: list empty"),
    ({1, 2}, "v: set 2 items"),
    (3, "v: int 3"),
    ("x" * 100, "v: str 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (100 chars)"),
    (b"abc", "v: bytes 3 bytes"),
    (None, "v: None"),
    (load, "def v(path: str, sep: str = ',', *more: Any, strict: bool = True, **options: Any) -> pd.DataFrame"),
    (Point, "class v = Point(x: float, y: float = 0.0, *, label: str = 'p'): norm() -> float"),
    (Point(1.0), "v: Point (attributes x, y)"),
    (pd.Timestamp("2024-01-01"), "v: Timestamp (pandas)"),
]


@pytest.mark.parametrize(("value", "line"), CASES)
def test_each_kind_of_value(value: Any, line: str) -> None:
    described = describe("v", value)
    assert described is not None and described[1] == line


def test_what_is_not_a_variable_is_left_out() -> None:
    imported = {"pd": pd, "np": np, "read_csv": pd.read_csv, "DataFrame": pd.DataFrame, "print": print}
    namespace = imported | {"_hidden": 1, "In": [""], "Out": {}, "get_ipython": print, "x": 1, "exit": 2}
    hidden = {"exit": 2}
    assert summarize(namespace, hidden) == f"{TITLE}\nx: int 1"
    assert summarize({"pd": pd}) == ""


def test_largest_variables_first_within_the_budget_in_namespace_order() -> None:
    namespace = {f"small{n}": n for n in range(100)} | {"big": np.zeros(1000), "df": frame}
    summary = summarize(namespace, budget=200)
    lines = summary.split("\n")
    assert len(summary) <= 200 + len("(100 more not shown)") + 1
    assert lines[0] == TITLE and lines[-3].startswith("big: ndarray") and lines[-2].startswith("df: DataFrame")
    assert lines[-4] == "small99: int 99" and "small0:" not in summary  # then the newest of equal size
    assert lines[-1] == f"({102 - len(lines) + 2} more not shown)"


def test_wide_frames_and_big_dicts_are_cut() -> None:
    wide = pd.DataFrame({f"c{n}": [n] for n in range(100)})
    assert describe("w", wide)[1].endswith("c23 int64, ... 76 more columns")
    keys = describe("d", {f"k{n}": n for n in range(100)})[1]
    assert keys.endswith("'k7': int 7, ... 92 more}")
    assert len(describe("s", list(range(10**6)))[1]) < 100


class Touching:
    """Writes to `touched` and raises in every method that summary code could call by accident (and it
    is a notebook's class, whose instances' attributes are named when they can be read safely)."""

    touched: Path

    def _touch(self, what: str) -> Any:
        with self.touched.open("a") as out:
            out.write(what + " ")
        raise RuntimeError(f"{what} ran")

    def __repr__(self) -> str:
        return self._touch("repr")

    def __str__(self) -> str:
        return self._touch("str")

    def __getattr__(self, name: str) -> Any:
        return self._touch("getattr " + name)

    def __len__(self) -> int:
        return self._touch("len")

    def __eq__(self, other: object) -> bool:
        return self._touch("eq")

    def __hash__(self) -> int:
        return self._touch("hash")

    @property
    def columns(self) -> Any:
        return self._touch("columns")

    @property
    def __class__(self) -> Any:  # isinstance() reads this
        return self._touch("__class__")

    @property
    def __dict__(self) -> Any:  # an instance's attributes would be read through this
        return self._touch("__dict__")


Touching.__module__ = "__main__"


class Meta(type):
    def __eq__(cls, other: object) -> bool:
        with Touching.touched.open("a") as out:
            out.write("metaclass eq ")
        raise RuntimeError("metaclass eq ran")

    __hash__ = type.__hash__

    @property
    def __name__(cls) -> str:  # type: ignore[override]
        with Touching.touched.open("a") as out:
            out.write("metaclass name ")
        raise RuntimeError("metaclass name ran")


class FromMeta(metaclass=Meta):
    def __repr__(self) -> str:
        raise RuntimeError("repr ran")


class FakeFrame(pd.DataFrame):  # a notebook's subclass could override what is read
    @property
    def columns(self) -> Any:  # type: ignore[override]
        with Touching.touched.open("a") as out:
            out.write("subclass columns ")
        raise RuntimeError("columns ran")


FakeFrame.__module__ = FromMeta.__module__ = "__main__"


def keyed(**values: Any) -> dict[Any, Any]:
    return values


def test_hostile_objects_are_described_without_calling_their_code(tmp_path: Path) -> None:
    Touching.touched = tmp_path / "touched.txt"
    hostile = Touching()
    namespace = {
        "hostile": hostile,
        "listed": [hostile],
        "mapped": {"h": hostile, (1, 2): hostile},
        "meta": FromMeta(),
        "fake": FakeFrame.__new__(FakeFrame),
        "unmade": pd.DataFrame.__new__(pd.DataFrame),  # pandas itself cannot read it
        "default": types.FunctionType(load.__code__, {"__name__": "__main__"}, "default", (hostile,)),
    }
    summary = summarize(namespace)
    assert not Touching.touched.exists(), Touching.touched.read_text()
    assert "hostile: Touching\n" in summary and "listed: list 1 items, first Touching" in summary, summary
    assert "mapped: dict 2 keys {'h': Touching, (1, 2): Touching}" in summary
    assert "meta: FromMeta\n" in summary and "fake: FakeFrame" in summary and "unmade: DataFrame (pandas)" in summary
    assert "def default(path, sep=..., *more, strict, **options)" in summary  # the default not shown


HOSTILE_LINES = [  # each value holds a hook of the notebook's that reading it the easy way would call
    ("extension_frame", "extension_frame: DataFrame 2 rows: a RecordingArray, b float64"),  # its array's dtype
    ("extension_columns", "extension_columns: DataFrame (pandas)"),  # an index over it: its __len__, __getitem__
    ("extension_series", "extension_series: Series 3 rows, RecordingArray, name None"),
    ("zoned", "zoned: Series 2 rows, datetime64[us, Zone], name None"),  # str(tz) in the dtype's name
    ("titled", "titled: ndarray shape (3,) {a int32, b float64}"),  # str(dtype) reprs a field's title
    ("strings", "strings: ndarray shape (2,) StringDType (numpy)"),  # str(dtype) reprs its na_object
    ("Keyed", "class Keyed: area(*, label)"),  # keys hashing like "__module__", "__init__": their __eq__
    ("keyed", "keyed: Keyed"),  # and like "__dict__"
    ("labelled", "def labelled(*, label)"),  # a __kwdefaults__ key hashing like "label"
    ("pretender", "pretender: DataFrame (pandas)"),  # a class claiming pandas' module and name
    ("big", "big: int (about 6021 digits)"),  # repr raises past 4300 digits
    ("nested_keys", "nested_keys: dict 2 keys {(((((...),),),),): int 1, 'plain': int 2}"),  # 5000 deep
]


@pytest.mark.parametrize(("name", "line"), HOSTILE_LINES)
def test_no_code_of_the_notebooks_runs(hostile_notebook: HostileNotebook, name: str, line: str) -> None:
    described = describe(name, hostile_notebook.namespace[name])
    assert not hostile_notebook.touched.exists(), hostile_notebook.touched.read_text()
    assert described is not None and described[1] == line


def test_every_variable_keeps_its_line_among_hostile_ones(hostile_notebook: HostileNotebook) -> None:
    summary = summarize(hostile_notebook.namespace, budget=10_000)
    assert not hostile_notebook.touched.exists(), hostile_notebook.touched.read_text()
    for _name, line in HOSTILE_LINES:
        assert line in summary.split("\n"), summary
    assert "zone_indexed: Series 2 rows, int64, name None" in summary and summary.endswith("\ntotal: int 41")


def test_a_huge_string_is_cut_before_it_is_formatted(hostile_notebook: HostileNotebook) -> None:
    huge = hostile_notebook.namespace["huge"]
    tracemalloc.start()
    try:
        described = describe("huge", huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert described == (1, f"huge: str '{'x' * 39}... (20000000 chars)")
    assert peak < 100_000  # its repr would take 20 MB


def test_each_variable_gets_its_line_whatever_another_one_does() -> None:
    namespace = {"before": 1, "unmade": pd.Series.__new__(pd.Series), "big": -(2**20000), "after": 2}
    lines = ["before: int 1", "unmade: Series (pandas)", "big: int (about 6021 digits)", "after: int 2"]
    assert summarize(namespace) == "\n".join([TITLE, *lines])
