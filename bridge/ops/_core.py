"""What every op shares: arguments to native tensors of one backend, axes, and clear errors."""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .._dispatch import current_backend, resolve_device
from .._plugins import load_backend, native_backend_name
from ..backend import Backend
from ..dtypes import ALL_DTYPES, DType, as_dtype, default_float, default_int, python_scalar_dtype, result_type
from ..errors import (
    ArgumentTypeError,
    AxisError,
    BackendMismatchError,
    BackendOpError,
    BridgeError,
    DeviceError,
    DTypeError,
    InvalidArgumentError,
    ShapeError,
)
from ..tensor import Tensor

SCALARS = (bool, int, float)


def is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


# --- backends ----------------------------------------------------------------------------
def mismatch(op: str, backends: Iterable[str]) -> BackendMismatchError:
    names = sorted(set(backends))
    return BackendMismatchError(
        f"{op}: tensors from different backends ({' and '.join(names)}); convert one first, "
        f"e.g. bridge.convert(x, {names[0]!r})"
    )


def backend_of(op: str, *args: Any) -> Backend:
    """The backend shared by the Tensors among ``args`` (else that of a native, else current)."""
    found = None
    for x in args:
        if isinstance(x, Tensor):
            if found is None:
                found = x._backend
            elif x._backend is not found:
                raise mismatch(op, [t.backend for t in args if isinstance(t, Tensor)])
    if found is not None:
        return found
    for x in args:
        name = native_backend_name(x) if not isinstance(x, (*SCALARS, np.ndarray, list)) else None
        if name is not None:
            return load_backend(name)
    return current_backend()


# --- conversion --------------------------------------------------------------------------
def numpy_array(data: Any, dtype: DType | None = None, op: str = "tensor") -> np.ndarray:
    """A NumPy array of a bridge dtype; Python floats become the default float. Values the dtype
    cannot hold (``300`` as uint8, NaN as an integer) are an error, not wrapped or truncated."""
    from_python = not isinstance(data, (np.ndarray, np.generic))
    try:
        array = np.asarray(data)
    except BridgeError:  # what the data itself says (a symbolic tensor holds no values)
        raise
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{op}: cannot make a tensor of {_summary(data)}: {exc}") from None
    if from_python and (array.dtype == np.uint64 or array.dtype == object):
        if dtype is not None and dtype.kind == "f":  # Python ints beyond int64 are fine as floats
            try:
                array = np.asarray(data, dtype=np.float64)
            except (OverflowError, ValueError, TypeError) as exc:
                raise InvalidArgumentError(f"{op}: cannot make {dtype} of {_summary(data)}: {exc}") from None
        else:
            _check_python_ints(op, array, dtype or default_int)
    try:
        source = as_dtype(array.dtype)
    except DTypeError:
        raise DTypeError(
            f"{op}: cannot make a tensor of {_summary(data)} (NumPy dtype {array.dtype}); "
            "bridge tensors hold bools, integers and floats"
        ) from None
    if dtype is None:
        return array.astype(default_float.numpy) if from_python and source.kind == "f" else array
    if dtype.kind in "iu" and source.kind in "iuf" and array.size:
        _check_integer_range(op, array, dtype)
    return array.astype(dtype.numpy, copy=False)


#: The magnitude from which a Python float rounds to infinity in each narrow float dtype.
_OVERFLOW = {"float16": 65520.0, "bfloat16": 3.3961775292304683e38, "float32": 3.4028235677973366e38}


def python_scalar(value: bool | int | float, dtype: DType, op: str) -> bool | int | float:
    """A Python scalar as a Python number of ``dtype``'s kind, checked as ``numpy_array`` checks
    it, in plain Python: traced code (torch.compile) calls it, where NumPy's dtypes are not at hand."""
    if dtype.kind == "f":
        try:
            number = float(value)
        except OverflowError as exc:
            raise InvalidArgumentError(f"{op}: cannot make {dtype} of {_summary(value)}: {exc}") from None
        # beyond the dtype's largest value (past its rounding midpoint): infinity, as NumPy rounds
        return (
            math.copysign(math.inf, number) if abs(number) >= _OVERFLOW.get(dtype.name, math.inf) else number
        )
    if type(value) is int and not -(2**63) <= value < 2**63:  # NumPy holds it in no integer type
        raise InvalidArgumentError(f"{op}: value {value} is out of bounds for {dtype}")
    if dtype.kind == "b":
        return bool(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(f"{op}: cannot convert NaN or infinity to {dtype}")
    signed = dtype.kind == "i"
    low, high = (-(2 ** (dtype.bits - 1)), 2 ** (dtype.bits - 1) - 1) if signed else (0, 2**dtype.bits - 1)
    inside = low - 1 < value < high + 1 if isinstance(value, float) else low <= value <= high
    if not inside:  # floats are truncated toward zero, as NumPy's: -0.5 becomes 0
        raise InvalidArgumentError(f"{op}: value {value} is out of bounds for {dtype} ([{low}, {high}])")
    return int(value)


def _summary(data: Any) -> str:
    text = repr(data)
    return f"{type(data).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _check_python_ints(op: str, array: np.ndarray, dtype: DType) -> None:
    """Python ints beyond int64 (which NumPy keeps as uint64 or objects) fit no bridge dtype."""
    values = array.ravel().tolist()
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        bad = max(values, key=abs)
        raise InvalidArgumentError(f"{op}: value {bad} is out of bounds for {dtype}")


# each integer dtype's smallest and largest value, found once (``np.iinfo`` costs microseconds; a
# plain dict, since torch.compile warns of a call to a cached function)
_INTEGER_BOUNDS = {
    d: (int(np.iinfo(d.numpy).min), int(np.iinfo(d.numpy).max)) for d in ALL_DTYPES if d.kind in "iu"
}


def integer_bounds(dtype: DType) -> tuple[int, int]:
    """The smallest and largest value of the integer ``dtype``."""
    return _INTEGER_BOUNDS[dtype]


def _check_integer_range(op: str, array: np.ndarray, dtype: DType) -> None:
    """Raise if ``array`` holds NaN, infinities or values outside the integer ``dtype``."""
    lowest, highest = integer_bounds(dtype)
    floating = array.dtype.kind not in "iu"  # float16/32/64 and ml_dtypes' bfloat16
    if floating and not np.isfinite(array.astype(np.float64)).all():
        raise InvalidArgumentError(f"{op}: cannot convert NaN or infinity to {dtype}")
    low, high = array.min().item(), array.max().item()  # Python numbers compare exactly
    if floating:  # truncated toward zero: -0.5 becomes 0
        inside = lowest - 1 < low and high < highest + 1
    else:
        inside = lowest <= low and high <= highest
    if not inside:
        bad = low if low < lowest else high
        raise InvalidArgumentError(f"{op}: value {bad} is out of bounds for {dtype} ([{lowest}, {highest}])")


def to_native(
    x: Any, backend: Backend, dtype: DType | None = None, device: str | None = None, op: str = "convert"
) -> Any:
    """``x`` (Tensor, native tensor of any backend, NumPy or Python data) on ``backend``."""
    if isinstance(x, Tensor):
        if x._backend is not backend:
            raise mismatch(op, [x.backend, backend.name])
        native = x._native
    elif backend.is_native(x):
        native = x
    elif type(x) in SCALARS:  # in plain Python, which traced code (torch.compile) can run
        dtype = dtype or python_scalar_dtype(x)
        value = python_scalar(x, dtype, op)
        return backend.full((), value, dtype, resolve_device(backend, device))
    else:
        owner = native_backend_name(x) if not isinstance(x, (*SCALARS, list, tuple)) else None
        if owner is not None:
            native = convert_native(x, load_backend(owner), backend)
        else:
            array = numpy_array(x, dtype, op)
            return backend.from_numpy(array, as_dtype(array.dtype), resolve_device(backend, device))
    if dtype is not None and backend.dtype_of(native) is not dtype:
        native = backend.cast(native, dtype)
    if device is not None:
        device = resolve_device(backend, device)
        if backend.device(native) != device:
            native = backend.to_device(native, device)
    return native


def convert_native(x: Any, source: Backend, target: Backend) -> Any:
    """A native tensor of ``source`` as a native tensor of ``target``: DLPack (the source copies
    a view that is not contiguous or not aligned as the target needs), else NumPy."""
    if source is target:
        return x
    dtype = source.dtype_of(x)
    try:
        return target.from_dlpack(source.to_dlpack(x, target.dlpack_alignment))
    except Exception:  # dtype or device the DLPack path of one side does not support
        array = source.to_numpy(x)
        return target.from_numpy(array, dtype, resolve_device(target, source.device(x)))


def as_tensor(op: str, x: Any) -> Tensor:
    """``x`` itself if it is a Tensor, else ``x`` converted on its (or the current) backend."""
    if isinstance(x, Tensor):
        return x
    backend = backend_of(op, x)
    return Tensor(to_native(x, backend, op=op), backend)


def tensor_args(op: str, *args: Any) -> tuple[Backend, list[Any]]:
    """Natives of one backend for ``args``; data that is not yet a tensor joins the device of
    the first Tensor among them."""
    backend = backend_of(op, *args)
    device = next((x.device for x in args if isinstance(x, Tensor)), None)
    return backend, [
        x._native if isinstance(x, Tensor) else to_native(x, backend, device=device, op=op) for x in args
    ]


def promote_natives(backend: Backend, natives: Sequence[Any], dtype: DType | None = None):
    """Cast natives to their common dtype (or to ``dtype``); returns (natives, dtype)."""
    dtypes = [backend.dtype_of(n) for n in natives]
    target = dtype or result_type(*dtypes)
    return [n if d is target else backend.cast(n, target) for n, d in zip(natives, dtypes)], target


def floating(backend: Backend, native: Any) -> Any:
    """``native`` cast to the default float unless it already is floating."""
    if backend.dtype_of(native).kind == "f":
        return native
    return backend.cast(native, default_float)


def wider_float(dtype: DType) -> DType:
    """The dtype to accumulate in: float32 for half types, else the dtype."""
    return default_float if dtype.kind == "f" and dtype.bits < 32 else dtype


# --- axes --------------------------------------------------------------------------------
def axis_index(op: str, axis: int, ndim: int) -> int:
    """``axis`` in ``[0, ndim)``; a float or other non-integer axis is an error, never truncated."""
    try:
        axis = operator.index(axis)
    except TypeError:
        raise ArgumentTypeError(f"{op}: axis must be an int, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        raise AxisError(f"{op}: axis {axis} is out of bounds for a tensor of rank {ndim}")
    return axis % ndim if ndim else 0


def integer_arg(op: str, name: str, value: Any, minimum: int | None = 0) -> int:
    """``value`` as an int (floats such as 2.5 are refused, not truncated), at least ``minimum``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{op}: {name} must be an int, got {value!r}") from None
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{op}: {name} must be >= {minimum}, got {value}")
    return value


def size_tuple(op: str, shape: Any) -> tuple[int, ...]:
    """A shape to create: non-negative ints (an int is a 1-D shape)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(integer_arg(op, "shape", n, minimum=None) for n in shape)
    except (TypeError, InvalidArgumentError):
        raise ArgumentTypeError(f"{op}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise InvalidArgumentError(f"{op}: negative dimensions are not allowed, got shape {shape!r}")
    return dims


def known_shape(shape: tuple[Any, ...]) -> bool:
    """Whether every size in ``shape`` is a plain int: none is unknown while tracing (None in a
    ``tf.function`` signature, a symbol under ``torch.export`` with a dynamic axis)."""
    return all(type(n) is int for n in shape)


def axes_tuple(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Normalized, sorted, distinct axes; ``None`` means all."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    normalized = tuple(sorted(axis_index(op, a, ndim) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise AxisError(f"{op}: repeated axis in {axis!r}")
    return normalized


# --- errors ------------------------------------------------------------------------------
def describe(x: Any) -> str:
    return f"{x.dtype}{x.shape}@{x.device}" if isinstance(x, Tensor) else type(x).__name__


def _tensors_in(args: Sequence[Any]) -> list[Tensor]:
    found = []
    for a in args:
        if isinstance(a, Tensor):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            found.extend(t for t in a if isinstance(t, Tensor))
    return found


@functools.cache
def _op_error(builtin: type) -> type:
    if builtin is RuntimeError:
        return BackendOpError
    return type(f"BackendOp{builtin.__name__}", (BackendOpError, builtin), {})


def diagnose(op: str, args: Sequence[Any], exc: Exception, check: Callable | None) -> BridgeError:
    """A bridge error for a native failure: a precise one where ``check`` finds the cause."""
    tensors = _tensors_in(args)
    devices = sorted({t.device for t in tensors})
    if len(devices) > 1:
        return DeviceError(
            f"{op}: tensors on different devices ({', '.join(devices)}); move them to one with .to(device)"
        )
    if check is not None:
        reason = check(*args)
        if reason:
            return ShapeError(f"{op}: {reason}")
    builtin = next((b for b in (ValueError, TypeError, IndexError) if isinstance(exc, b)), RuntimeError)
    inputs = ", ".join(describe(t) for t in tensors) or "no tensors"
    backend = tensors[0].backend if tensors else current_backend().name
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _op_error(builtin)(f"{op} failed on backend {backend!r} for {inputs}: {first_line}")


_OP_PREFIX = re.compile(r"^[A-Za-z_][\w.]*(?=: | failed on backend )")


def renamed(exc: BridgeError, name: str) -> BridgeError:
    """``exc`` with its message naming ``name``: an op called by another op reports the op the
    user called (``mean``, not the ``sum`` it uses)."""
    message = str(exc)
    if not message.startswith(name):
        match = _OP_PREFIX.match(message)
        message = f"{name}{message[match.end() :]}" if match else f"{name}: {message}"
        exc.args = (message,)
    return exc


def op(check: Callable | None = None) -> Callable:
    """Decorate a public op: native failures become bridge errors naming the op and inputs; a
    bridge error from an op it calls is renamed after it (the outermost op's name wins)."""

    def decorate(fn: Callable) -> Callable:
        name = fn.__name__.strip("_")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BridgeError as exc:
                raise renamed(exc, name) from exc.__cause__
            except Exception as exc:
                raise diagnose(name, (*args, *kwargs.values()), exc, check) from exc

        return wrapper

    return decorate


def broadcast_check(*args: Any) -> str | None:
    """Why shapes of the tensors in ``args`` do not broadcast, or None."""
    shapes = [
        tuple(np.shape(a)) if not isinstance(a, Tensor) else a.shape
        for a in args
        if a is not None and not isinstance(a, (str, *SCALARS))
    ]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return "shapes " + " and ".join(str(s) for s in shapes) + " do not broadcast"
    return None


def require(condition: bool, error: type[BridgeError], message: str) -> None:
    if not condition:
        raise error(message)


def require_float_or_int(op: str, dtype: DType) -> None:
    require(dtype.kind != "b", DTypeError, f"{op}: not defined for bool tensors")
