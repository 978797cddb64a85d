"""The Tensor: properties, operators, conversion, indexing and functional updates."""

from __future__ import annotations

import operator
import typing

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity


def test_properties(backend):
    x = br.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and isinstance(x.shape[0], int)
    assert x.dtype == br.float32 and x.device == br.devices()[-1] and x.backend == backend  # a GPU first
    assert x.ndim == 2 and x.size == 6 and len(x) == 2
    np.testing.assert_array_equal(x.T.numpy(), np.array([[1, 4], [2, 5], [3, 6]]))
    assert (
        type(x.native).__module__.split(".")[0]
        == {"torch": "torch", "tensorflow": "tensorflow", "numpy": "numpy"}[backend]
    )


OPERATORS = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.pow,
    operator.eq,
    operator.ne,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
]


@pytest.mark.parametrize("op", OPERATORS, ids=lambda f: f.__name__)
def test_operators_match_numpy_with_tensors_scalars_and_arrays(op):
    a = np.array([[1.5, -2.0, 3.0], [4.0, 0.5, -6.25]], dtype=np.float32)
    b = np.array([2.0, -0.5, 1.25], dtype=np.float32)
    pos = np.abs(a) + 0.5
    left, right = (pos, b) if op is operator.pow else (a, b)
    assert_parity(op, left, right, reference=op)
    assert_parity(lambda x: op(x, 2.0), left, reference=lambda x: op(x, np.float32(2.0)))
    assert_parity(lambda x: op(3.0, x), pos, reference=lambda x: op(np.float32(3.0), x))
    assert_parity(lambda x: op(x, right), left, reference=lambda x: op(x, right))
    assert_parity(lambda x: op(left, x), right, reference=lambda x: op(left, x))


def test_unary_operators_and_matmul():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert_parity(operator.neg, a, reference=operator.neg)
    assert_parity(abs, a, reference=abs)
    assert_parity(operator.matmul, a, b, reference=operator.matmul)
    assert_parity(lambda x: b.T @ x.T, a, reference=lambda x: b.T @ x.T)
    m = np.array([True, False])
    assert_parity(operator.invert, m, reference=operator.invert)
    assert_parity(operator.invert, np.array([1, 6], dtype=np.int32), reference=operator.invert)
    assert_parity(
        lambda x, y: (x & y, x | y, x ^ y), m, m[::-1].copy(), reference=lambda x, y: (x & y, x | y, x ^ y)
    )


def test_numpy_interop(backend):
    x = br.tensor([[1, 2], [3, 4]])
    array = np.asarray(x)
    assert isinstance(array, np.ndarray) and array.dtype == np.int64
    np.testing.assert_array_equal(array, [[1, 2], [3, 4]])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert x.tolist() == [[1, 2], [3, 4]]
    assert x[1, 0].item() == 3 and isinstance(x[1, 0].item(), int)
    assert float(br.tensor(2.5)) == 2.5 and int(br.tensor(7)) == 7
    assert bool(br.tensor(True)) and not bool(br.tensor(0.0))
    assert [row.tolist() for row in x] == [[1, 2], [3, 4]]
    assert list(range(10))[br.tensor(3)] == 3
    mixed = np.array([1.0, 2.0]) + br.tensor([1.0, 1.0])  # NumPy defers to the tensor
    assert isinstance(mixed, br.Tensor) and mixed.dtype == br.float64


def test_item_of_a_larger_tensor_is_a_shape_error(backend):
    with pytest.raises(br.ShapeError, match=r"\(2,\)"):
        br.tensor([1.0, 2.0]).item()
    with pytest.raises(br.ShapeError, match="ambiguous"):
        bool(br.tensor([1.0, 2.0]))


def test_comparison_with_none_is_identity(backend):
    x = br.tensor([1.0])
    assert (x == None) is False and (x != None) is True  # noqa: E711
    assert x in [None, x] and [None, x].index(x) == 1


def test_repr_shows_values_dtype_device_and_backend(backend):
    x = br.tensor([[1.5, 2.0]])
    text = repr(x)
    assert "1.5" in text and "float32" in text and f"device={x.device}" in text and backend in text


def test_methods(backend):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = br.tensor(a)
    np.testing.assert_array_equal(x.reshape(4, 6).numpy(), a.reshape(4, 6))
    np.testing.assert_array_equal(x.reshape((-1,)).numpy(), a.reshape(-1))
    np.testing.assert_array_equal(x.transpose(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose().numpy(), a.transpose())
    np.testing.assert_array_equal(x.flatten().numpy(), a.flatten())
    assert x.astype("int32").dtype == br.int32 and x.astype(br.float16).dtype == br.float16
    for name in ("sum", "mean", "prod", "max", "min", "var", "std"):
        for axis in (None, 1, (0, 2)):
            np.testing.assert_allclose(
                getattr(x, name)(axis=axis, keepdims=True).numpy(),
                getattr(a.astype(np.float64), name)(axis=axis, keepdims=True),
                rtol=1e-5,
                err_msg=f"{name} axis={axis}",
            )
    np.testing.assert_array_equal(x.argmax(axis=2).numpy(), a.argmax(axis=2))
    np.testing.assert_array_equal(x.argmin().numpy(), a.argmin())
    assert x.to("cpu").device == "cpu"


def test_tensors_are_immutable(backend):
    x = br.zeros((2,))
    with pytest.raises(br.BridgeError, match=r"\.at\[") as info:
        x[0] = 1.0
    assert isinstance(info.value, TypeError)


# --- indexing ------------------------------------------------------------------------------
BASE = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
KEYS = [
    1,
    -1,
    (2, 3),
    (slice(None), 2),
    slice(1, 3),
    slice(None, None, 2),
    slice(None, None, -1),
    (slice(3, 0, -2), slice(None), slice(-1, None, -3)),
    (Ellipsis, 1),
    (1, Ellipsis, 2),
    (None, 1),
    (slice(None), None, 2, None),
    (Ellipsis, None),
    [0, 2],
    ([0, 1], [1, 3]),
    (slice(None), [0, 0, 4]),
    (slice(None), [1, 2], [3, 4]),
    ([0, 3], slice(None), [1, 5]),
    (Ellipsis, [-1, 0]),
    (1, slice(None), [0, 1]),
    ([[0, 1], [2, 3]], 1),
    (slice(1, 3), [[0], [2]], [1, 3]),
    (np.array([True, False, True, False]),),
    (slice(None), np.arange(5) % 2 == 0),
    (BASE[..., 0] > 50),
    (BASE > 60),
    (slice(None), BASE[0] % 7 == 0),
    (None, [1, 2], None, 0),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_getitem_matches_numpy(key):
    assert_parity(lambda x: x[key], BASE, reference=lambda x: x[key])


def test_getitem_with_index_tensors(backend):
    x = br.tensor(BASE)
    index = br.tensor([3, 0])
    np.testing.assert_array_equal(x[index].numpy(), BASE[[3, 0]])
    np.testing.assert_array_equal(x[x > 100].numpy(), BASE[BASE > 100])
    np.testing.assert_array_equal(x[:, br.tensor(1)].numpy(), BASE[:, 1])


@given(data=st.data())
def test_basic_slices_match_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    assert_parity(lambda x: x[key], array, reference=lambda x: x[key])


@given(data=st.data())
def test_integer_array_indices_match_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    array = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    key = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_dims=2)))
    assert_parity(lambda x: x[key], array, reference=lambda x: x[key])


def test_mask_of_the_wrong_shape_is_a_shape_error(backend):
    with pytest.raises(br.ShapeError, match=r"mask of shape \(5, 6\)"):
        br.tensor(BASE)[br.tensor(BASE[0] > 3)]


def test_out_of_range_index_is_a_clear_index_error(backend):
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 0 of size 4") as info:
        br.tensor(BASE)[4]
    assert isinstance(info.value, br.BridgeError)


@pytest.mark.parametrize(
    "key",
    [
        (1, 2),
        (slice(None), 0),
        [0, 2, 0],
        (BASE[:, :, 0] > 30,),
        (Ellipsis, 1),
        ([1, 3], slice(None, None, -2)),
    ],
    ids=repr,
)
def test_at_set_and_add_match_numpy(key):
    def numpy_set(x):
        out = x.copy()
        out[key] = -1.0
        return out

    def numpy_add(x):
        out = x.copy()
        np.add.at(out, key, 2.0)
        return out

    assert_parity(lambda x: x.at[key].set(-1.0), BASE, reference=numpy_set)
    assert_parity(lambda x: x.at[key].add(2.0), BASE, reference=numpy_add)


def test_at_leaves_the_original_unchanged_and_accumulates_repeats(backend):
    x = br.zeros((3,))
    y = x.at[br.tensor([0, 0, 2])].add(br.tensor([1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(y.numpy(), [3.0, 0.0, 5.0])
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0, 0.0])
    z = x.at[1].set(br.tensor(7))  # the value takes the tensor's dtype
    assert z.dtype == br.float32 and z.tolist() == [0.0, 7.0, 0.0]


@pytest.mark.needs("torch")
@pytest.mark.parametrize("value", [0.123456, -2.5, 7, True])
@pytest.mark.parametrize("spec", ["", ".4f", ">10.2e", "+", "08.3f"])
def test_format_of_a_0d_tensor_is_that_of_its_number_as_torch(value, spec, backend):
    import torch

    dtype = {bool: "bool", int: "int64", float: "float64"}[type(value)]
    assert format(br.tensor(value, dtype=dtype), spec) == format(
        torch.tensor(value, dtype=getattr(torch, dtype)), spec
    )


@pytest.mark.needs("torch")
def test_format_spec_on_a_larger_tensor_is_a_type_error_as_torch(backend):
    import torch

    with pytest.raises(TypeError):
        format(torch.tensor([1.5, 2.5]), ".2f")
    x = br.tensor([1.5, 2.5])
    with pytest.raises(br.BridgeError, match=r"format: spec '\.2f' needs a 0-d tensor, got shape \(2,\)"):
        f"{x:.2f}"
    assert f"{x}" == str(x)


DUNDERS = [
    *(
        f"__{r}{name}__"
        for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul")
        for r in ("", "r")
    ),
    *(f"__{r}{name}__" for name in ("and", "or", "xor", "lshift", "rshift") for r in ("", "r")),
    *(
        f"__{name}__"
        for name in ("eq", "ne", "lt", "le", "gt", "ge", "abs", "neg", "pos", "invert", "getitem")
    ),
    *("__format__", "T", "astype", "to", "reshape", "transpose", "flatten", "sum", "mean", "var", "argmax"),
]


@pytest.mark.parametrize("name", DUNDERS)
def test_operators_and_methods_are_declared_in_the_class_body_with_types(name):
    member = br.Tensor.__dict__[name]
    function = member.fget if isinstance(member, property) else member
    assert function.__qualname__ == f"Tensor.{name}"  # not bound from bridge.ops at import
    hints = typing.get_type_hints(function)
    assert hints["return"] in (br.Tensor, str)


@pytest.mark.parametrize("symbol", ["+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "<<", ">>"])
def test_augmented_operators_are_declared_on_variable(symbol):
    name = {
        "+": "add",
        "-": "sub",
        "*": "mul",
        "/": "truediv",
        "//": "floordiv",
        "%": "mod",
        "**": "pow",
        "&": "and",
        "|": "or",
        "^": "xor",
        "<<": "lshift",
        ">>": "rshift",
    }[symbol]
    assert br.Variable.__dict__[f"__i{name}__"].__qualname__ == f"Variable.__i{name}__"


def test_numpy_copy_false_is_refused_as_numpy_2_asks(backend):
    x = br.ones((2,))
    np.testing.assert_array_equal(np.asarray(x), [1.0, 1.0])
    with pytest.raises(br.ArgumentTypeError, match=r"copy=False"):
        np.asarray(x, copy=False)
    with pytest.raises(ValueError):  # what NumPy raises for an object that must be copied
        np.asarray(x, copy=False)
