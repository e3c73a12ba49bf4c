"""A notebook cell whose values hold code of the notebook's that the kernel summary must never run.

Each hook writes its name to the file `_touched` (once `_armed`: pandas calls some of them while the
values are built) and then does its job, so a call shows in that file rather than as a failure. The
unit tests run this source with `exec` in a namespace named `__main__`, as a notebook's; the real-kernel
test runs it as a cell. Whoever runs it sets `_touched` first.
"""

import datetime

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray, ExtensionDtype

_touched = globals().get("_touched", "")  # the file the hooks write their names to, set by whoever runs this
_armed = False


def _touch(what):
    if _armed:
        with open(_touched, "a") as out:
            out.write(what + " ")


class RecordingDtype(ExtensionDtype):
    name = "recording"
    type = object
    kind = "O"

    @classmethod
    def construct_array_type(cls):
        return RecordingArray


class RecordingArray(ExtensionArray):
    """The notebook's own extension array: pandas asks it for its dtype, length and items."""

    def __init__(self, values):
        self.values = list(values)

    @classmethod
    def _from_sequence(cls, scalars, dtype=None, copy=False):
        return cls(scalars)

    @classmethod
    def _concat_same_type(cls, arrays):
        return cls([value for array in arrays for value in array.values])

    @property
    def dtype(self):
        _touch("dtype")
        return RecordingDtype()

    @property
    def nbytes(self):
        _touch("nbytes")
        return 0

    def __len__(self):
        _touch("len")
        return len(self.values)

    def __getitem__(self, key):
        _touch("getitem")
        return self.values[key] if type(key) is int else RecordingArray(np.array(self.values, dtype=object)[key])

    def __iter__(self):
        _touch("iter")
        return iter(self.values)

    def __repr__(self):
        _touch("array repr")
        return "RecordingArray"

    def isna(self):
        _touch("isna")
        return np.zeros(len(self.values), dtype=bool)

    def take(self, indices, allow_fill=False, fill_value=None):
        _touch("take")
        return RecordingArray([self.values[i] for i in indices])

    def copy(self):
        _touch("copy")
        return RecordingArray(self.values)


class Zone(datetime.tzinfo):
    """The notebook's own time zone: pandas names it with `str()` in a dtype's name."""

    def utcoffset(self, dt):
        _touch("utcoffset")
        return datetime.timedelta(0)

    def dst(self, dt):
        _touch("dst")
        return datetime.timedelta(0)

    def tzname(self, dt):
        _touch("tzname")
        return "Zone"

    def __str__(self):
        _touch("zone str")
        return "Zone"

    __repr__ = __str__


class Title:
    """A field title of a structured dtype, or a StringDType's missing value: numpy shows them with `repr`."""

    def __repr__(self):
        _touch("title repr")
        return "Title"

    def __eq__(self, other):
        _touch("title eq")
        return self is other

    def __hash__(self):
        _touch("title hash")
        return 1


class Key:
    """A namespace key that hashes like a name the summary looks up: a dict lookup would call its `__eq__`."""

    def __init__(self, name):
        self.name = name

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        _touch("eq " + self.name)
        return False


class Pretender:
    """A class of the notebook's that claims to be pandas' DataFrame."""

    @property
    def _mgr(self):
        _touch("pretender _mgr")

    @property
    def shape(self):
        _touch("pretender shape")
        return (1, 1)


Pretender.__module__, Pretender.__qualname__ = "pandas", "DataFrame"


def labelled(*, label="x"):
    return label


labelled.__kwdefaults__ = {Key("label"): "x"}
Keyed = type("Keyed", (), {Key("__module__"): 1, Key("__init__"): 2, Key("__dict__"): 3, "area": labelled})
keyed = Keyed()
pretender = Pretender()

extension_frame = pd.DataFrame({"a": RecordingArray([1, 2]), "b": [1.5, 2.5]})
extension_columns = pd.DataFrame([[1, 2]], columns=pd.Index(RecordingArray(["x", "y"])))
extension_series = pd.Series(RecordingArray([1, 2, 3]))
_moments = pd.DatetimeIndex([datetime.datetime(2024, 1, 1, tzinfo=Zone())] * 2)
zoned = pd.Series(_moments)
zone_indexed = pd.Series([1, 2], index=_moments)
titled = np.zeros(3, dtype=[((Title(), "a"), "i4"), ("b", "f8")])
strings = np.array(["a", "b"], dtype=np.dtypes.StringDType(na_object=Title()))
big = 2**20000
huge = "x" * 20_000_000
_deep: tuple = ()
for _ in range(5000):
    _deep = (_deep,)
nested_keys = {_deep: 1, "plain": 2}
total = 41
_armed = True
