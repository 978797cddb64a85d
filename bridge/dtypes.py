"""dtypes and the promotion rules bridge owns, identical on every backend.

Rules (Array API, plus what PyTorch users expect where the standard is silent):
- within a kind (bool / signed / unsigned / float) the wider type wins;
- uint8 with a signed int gives the smallest signed int holding both (int16 at least);
- an integer or bool with a float gives that float; float16 with bfloat16 gives float32;
- Python scalars are weak: they take the tensor's dtype when their kind fits
  (``float32 * 2.5 -> float32``, ``int32 + 1 -> int32``), otherwise the default dtype of their kind.
"""

from __future__ import annotations

import itertools
from typing import Any

import ml_dtypes
import numpy as np

from .errors import DTypeError


class DType(str):
    """A bridge dtype: a string subclass, so ``x.dtype == "float32"`` holds and hashing is fast.

    Each dtype is a singleton; ``kind`` is "b" bool, "i" signed, "u" unsigned or "f" float."""

    name: str  # a plain str (torch.compile looks a DType's name up in dicts)
    kind: str
    bits: int
    numpy: np.dtype

    def __new__(cls, name: str, kind: str, bits: int, numpy_dtype: Any) -> DType:
        self = super().__new__(cls, name)
        self.name = str(name)
        self.kind = kind
        self.bits = bits
        self.numpy = np.dtype(numpy_dtype)
        return self

    @property
    def is_floating(self) -> bool:
        return self.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.kind in "iu"

    def __repr__(self) -> str:
        return f"bridge.{self.name}"

    def __reduce__(self) -> tuple:
        return (as_dtype, (self.name,))


bool_ = DType("bool", "b", 8, np.bool_)
int8 = DType("int8", "i", 8, np.int8)
int16 = DType("int16", "i", 16, np.int16)
int32 = DType("int32", "i", 32, np.int32)
int64 = DType("int64", "i", 64, np.int64)
uint8 = DType("uint8", "u", 8, np.uint8)
float16 = DType("float16", "f", 16, np.float16)
bfloat16 = DType("bfloat16", "f", 16, ml_dtypes.bfloat16)
float32 = DType("float32", "f", 32, np.float32)
float64 = DType("float64", "f", 64, np.float64)

ALL_DTYPES: tuple[DType, ...] = (
    bool_,
    int8,
    int16,
    int32,
    int64,
    uint8,
    float16,
    bfloat16,
    float32,
    float64,
)

default_float = float32
default_int = int64

_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update({"bool_": bool_, "float": float32, "int": int64, "half": float16, "double": float64})
_BY_NUMPY = {d.numpy: d for d in ALL_DTYPES}
_BY_PYTHON = {bool: bool_, int: int64, float: float32}


def as_dtype(value: Any) -> DType:
    """Turn a DType, name, NumPy dtype or Python type into a bridge DType."""
    if isinstance(value, DType):
        return value
    if value is None:  # NumPy reads None as float64: bridge wants the dtype spelled out
        raise DTypeError("dtype None is not a dtype; pass one of: " + ", ".join(d.name for d in ALL_DTYPES))
    try:
        if isinstance(value, str):
            return _BY_NAME[value]
        if isinstance(value, type) and value in _BY_PYTHON:
            return _BY_PYTHON[value]
        return _BY_NUMPY[np.dtype(value)]
    except (KeyError, TypeError):
        known = ", ".join(d.name for d in ALL_DTYPES)
        raise DTypeError(f"unknown dtype {value!r}; bridge dtypes are: {known}") from None


def _promote(a: DType, b: DType) -> DType:
    if a is b:
        return a
    if a.kind == "b" or b.kind == "b":
        return b if a.kind == "b" else a
    if a.kind == "f" or b.kind == "f":
        if a.kind != "f" or b.kind != "f":
            return a if a.kind == "f" else b
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.bits > b.bits else b
    if a.kind == b.kind:  # both signed (only one unsigned type exists)
        return a if a.bits > b.bits else b
    signed = a if a.kind == "i" else b
    return signed if signed.bits > 8 else int16


_PROMOTION = {(a, b): _promote(a, b) for a, b in itertools.product(ALL_DTYPES, repeat=2)}


def result_type(*dtypes: DType) -> DType:
    """The dtype two or more tensors promote to."""
    out = dtypes[0]
    for d in dtypes[1:]:
        out = _PROMOTION[out, d]
    return out


def weak_result_type(dtype: DType, scalar: bool | int | float) -> DType:
    """The dtype of ``tensor <op> python_scalar``: the scalar adapts when its kind fits."""
    if isinstance(scalar, bool):
        return dtype
    if isinstance(scalar, int):
        return default_int if dtype.kind == "b" else dtype
    if isinstance(scalar, float):
        return dtype if dtype.kind == "f" else default_float
    raise DTypeError(f"unsupported Python scalar {scalar!r} of type {type(scalar).__name__}")


def python_scalar_dtype(value: bool | int | float) -> DType:
    """The dtype a lone Python scalar takes."""
    return _BY_PYTHON[type(value)] if type(value) in _BY_PYTHON else as_dtype(type(value))
