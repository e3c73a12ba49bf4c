"""What a notebook's kernel holds, as short lines for the model: `df: DataFrame 1204 rows: region str, ...`.

This module runs inside the kernel, sent there as source (the Jupyter server extension) or imported
(`%%ask`), so it uses the standard library only and works on any Python 3 kernel. It never calls code the
notebook defined: an object is read only when its exact type is known, found by identity (`type(x) is
dict`, a library class checked to be the one its module exports), and only through code that type's
owner wrote (Python's, numpy's, pandas', polars'). So: no `repr`, `str`, `len`, `==` or attribute access
on an object of a user's class; classes are read through `type`'s own descriptors (a metaclass cannot
intercept them) and their namespaces by scanning for exact-`str` keys (a dict lookup would call the
`__eq__` of a user's key with the same hash); a pandas or numpy object is read only after every part
that reading touches (its index, arrays, dtypes, time zones, field titles) is checked to be the
library's own. Functions and classes defined in the notebook are described from their code objects,
not `inspect.signature` (which would `repr` default values). A variable that cannot be read that way
is named with its type; one that fails anyway (a library raising on a half-made object) is too, never
the whole summary. Everything is bounded before it is formatted: the newest MAX_NAMES variables, the
first few columns and keys, nesting depth, the length of a string or number shown (a 20-million-character
string is cut before `repr`, a huge int is measured in bits, never turned into digits), and a character
budget filled with the largest variables first. Numbers are written as code writes them (1204, not
1,204): the model copies them into code (the benchmark lost row counts to `1,204` -> `12`).

The boundary: the interpreter and the libraries as loaded are trusted. A notebook that rebinds
`__builtins__`, patches the builtins module, `sys.modules` or a library's classes changes the code this
module calls, and is not defended against.
"""

from __future__ import annotations

import itertools
import sys
import types
from typing import Any

BUDGET_CHARS = 1200  # the whole summary (about 400 tokens); larger variables get in first
LINE_CHARS = 300  # one variable's line at most
MAX_NAMES = 500  # the newest variables looked at, however many the namespace holds
COLUMNS = 24  # columns (and dtypes) named per frame, fields per structured dtype
KEYS = 8  # keys named per dict, and per dict nested in it; items per tuple key
ATTRIBUTES = 8  # instance attributes named per object, and methods per class
VALUE_CHARS = 40  # a string or number shown with its value up to this length
DEPTH = 4  # nesting followed in tuple keys, column labels, dtypes and `%%ask` values; deeper is "..."
TEXT_DEPTH = 6  # nesting followed in a `%%ask` value
BITS_PER_DIGIT = 3.321928  # an int of n bits has about n / log2(10) decimal digits
TITLE = "Variables in the running kernel:"
HIDDEN = frozenset({"In", "Out", "exit", "quit", "get_ipython"})  # IPython's own, whatever user_ns_hidden says

# type's own descriptors: reading a class through them runs no metaclass code.
_NAME = type.__dict__["__name__"].__get__
_QUALNAME = type.__dict__["__qualname__"].__get__
_MODULE = type.__dict__["__module__"].__get__  # only for static types: a heap type's is looked up in its dict
_MRO = type.__dict__["__mro__"].__get__
_CLASS_DICT = type.__dict__["__dict__"].__get__
_FLAGS = type.__dict__["__flags__"].__get__
_MODULE_DICT = vars(types.ModuleType)["__dict__"].__get__  # a module subclass cannot intercept it
HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement (its __module__ is in its dict)
SCALARS = (bool, int, float, complex, str, bytes, type(None))  # exact types whose repr is the builtin's
CONTAINERS = (dict, list, tuple, set, frozenset)
CALLABLES = (types.BuiltinFunctionType, types.MethodType, types.MethodWrapperType, types.WrapperDescriptorType)
MAIN = "__main__"  # the module of code a notebook defines
ARRAY_OWNERS = ("numpy", "pandas")  # whose arrays an index or a column may hold
NUMPY_KINDS = "biufcmMOSUV"  # numpy dtype kinds whose str() is plain text (not StringDType's, "T": it reprs na_object)
PANDAS_DTYPES = frozenset(  # pandas dtypes whose name is fixed text (another is named by its class)
    ["StringDtype", "CategoricalDtype", "BooleanDtype", "Float32Dtype", "Float64Dtype"]
    + [f"{sign}Int{bits}Dtype" for sign in ("", "U") for bits in (8, 16, 32, 64)]
)


class Untrusted(Exception):
    """A part of a library object is not the library's own: the variable is named with its type only."""


# what a library or a builtin may raise reading a known object (a half-made frame, a closed file)
DEGRADE = (Untrusted, AttributeError, TypeError, ValueError, LookupError, ArithmeticError, RecursionError)


def summarize(namespace: dict[str, Any], hidden: dict[str, Any] | None = None, budget: int = BUDGET_CHARS) -> str:
    """The summary of `namespace` (a kernel's user_ns; names in `hidden` with the same value are IPython's):
    a title and one line per variable, chosen largest first within `budget` characters, in namespace order;
    "" when nothing is worth saying."""
    if type(namespace) is not dict:
        return ""
    hidden = _str_keyed(hidden) if type(hidden) is dict else {}
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
    """Marks a name IPython does not hide, a parameter without a default, a key a namespace lacks."""


def kernel_summary(budget: int = BUDGET_CHARS) -> str:
    """The summary of the running IPython kernel's namespace (what the server extension asks for)."""
    shell = sys.modules["IPython"].get_ipython()  # the real IPython's, not a name the user may have rebound
    return summarize(shell.user_ns, shell.user_ns_hidden, budget) if shell is not None else ""


def describe(name: str, value: Any) -> tuple[int, str] | None:
    """(size, line) for one variable: size orders variables (elements held), the line says what it is;
    None for what is not worth a line (modules, what was imported rather than defined here). A variable
    that cannot be read safely, or whose library fails to read it, is `name: Type`."""
    try:
        return _describe(name, value)
    except DEGRADE:
        return 1, _cut(f"{name}: {_type_label(type(value))}")


def _describe(name: str, value: Any) -> tuple[int, str] | None:
    cls = type(value)
    mro = _MRO(cls)
    if _one_of(types.ModuleType, mro):
        return None
    if cls is types.FunctionType:
        return (0, _cut(f"def {name}{_signature(value)}")) if _text(value.__module__) == MAIN else None
    if _one_of(type, mro):
        return (0, _cut(_class_line(name, value))) if _type_module(value) == MAIN else None
    if _one_of(cls, CALLABLES):
        return None  # imported functions, bound methods: the source says where they come from
    size, facts = _facts(value, nested=True)
    return size, _cut(f"{name}: {facts}")


def _facts(value: Any, nested: bool) -> tuple[int, str]:
    """(size, text) for a value: a known library object read by its describer, a builtin by its exact
    type, anything else by its type."""
    cls = type(value)
    describer = LIBRARY_DESCRIBERS.get((_package(cls), _text(_QUALNAME(cls))))
    if describer is not None and _exported(cls):
        return describer(value)
    return _builtin_facts(value, nested)


def _cut(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 4] + " ..."


# -- reading without calling: exact types, identity, class namespaces ---------------------------------


def _one_of(cls: type, classes: tuple[type, ...]) -> bool:
    """`cls in classes` by identity: `==` on classes could run a metaclass's `__eq__`."""
    return any(cls is known for known in classes)


def _text(value: Any) -> str:
    """`value` when it is an exact str, else "" (a str subclass's methods are the notebook's)."""
    return value if type(value) is str else ""


def _str_keyed(mapping: Any) -> dict[str, Any]:
    """The entries of a dict (or a class's mappingproxy) whose keys are exact strs, as a dict of our own:
    looking a name up there compares strs only, never a user's key that hashes like one."""
    return {key: item for key, item in mapping.items() if type(key) is str}


def _own(cls: type, name: str) -> Any:
    """What a class's own namespace holds under `name` (_Absent if nothing), its keys compared only when
    they are exact strs."""
    for key, item in _CLASS_DICT(cls).items():
        if type(key) is str and key == name:
            return item
    return _Absent


def _type_module(cls: type) -> str:
    """A class's module name ("" when it is not a str); a heap type's is read from its namespace by scan."""
    if _FLAGS(cls) & HEAP_TYPE:
        return _text(_own(cls, "__module__"))
    return _text(_MODULE(cls))


def _package(cls: type) -> str:
    return _type_module(cls).split(".")[0]


def _exported(cls: type) -> bool:
    """Whether `cls` is the class its module exports under its name: a notebook's class can claim any
    module and name (`__module__ = "pandas"`), not be what that module holds."""
    loaded = sys.modules.get(_type_module(cls))
    if loaded is None or not _one_of(types.ModuleType, _MRO(type(loaded))):
        return False
    return _MODULE_DICT(loaded).get(_text(_QUALNAME(cls))) is cls


def _library_object(value: Any, owners: tuple[str, ...]) -> bool:
    """Whether `value`'s exact class is one of `owners`' (top-level packages) own classes."""
    return _package(type(value)) in owners and _exported(type(value))


def _type_label(cls: type) -> str:
    """A class's name; one from a library says which (`Timestamp (pandas)`)."""
    module = _type_module(cls)
    name = _text(_QUALNAME(cls)) or "?"
    if module in ("builtins", MAIN, ""):
        return name
    return f"{name} ({module.split('.')[0]})"


# -- builtin scalars: sized before they are formatted ----------------------------------------------------


def _repr_within(value: Any, room: int) -> str | None:
    """The builtin repr of an exact scalar when it is at most `room` characters, made only when it can be
    (a long str or a huge int is never formatted whole); None otherwise."""
    cls = type(value)
    if not _one_of(cls, SCALARS):
        return None
    if (cls is str or cls is bytes) and len(value) > room:
        return None
    if cls is int and value.bit_length() > min(room, 4000) * 3:  # fewer digits than bits / 3.32
        return None
    shown = repr(value)
    return shown if len(shown) <= room else None


def _short(value: Any, room: int = VALUE_CHARS) -> str:
    """An exact scalar as Python writes it, cut to about `room` characters: `'abc...`, `int (about 6021 digits)`."""
    shown = _repr_within(value, room)
    if shown is not None:
        return shown
    cls = type(value)
    if cls is str or cls is bytes:
        return repr(value[:room])[:room] + "..."
    if cls is int:
        return f"int (about {int(value.bit_length() / BITS_PER_DIGIT) + 1} digits)"
    return _NAME(cls)


def _scalar(value: Any) -> str:
    """`str 'text'`, `int 3`, `bytes 1024 bytes`: the builtin's own repr, short."""
    cls = type(value)
    if cls is bytes:
        return f"bytes {len(value)} bytes"
    if value is None:
        return "None"
    shown = _repr_within(value, VALUE_CHARS)
    if shown is not None:
        return f"{_NAME(cls)} {shown}"
    if cls is str:
        return f"str {_short(value)} ({len(value)} chars)"
    return _short(value) if cls is int else _NAME(cls)


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


def _key_label(key: Any, depth: int = 0) -> str:
    """A dict key as Python writes it, for builtin scalars and tuples of them (DEPTH deep); else its type."""
    if type(key) is tuple:
        if depth >= DEPTH:
            return "(...)"
        inner = ", ".join(_key_label(item, depth + 1) for item in key[:KEYS])
        return "(" + inner + ("," if len(key) == 1 else ", ..." if len(key) > KEYS else "") + ")"
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
        descriptor = _own(klass, "__dict__")
        if descriptor is not _Absent:
            if type(descriptor) is not types.GetSetDescriptorType or descriptor.__objclass__ is not klass:
                return []
            found = descriptor.__get__(value)
            if type(found) is not dict:
                return []
            return [key for key in itertools.islice(found, ATTRIBUTES * 4) if type(key) is str]
    return []


# -- functions and classes defined in the notebook -----------------------------------------------------


def _signature(function: types.FunctionType, skip_first: bool = False, returns: bool = True) -> str:
    """`(path, sep=',', *rest, strict=..., **options) -> DataFrame` from the code object, defaults and
    annotations as they are stored: a short builtin default shown by value, any other as `...`; an
    annotation shown when it is a class or a string (annotations Python evaluates lazily are not evaluated)."""
    code = function.__code__
    names = [_text(name) for name in code.co_varnames]
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    defaults = function.__defaults__ if type(function.__defaults__) is tuple else ()
    keyword_defaults = _str_keyed(function.__kwdefaults__) if type(function.__kwdefaults__) is dict else {}
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
    shown = _repr_within(default, VALUE_CHARS) or "..."
    return f"{text} = {shown}" if name in notes else f"{text}={shown}"


def _annotations(function: types.FunctionType) -> dict[str, str]:
    """The function's annotations that are classes or strings, as text. On Pythons that evaluate
    annotations lazily (3.14's `__annotate__`), reading them runs code: none are read there."""
    if _own(types.FunctionType, "__annotate__") is not _Absent:
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
            shown[key] = _text(_QUALNAME(note)) or "..."
    return shown


def _class_line(name: str, cls: type) -> str:
    """`class Point(x, y): norm(), scale(k)`: the constructor's parameters and the public methods the
    class itself defines, read from the classes' own namespaces."""
    init: Any = _Absent
    for klass in _MRO(cls):
        init = _own(klass, "__init__")
        if init is not _Absent:
            break
    signature = _signature(init, skip_first=True, returns=False) if type(init) is types.FunctionType else ""
    methods = [
        f"{method}{_signature(function, skip_first=True)}"
        for method, function in list(_CLASS_DICT(cls).items())
        if type(method) is str and not method.startswith("_") and type(function) is types.FunctionType
    ]
    qualname = _text(_QUALNAME(cls))
    header = f"class {name}{signature}" if qualname == name else f"class {name} = {qualname}{signature}"
    shown = methods[:ATTRIBUTES]
    more = ", ..." if len(methods) > ATTRIBUTES else ""
    return f"{header}: {', '.join(shown)}{more}" if shown else header


# -- data libraries: their own classes, each part checked before it is read ---------------------------


def _label(value: Any, depth: int = 0) -> str:
    """A column label or a name: bare when an identifier, the builtin repr otherwise, else its type."""
    if type(value) is str and len(value) <= VALUE_CHARS and value.isidentifier():
        return value
    if _one_of(type(value), SCALARS):
        return _short(value)
    if type(value) is tuple:
        if depth >= DEPTH:
            return "(...)"
        return "(" + ", ".join(_label(item, depth + 1) for item in value[:KEYS]) + ")"
    return _type_label(type(value))


def _trust(value: Any, owners: tuple[str, ...] = ARRAY_OWNERS) -> Any:
    """`value` when its class is one of `owners`' own; raises Untrusted otherwise."""
    if not _library_object(value, owners):
        raise Untrusted(_type_label(type(value)))
    return value


def _index_length(index: Any) -> int:
    """The length of pandas' own index over numpy's or pandas' own values (their `__len__` then is theirs;
    a notebook's extension array behind an index would have its own run)."""
    name = _text(_QUALNAME(type(_trust(index, ("pandas",)))))
    if name not in ("RangeIndex", "MultiIndex"):  # those hold a range, or codes arrays
        _trust(index._data)
    return len(index)


def _index_labels(index: Any, count: int) -> list[Any] | None:
    """The first `count` labels of a plain index over numpy values or pandas' strings (a range index's from
    its range); None for other indexes, whose labels would be built by code reading their parts (time
    zones, categories, levels)."""
    name = _text(_QUALNAME(type(index)))
    if name == "RangeIndex" and type(index._range) is range:
        return list(index._range[:count])
    if name != "Index":
        return None
    values = index._data
    if _library_object(values, ("numpy",)):
        return list(values[:count].tolist())
    if _library_object(values, ("pandas",)) and _dtype_text(values.dtype) in ("str", "string"):
        return list(values[:count])
    return None


def _dtype_text(dtype: Any, depth: int = 0) -> str:
    """A dtype's name when the dtype and what its name is made of are the libraries' own; else its class."""
    cls = type(dtype)
    package = _package(cls)
    if package not in ("numpy", "pandas", "polars") or not _exported(cls):
        return _type_label(cls)
    if package == "numpy":
        return _numpy_dtype(dtype, depth)
    if package == "polars":
        return _text(_QUALNAME(cls))  # the kind (Int64, Datetime), without parameters
    name = _text(_QUALNAME(cls))
    if name == "DatetimeTZDtype":
        return f"datetime64[{_text(dtype.unit)}, {_time_zone(dtype.tz)}]"
    return _text(dtype.name) if name in PANDAS_DTYPES else _type_label(cls)


def _numpy_dtype(dtype: Any, depth: int) -> str:
    """`float64`, `<U5`, `{x int32, y float64}` (a structured dtype by its field names, never its titles,
    which may be any object), `int32 x (2, 3)` (a subarray)."""
    if depth >= DEPTH:
        return "..."
    fields = dtype.fields
    if fields is not None:
        by_name, names = _str_keyed(fields), [name for name in dtype.names if type(name) is str]
        shown = [f"{name} {_dtype_text(by_name[name][0], depth + 1)}" for name in names[:COLUMNS] if name in by_name]
        return "{" + ", ".join(shown) + (", ..." if len(names) > COLUMNS else "") + "}"
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return f"{_dtype_text(base, depth + 1)} x {tuple(int(n) for n in shape)}"
    kind = _text(dtype.kind)
    if len(kind) != 1 or kind not in NUMPY_KINDS or not _exported(dtype.type):
        return _type_label(type(dtype))
    return _text(str(dtype)) or _type_label(type(dtype))


def _time_zone(zone: Any) -> str:
    """A time zone's name when it is the standard library's own (`UTC`, `Europe/Paris`); else its class."""
    cls = type(zone)
    module, name = _type_module(cls), _text(_QUALNAME(cls))
    if module == "datetime" and name == "timezone" and _exported(cls):
        return _text(str(zone)) or name  # datetime.timezone cannot be subclassed; its str is its C name
    if module == "zoneinfo" and name == "ZoneInfo" and _exported(cls):
        return _text(zone.key) or name
    return _type_label(cls)


def _values_dtype(values: Any) -> str:
    """The dtype of a column's array when the array is numpy's or pandas' own; else the array's class."""
    if not _library_object(values, ARRAY_OWNERS):
        return _type_label(type(values))
    return _dtype_text(values.dtype)


def _columns(labels: list[Any], dtypes: list[str], total: int) -> str:
    pairs = range(min(len(labels), len(dtypes)))  # not zip(strict=...): the kernel's Python may be older
    shown = ", ".join(f"{_label(labels[n])} {dtypes[n]}" for n in pairs)
    return shown + (f", ... {total - len(labels)} more columns" if total > len(labels) else "")


def _pandas_frame(frame: Any) -> tuple[int, str]:
    """The rows, and the first columns with their dtypes read from the frame's blocks (never `frame.dtypes`,
    which asks every column's array, a notebook's extension array too)."""
    manager = _trust(frame._mgr, ("pandas",))
    rows, total = _index_length(frame.index), _index_length(frame.columns)
    labels = _index_labels(frame.columns, COLUMNS)
    if labels is None:
        return rows * max(total, 1), f"DataFrame {rows} rows, {total} columns"
    blocks, numbers = manager.blocks, _trust(manager.blknos, ("numpy",))[: len(labels)].tolist()
    dtypes = [_values_dtype(_trust(blocks[number], ("pandas",)).values) for number in numbers]
    return rows * max(total, 1), f"DataFrame {rows} rows: {_columns(labels, dtypes, total)}"


def _pandas_series(series: Any) -> tuple[int, str]:
    _trust(series._mgr, ("pandas",))
    rows = _index_length(series.index)
    return rows, f"Series {rows} rows, {_values_dtype(series._values)}, name {_label(series.name)}"


def _ndarray(array: Any) -> tuple[int, str]:
    shape = tuple(int(n) for n in array.shape)
    return int(array.size), f"ndarray shape {shape} {_dtype_text(array.dtype)}"


def _polars_frame(frame: Any) -> tuple[int, str]:
    rows, total = frame.shape
    labels, dtypes = list(frame.columns[:COLUMNS]), [_dtype_text(d) for d in frame.dtypes[:COLUMNS]]
    return rows * max(total, 1), f"polars DataFrame {rows} rows: {_columns(labels, dtypes, total)}"


def _polars_series(series: Any) -> tuple[int, str]:
    rows = series.shape[0]
    return rows, f"polars Series {rows} rows, {_dtype_text(series.dtype)}, name {_label(series.name)}"


LIBRARY_DESCRIBERS = {  # (top-level package, qualname) of a library's own class -> its describer
    ("pandas", "DataFrame"): _pandas_frame,  # its __module__ is "pandas" or "pandas.core.frame"
    ("pandas", "Series"): _pandas_series,
    ("numpy", "ndarray"): _ndarray,
    ("polars", "DataFrame"): _polars_frame,
    ("polars", "Series"): _polars_series,
}


# -- `%%ask {name}`: a value as text -----------------------------------------------------------------


def value_text(name: str, value: Any, room: int) -> str:
    """What `{name}` in `%%ask` becomes: a str as it is, builtin values as Python writes them, anything
    else as the summary describes it (`DataFrame 3 rows: ...`, `def load(path)`); about `room` characters
    at most, cut before anything is formatted."""
    cls = type(value)
    if cls is str:
        return value if len(value) <= room else value[:room] + " …"
    if _one_of(cls, SCALARS) or _one_of(cls, CONTAINERS):
        return _python_text(value, room, 0)
    entry = describe(name, value)
    if entry is None:  # a module, an imported function
        return _type_label(cls)
    line, prefix = entry[1], f"{name}: "
    return line[len(prefix) :] if line.startswith(prefix) else line


def _python_text(value: Any, room: int, depth: int) -> str:
    """Python's text for a value of exact builtin types, about `room` characters at most; another object
    inside one is `<Type>`."""
    cls = type(value)
    if _one_of(cls, SCALARS):
        return _short(value, room)
    if not _one_of(cls, CONTAINERS):
        return f"<{_type_label(cls)}>"
    if depth >= TEXT_DEPTH or room <= 0:
        return "..."
    if not value:
        return "set()" if cls is set else "frozenset()" if cls is frozenset else repr(value)  # (), [], {}
    opening, closing = ("frozenset({", "})") if cls is frozenset else ("(", ")") if cls is tuple else ("[", "]")
    if cls is dict or cls is set:
        opening, closing = "{", "}"
    parts, used = [], len(opening) + len(closing)
    for item in value.items() if cls is dict else value:
        if used >= room:
            parts.append("...")
            break
        if cls is dict:
            key = _python_text(item[0], room - used, depth + 1)
            part = f"{key}: {_python_text(item[1], room - used - len(key), depth + 1)}"
        else:
            part = _python_text(item, room - used, depth + 1)
        parts.append(part)
        used += len(part) + 2
    return opening + ", ".join(parts) + ("," if cls is tuple and len(value) == 1 else "") + closing
