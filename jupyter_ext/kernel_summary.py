"""What a notebook's kernel holds, as short lines for the model: `df: DataFrame 1204 rows: region str, ...`.

This module runs inside the kernel, sent there as source (the Jupyter server extension) or imported
(`%%ask`), so it uses the standard library only and works on any Python 3 kernel. It is safe by
construction: it never calls user code. No `repr`, `str`, `len`, `isinstance` or attribute access on
an object of a user's class (each can run the class's methods); classes are read through `type`'s own
descriptors (a metaclass cannot intercept them); builtins are described only when their type is exact;
pandas, numpy and polars objects are recognised by their classes' module and name (never imported) and
read through those libraries' own attributes (`df.columns`, `df.dtypes`, `arr.shape`); functions and
classes defined in the notebook are described from their code objects, not `inspect.signature` (which
would `repr` default values). Everything is bounded: the newest MAX_NAMES variables, the first few
columns and keys, and a character budget filled with the largest variables first. Numbers are written
as code writes them (1204, not 1,204): the model copies them into code (the benchmark lost row counts
to `1,204` -> `12`).
"""

from __future__ import annotations

import itertools
import types
from typing import Any

BUDGET_CHARS = 1200  # the whole summary (about 400 tokens); larger variables get in first
LINE_CHARS = 300  # one variable's line at most
MAX_NAMES = 500  # the newest variables looked at, however many the namespace holds
COLUMNS = 24  # columns (and dtypes) named per frame
KEYS = 8  # keys named per dict, and per dict nested in it
ATTRIBUTES = 8  # instance attributes named per object, and methods per class
VALUE_CHARS = 40  # a string or number shown with its value up to this length
TITLE = "Variables in the running kernel:"
HIDDEN = frozenset({"In", "Out", "exit", "quit", "get_ipython"})  # IPython's own, whatever user_ns_hidden says

# type's own descriptors: reading a class through them runs no metaclass code.
_NAME = type.__dict__["__name__"].__get__
_QUALNAME = type.__dict__["__qualname__"].__get__
_MODULE = type.__dict__["__module__"].__get__
_MRO = type.__dict__["__mro__"].__get__
_CLASS_DICT = type.__dict__["__dict__"].__get__
SCALARS = (bool, int, float, complex, str, bytes, type(None))  # exact types whose repr is the builtin's
CONTAINERS = (dict, list, tuple, set, frozenset)
CALLABLES = (types.BuiltinFunctionType, types.MethodType, types.MethodWrapperType, types.WrapperDescriptorType)
DATA_LIBRARIES = ("pandas", "numpy", "polars")
MAIN = "__main__"  # the module of code a notebook defines
LIBRARY_ERRORS = (AttributeError, TypeError, ValueError, LookupError, RecursionError)  # a library attribute may raise


def summarize(namespace: dict[str, Any], hidden: dict[str, Any] | None = None, budget: int = BUDGET_CHARS) -> str:
    """The summary of `namespace` (a kernel's user_ns; names in `hidden` with the same value are IPython's):
    a title and one line per variable, chosen largest first within `budget` characters, in namespace order;
    "" when nothing is worth saying."""
    hidden = hidden or {}
    described = []
    for order, (name, value) in enumerate(list(namespace.items())[-MAX_NAMES:]):
        if type(name) is not str or name.startswith("_") or name in HIDDEN or hidden.get(name, _Absent) is value:
            continue
        entry = describe(name, value)
        if entry is not None:
            described.append((entry[0], order, entry[1]))
    chosen, used = [], len(TITLE)
    for _size, order, line in sorted(described, key=lambda e: (-e[0], -e[1])):
        if used + len(line) + 1 <= budget:
            chosen.append((order, line))
            used += len(line) + 1
    if not chosen:
        return ""
    left_out = len(described) - len(chosen)
    lines = [TITLE] + [line for _, line in sorted(chosen)]
    if left_out:
        lines.append(f"({left_out} more not shown)")
    return "\n".join(lines)


class _Absent:
    """Marks a name IPython does not hide."""


def kernel_summary(budget: int = BUDGET_CHARS) -> str:
    """The summary of the running IPython kernel's namespace (what the server extension asks for)."""
    import sys

    shell = sys.modules["IPython"].get_ipython()  # the real IPython's, not a name the user may have rebound
    return summarize(shell.user_ns, shell.user_ns_hidden, budget) if shell is not None else ""


def describe(name: str, value: Any) -> tuple[int, str] | None:
    """(size, line) for one variable: size orders variables (elements held), the line says what it is;
    None for what is not worth a line (modules, what was imported rather than defined here)."""
    cls = type(value)
    mro = _MRO(cls)
    if _one_of(types.ModuleType, mro):
        return None
    if cls is types.FunctionType:
        return (0, _cut(f"def {name}{_signature(value)}")) if _module_of(value) == MAIN else None
    if _one_of(type, mro):
        return (0, _cut(_class_line(name, value))) if _type_module(value) == MAIN else None
    if _one_of(cls, CALLABLES):
        return None  # imported functions, bound methods: the source says where they come from
    library = _data_library_class(mro)
    if library is not None:
        try:
            size, facts = DESCRIBERS[library](value)
        except LIBRARY_ERRORS:  # an object the library itself cannot read (half-made, closed): its type only
            size, facts = 1, _type_label(cls)
        return size, _cut(f"{name}: {facts}")
    size, facts = _builtin_facts(value, nested=True)
    return size, _cut(f"{name}: {facts}")


def _cut(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 4] + " ..."


def _one_of(cls: type, classes: tuple[type, ...]) -> bool:
    """`cls in classes` by identity: `==` on classes could run a metaclass's `__eq__`."""
    return any(cls is known for known in classes)


def _short(value: Any) -> str:
    """The builtin repr of an exact scalar, cut to VALUE_CHARS."""
    shown = repr(value)
    return shown if len(shown) <= VALUE_CHARS else shown[:VALUE_CHARS] + "..."


# -- builtins: exact types only ---------------------------------------------------------------------


def _builtin_facts(value: Any, nested: bool) -> tuple[int, str]:
    """(size, text) for a builtin container or scalar; another object is `Type` (plus its attributes'
    names, read through the class's own `__dict__` descriptor, when it is one of the notebook's)."""
    cls = type(value)
    if _one_of(cls, SCALARS):
        return 1, _scalar(value)
    if cls is dict:
        return len(value), f"dict {len(value)} keys {_keys(value, nested)}"
    if cls is list or cls is tuple:
        kind = _NAME(cls)
        if not value:
            return 0, f"{kind} empty"
        first = value[0]
        if nested and type(first) is dict:
            return len(value), f"{kind} {len(value)} items, first dict {_keys(first, nested=False)}"
        shown = _scalar(first) if _one_of(type(first), SCALARS) else _type_label(type(first))
        return len(value), f"{kind} {len(value)} items, first {shown}"
    if cls is set or cls is frozenset:
        return len(value), f"{_NAME(cls)} {len(value)} items"
    return 1, _object_line(value)


def _scalar(value: Any) -> str:
    """`str 'text'`, `int 3`, `bytes 1,024 bytes`: the builtin's own repr, short."""
    kind = _NAME(type(value))
    if type(value) is bytes:
        return f"bytes {len(value)} bytes"
    if value is None:
        return "None"
    shown = repr(value)
    if len(shown) > VALUE_CHARS:
        return f"{kind} {shown[:VALUE_CHARS]}... ({len(value)} chars)" if type(value) is str else kind
    return f"{kind} {shown}"


def _keys(mapping: dict[Any, Any], nested: bool) -> str:
    """`{'host': str 'db', 'port': int 5432, 'opts': dict {...}}`: the first KEYS keys of a builtin dict."""
    parts = []
    for key, item in itertools.islice(mapping.items(), KEYS):
        label = _key_label(key)
        if type(item) is dict and nested:
            parts.append(f"{label}: dict {_keys(item, nested=False)}")
        elif _one_of(type(item), SCALARS):
            parts.append(f"{label}: {_scalar(item)}")
        elif _one_of(type(item), CONTAINERS):
            parts.append(f"{label}: {_NAME(type(item))} {len(item)}")
        else:
            parts.append(f"{label}: {_type_label(type(item))}")
    more = f", ... {len(mapping) - KEYS} more" if len(mapping) > KEYS else ""
    return "{" + ", ".join(parts) + more + "}"


def _key_label(key: Any) -> str:
    """A dict key as Python writes it, for builtin scalars and tuples of them; else its type."""
    if type(key) is tuple:
        return "(" + ", ".join(_key_label(item) for item in key[:KEYS]) + ("," if len(key) == 1 else "") + ")"
    return _short(key) if _one_of(type(key), SCALARS) else _type_label(type(key))


def _object_line(value: Any) -> str:
    """`Type`, with the attribute names of an instance of a class the notebook defined."""
    cls = type(value)
    label = _type_label(cls)
    if _type_module(cls) != MAIN:
        return label
    names = [n for n in _instance_dict_keys(value) if not n.startswith("_")]
    if not names:
        return label
    more = ", ..." if len(names) > ATTRIBUTES else ""
    return f"{label} (attributes {', '.join(names[:ATTRIBUTES])}{more})"


def _instance_dict_keys(value: Any) -> list[str]:
    """The names in an instance's `__dict__`, read through the plain descriptor Python gives a class
    (a class that declares its own `__dict__` gets nothing read)."""
    for klass in _MRO(type(value)):
        descriptor = _CLASS_DICT(klass).get("__dict__")
        if descriptor is not None:
            if type(descriptor) is not types.GetSetDescriptorType:
                return []
            found = descriptor.__get__(value)
            if type(found) is not dict:
                return []
            return [key for key in itertools.islice(found, ATTRIBUTES * 4) if type(key) is str]
    return []


def _type_label(cls: type) -> str:
    """A class's name; one from a library says which (`Timestamp (pandas)`)."""
    module = _type_module(cls)
    name = _QUALNAME(cls)
    if module in ("builtins", MAIN, ""):
        return name
    return f"{name} ({module.split('.')[0]})"


def _type_module(cls: type) -> str:
    module = _MODULE(cls)
    return module if type(module) is str else ""


# -- functions and classes defined in the notebook -----------------------------------------------------


def _module_of(function: types.FunctionType) -> str:
    module = function.__module__  # an exact function's member: no user code
    return module if type(module) is str else ""


def _signature(function: types.FunctionType, skip_first: bool = False, returns: bool = True) -> str:
    """`(path, sep=',', *rest, strict=..., **options) -> DataFrame` from the code object, defaults and
    annotations as they are stored: a builtin default shown by value, any other as `...`; an annotation
    shown when it is a class or a string (annotations Python evaluates lazily are not evaluated)."""
    code = function.__code__
    names = list(code.co_varnames)
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    defaults = function.__defaults__ or ()
    keyword_defaults = function.__kwdefaults__ or {}
    notes = _annotations(function)
    params = []
    first_default = positional - len(defaults)
    for index, param in enumerate(names[:positional]):
        default = defaults[index - first_default] if index >= first_default else _Absent
        params.append(_param(param, notes, default))
        if index + 1 == code.co_posonlyargcount:
            params.append("/")
    cursor = positional + keyword_only
    if code.co_flags & 0x04:  # CO_VARARGS
        params.append("*" + _param(names[cursor], notes, _Absent))
        cursor += 1
    elif keyword_only:
        params.append("*")
    for param in names[positional : positional + keyword_only]:
        params.append(_param(param, notes, keyword_defaults.get(param, _Absent)))
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        params.append("**" + _param(names[cursor], notes, _Absent))
    if skip_first and params and not params[0].startswith("*"):
        params = params[2:] if len(params) > 1 and params[1] == "/" else params[1:]
    result = f" -> {notes['return']}" if returns and "return" in notes else ""
    return f"({', '.join(params)}){result}"


def _param(name: str, notes: dict[str, str], default: Any) -> str:
    text = f"{name}: {notes[name]}" if name in notes else name
    if default is _Absent:
        return text
    shown = repr(default) if _one_of(type(default), SCALARS) and len(repr(default)) <= VALUE_CHARS else "..."
    return f"{text} = {shown}" if name in notes else f"{text}={shown}"


def _annotations(function: types.FunctionType) -> dict[str, str]:
    """The function's annotations that are classes or strings, as text. On Pythons that evaluate
    annotations lazily (3.14's `__annotate__`), reading them runs code: none are read there."""
    if "__annotate__" in _CLASS_DICT(types.FunctionType):
        return {}
    stored = function.__annotations__
    if type(stored) is not dict:
        return {}
    shown = {}
    for key, note in stored.items():
        if type(key) is not str:
            continue
        if type(note) is str:
            shown[key] = note
        elif _one_of(type, _MRO(type(note))):
            shown[key] = _QUALNAME(note)
    return shown


def _class_line(name: str, cls: type) -> str:
    """`class Point(x, y): norm(), scale(k)`: the constructor's parameters and the public methods the
    class itself defines, read from the classes' own dictionaries."""
    own = _CLASS_DICT(cls)
    init = None
    for klass in _MRO(cls):
        found = _CLASS_DICT(klass).get("__init__")
        if found is not None:
            init = found
            break
    signature = _signature(init, skip_first=True, returns=False) if type(init) is types.FunctionType else ""
    methods = [
        f"{method}{_signature(function, skip_first=True)}"
        for method, function in list(own.items())
        if type(method) is str and not method.startswith("_") and type(function) is types.FunctionType
    ]
    header = f"class {name}{signature}" if _QUALNAME(cls) == name else f"class {name} = {_QUALNAME(cls)}{signature}"
    shown = methods[:ATTRIBUTES]
    more = ", ..." if len(methods) > ATTRIBUTES else ""
    return f"{header}: {', '.join(shown)}{more}" if shown else header


# -- data libraries, by their classes' module and name -------------------------------------------------

KNOWN_CLASSES = {  # (top-level package, qualname) of a library's class -> which describer reads it
    ("pandas", "DataFrame"): "pandas.DataFrame",  # its __module__ is "pandas" or "pandas.core.frame"
    ("pandas", "Series"): "pandas.Series",
    ("numpy", "ndarray"): "numpy.ndarray",
    ("polars", "DataFrame"): "polars.DataFrame",
    ("polars", "Series"): "polars.Series",
}


def _data_library_class(mro: tuple[type, ...]) -> str | None:
    """Which known library class this is, when every class on the way to it is that library's own (a
    subclass the notebook defines could override the attributes read, so it is only `Type`)."""
    for klass in mro:
        package = _type_module(klass).split(".")[0]
        if package not in DATA_LIBRARIES:
            return None
        known = KNOWN_CLASSES.get((package, _QUALNAME(klass)))
        if known is not None:
            return known
    return None


def _label(value: Any) -> str:
    """A column label or a name: bare when an identifier, the builtin repr otherwise, else its type."""
    if type(value) is str and value.isidentifier():
        return value
    if _one_of(type(value), SCALARS):
        return _short(value)
    if type(value) is tuple:
        return "(" + ", ".join(_label(item) for item in value) + ")"
    return _type_label(type(value))


def _dtype(dtype: Any) -> str:
    """A dtype's name when the dtype is one of the libraries' own (an extension dtype could be anyone's)."""
    module = _type_module(type(dtype)).split(".")[0]
    return str(dtype) if module in DATA_LIBRARIES else _type_label(type(dtype))


def _columns(labels: list[Any], dtypes: list[Any], total: int) -> str:
    pairs = range(min(len(labels), len(dtypes)))  # not zip(strict=...): the kernel's Python may be older
    shown = ", ".join(f"{_label(labels[n])} {_dtype(dtypes[n])}" for n in pairs)
    return shown + (f", ... {total - len(labels)} more columns" if total > len(labels) else "")


def _pandas_frame(frame: Any) -> tuple[int, str]:
    rows, total = frame.shape
    labels = list(frame.columns[:COLUMNS])
    dtypes = list(frame.dtypes.iloc[:COLUMNS])
    return rows * max(total, 1), f"DataFrame {rows} rows: {_columns(labels, dtypes, total)}"


def _pandas_series(series: Any) -> tuple[int, str]:
    rows = series.shape[0]
    return rows, f"Series {rows} rows, {_dtype(series.dtype)}, name {_label(series.name)}"


def _ndarray(array: Any) -> tuple[int, str]:
    shape = tuple(int(n) for n in array.shape)
    return int(array.size), f"ndarray shape {shape} {_dtype(array.dtype)}"


def _polars_frame(frame: Any) -> tuple[int, str]:
    rows, total = frame.shape
    labels, dtypes = list(frame.columns[:COLUMNS]), list(frame.dtypes[:COLUMNS])
    return rows * max(total, 1), f"polars DataFrame {rows} rows: {_columns(labels, dtypes, total)}"


def _polars_series(series: Any) -> tuple[int, str]:
    rows = series.shape[0]
    return rows, f"polars Series {rows} rows, {_dtype(series.dtype)}, name {_label(series.name)}"


DESCRIBERS = {
    "pandas.DataFrame": _pandas_frame,
    "pandas.Series": _pandas_series,
    "numpy.ndarray": _ndarray,
    "polars.DataFrame": _polars_frame,
    "polars.Series": _polars_series,
}
