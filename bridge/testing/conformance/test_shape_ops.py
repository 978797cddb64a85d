"""Shape ops against NumPy and across backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity

from .strategies import SETTINGS

A = np.arange(24, dtype=np.float32).reshape(2, 3, 4)

CASES = {
    "reshape": (lambda x: br.ops.reshape(x, (4, -1)), lambda x: np.reshape(x, (4, -1))),
    "transpose": (lambda x: br.ops.transpose(x, (1, 2, 0)), lambda x: np.transpose(x, (1, 2, 0))),
    "moveaxis": (lambda x: br.ops.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1)),
    "moveaxis_many": (lambda x: br.ops.moveaxis(x, (0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0))),
    "squeeze": (lambda x: br.ops.squeeze(x[:, :1, None]), lambda x: np.squeeze(x[:, :1, None])),
    "squeeze_axis": (lambda x: br.ops.squeeze(x[:1], axis=0), lambda x: np.squeeze(x[:1], axis=0)),
    "expand_dims": (lambda x: br.ops.expand_dims(x, (0, 3)), lambda x: np.expand_dims(x, (0, 3))),
    "concat": (lambda x: br.ops.concat([x, x * 2], axis=1), lambda x: np.concatenate([x, x * 2], 1)),
    "stack": (lambda x: br.ops.stack([x, x + 1], axis=-1), lambda x: np.stack([x, x + 1], -1)),
    "split_sections": (lambda x: br.ops.split(x, 2, axis=2), lambda x: np.split(x, 2, axis=2)),
    "split_indices": (
        lambda x: br.ops.split(x, [1, 3, 10], axis=2),
        lambda x: np.split(x, [1, 3, 10], axis=2),
    ),
    "unstack": (lambda x: br.ops.unstack(x, axis=1), lambda x: list(np.moveaxis(x, 1, 0))),
    "unstack_first": (br.ops.unstack, lambda x: list(x)),
    "unstack_last_num": (lambda x: br.ops.unstack(x, num=4, axis=-1), lambda x: list(np.moveaxis(x, -1, 0))),
    "split_overlapping": (lambda x: br.ops.split(x, [3, 1], axis=2), lambda x: np.split(x, [3, 1], axis=2)),
    "tile": (lambda x: br.ops.tile(x, (2, 1, 1, 2)), lambda x: np.tile(x, (2, 1, 1, 2))),
    "tile_short": (lambda x: br.ops.tile(x, 2), lambda x: np.tile(x, 2)),
    "repeat": (lambda x: br.ops.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1)),
    "repeat_flat": (lambda x: br.ops.repeat(x, 3), lambda x: np.repeat(x, 3)),
    "repeat_counts": (
        lambda x: br.ops.repeat(x, [1, 0, 2], axis=1),
        lambda x: np.repeat(x, [1, 0, 2], axis=1),
    ),
    "broadcast_to": (
        lambda x: br.ops.broadcast_to(x[:, :1], (5, 2, 3, 4)),
        lambda x: np.broadcast_to(x[:, :1], (5, 2, 3, 4)),
    ),
    "flip": (lambda x: br.ops.flip(x, axis=1), lambda x: np.flip(x, axis=1)),
    "flip_all": (br.ops.flip, np.flip),
    "flatten": (br.ops.flatten, lambda x: x.flatten()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_ops_match_numpy(name):
    ours, reference = CASES[name]
    assert_parity(ours, A, reference=reference)


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
@SETTINGS
@given(data=st.data())
def test_pad_matches_numpy(mode, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    widths = [tuple(data.draw(st.integers(0, n - 1)) for _ in range(2)) for n in shape]
    kwargs = {"constant_values": 1.5} if mode == "constant" else {}
    assert_parity(
        lambda x: br.ops.pad(x, widths, mode=mode, **kwargs),
        array,
        reference=lambda x: np.pad(x, widths, mode=mode, **kwargs),
    )


def test_pad_width_forms():
    x = A[0]
    assert_parity(lambda t: br.ops.pad(t, 1), x, reference=lambda t: np.pad(t, 1))
    assert_parity(lambda t: br.ops.pad(t, (1, 2)), x, reference=lambda t: np.pad(t, (1, 2)))
    assert_parity(
        lambda t: br.ops.pad(t, ((0, 1), (2, 0))), x, reference=lambda t: np.pad(t, ((0, 1), (2, 0)))
    )


def test_concat_promotes_dtypes(bridge_backend):
    out = br.ops.concat([br.tensor([1, 2], dtype="int32"), br.tensor([0.5])])
    assert out.dtype == br.float32 and out.tolist() == [1.0, 2.0, 0.5]


def test_shape_errors_name_the_op_and_shapes(bridge_backend):
    x = br.zeros((2, 3))
    with pytest.raises(br.ShapeError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        br.ops.reshape(x, (4, 2))
    with pytest.raises(br.ShapeError, match=r"concat.*\(2, 3\).*\(3, 3\)"):
        br.ops.concat([x, br.zeros((3, 3))], axis=1)
    with pytest.raises(br.ShapeError, match="split"):
        br.ops.split(x, 2, axis=1)
    with pytest.raises(br.ShapeError, match=r"unstack: num=2 .*\(2, 3\).*length 3"):
        br.ops.unstack(x, num=2, axis=1)
    with pytest.raises(br.ShapeError, match="unstack: a 0-d tensor"):
        br.ops.unstack(br.tensor(1.0))
    with pytest.raises(br.ShapeError, match=r"broadcast_to.*\(2, 3\).*\(3,\)"):
        br.ops.broadcast_to(x, (3,))
    with pytest.raises(br.ShapeError, match="squeeze"):
        br.ops.squeeze(x, axis=0)
    with pytest.raises(br.ShapeError, match="transpose"):
        br.ops.transpose(x, (0, 0))
    with pytest.raises(br.InvalidArgumentError, match="unknown mode 'mirror'"):
        br.ops.pad(x, 1, mode="mirror")


# --- bad input: NumPy's answer (its values, or an error of its builtin class) on every backend ----
def assert_follows_numpy(ours, reference, *arrays: np.ndarray) -> None:
    """``ours`` on tensors of ``arrays`` returns what ``reference`` returns on float64 copies, or,
    where NumPy raises, raises a bridge error of NumPy's builtin class."""
    try:
        expected = reference(*(a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays))
    except (ValueError, TypeError, IndexError) as exc:
        builtin = next(b for b in (ValueError, TypeError, IndexError) if isinstance(exc, b))
        with pytest.raises(br.BridgeError) as info:
            ours(*(br.tensor(a) for a in arrays))
        assert isinstance(info.value, builtin), f"NumPy raises {exc!r}, bridge {info.value!r}"
        return
    out = ours(*(br.tensor(a) for a in arrays)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected)


RESHAPES = [
    ((0,), (0, -1)),  # a -1 beside a 0 has no single answer
    ((2, 0), (-1, 0)),
    ((6,), (-1, -1)),
    ((6,), (-2, -3)),
    ((6,), (4, -1)),
    ((6,), (4, 2)),
    ((0, 3), (-1, 3)),
    ((2, 0), (-1,)),
    ((2, 0), (0, 5)),
    ((2, 3), (3, -1)),
]


@pytest.mark.parametrize("shape, target", RESHAPES)
def test_reshape_follows_numpy(bridge_backend, shape, target):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    assert_follows_numpy(lambda t: br.ops.reshape(t, target), lambda a: np.reshape(a, target), x)


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    target=st.lists(st.integers(-1, 4), max_size=3),
)
def test_reshape_with_any_target_follows_numpy(bridge_backend, shape, target):
    x = np.ones(shape, np.float32)
    assert_follows_numpy(lambda t: br.ops.reshape(t, target), lambda a: np.reshape(a, target), x)


def test_reshape_error_names_shapes(bridge_backend):
    with pytest.raises(br.ShapeError, match=r"reshape.*\(0,\).*\(0, -1\)"):
        br.ops.reshape(br.zeros((0,)), (0, -1))
    with pytest.raises(br.ShapeError, match=r"reshape.*\(-1, -1\)"):
        br.ops.reshape(br.zeros((6,)), (-1, -1))


@pytest.mark.parametrize("shape", [(3,), (0,), (2, 0)])
@pytest.mark.parametrize("reps", [(2, -1), -1, (-1, 1, 1)])
def test_tile_refuses_negative_reps(bridge_backend, shape, reps):
    # NumPy raises a ValueError for a negative count (and returns an empty array by accident when
    # there is nothing to tile); bridge always raises.
    with pytest.raises(br.InvalidArgumentError, match=r"tile.*negative"):
        br.ops.tile(br.zeros(shape), reps)


REPEATS = [
    ((), (1, 2), None),  # one count per element, or one count: NumPy raises for two
    ((), (3,), None),
    ((3,), (1, 2), None),
    ((3,), [2], 0),  # a single count applies to every element
    ((2, 3), [[1, 2, 3]], 1),  # counts are a vector
    ((2, 3), (1, -1, 2), 1),
    ((2, 3), -1, 1),
    ((0, 2), (1, 2), -1),  # an empty tensor
    ((0, 2), 3, 1),
    ((0,), (1, 2), None),
    ((2, 0), [], 1),
]


@pytest.mark.parametrize("shape, repeats, axis", REPEATS)
def test_repeat_follows_numpy(bridge_backend, shape, repeats, axis):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    assert_follows_numpy(
        lambda t: br.ops.repeat(t, repeats, axis=axis), lambda a: np.repeat(a, repeats, axis=axis), x
    )


def test_repeat_errors_say_what_is_wrong(bridge_backend):
    with pytest.raises(br.ShapeError, match=r"repeat.*\(2,\).*length 1"):
        br.ops.repeat(br.zeros(()), (1, 2))
    with pytest.raises(br.InvalidArgumentError, match=r"repeat.*negative.*\[1, -1\]"):
        br.ops.repeat(br.zeros((2,)), (1, -1))


@pytest.mark.bridge_requires("jit")
def test_repeat_negative_counts_are_zero_under_jit(bridge_backend):
    @br.jit
    def f(x, counts):
        return br.ops.repeat(x, counts, axis=0)

    out = f(br.tensor([1.0, 2.0, 3.0]), br.tensor([2, -1, 1]))
    assert out.tolist() == [1.0, 1.0, 3.0]


JOINS = [
    [],
    [(0,), (0, 0)],  # ranks differ
    [(2, 3), (2,)],
    [(), ()],  # 0-d tensors cannot be concatenated, only stacked
    [(2, 3), (3, 3)],
    [(2, 3), (2, 4)],
    [(2, 3), (2, 3)],
    [(0, 3), (2, 3)],
    [(0,), (0,)],
]


@pytest.mark.parametrize("shapes", JOINS, ids=str)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["concat", "stack"])
def test_join_follows_numpy(bridge_backend, name, shapes, axis):
    arrays = [np.full(s, i, np.float32) for i, s in enumerate(shapes)]
    reference = np.concatenate if name == "concat" else np.stack
    assert_follows_numpy(
        lambda *ts: getattr(br.ops, name)(list(ts), axis=axis),
        lambda *xs: reference(list(xs), axis=axis),
        *arrays,
    )


def test_join_errors_name_the_shapes(bridge_backend):
    with pytest.raises(br.ShapeError, match=r"concat.*\(0,\), \(0, 0\)"):
        br.ops.concat([br.zeros((0,)), br.zeros((0, 0))])
    with pytest.raises(br.ShapeError, match=r"stack.*\(2,\), \(3,\)"):
        br.ops.stack([br.zeros((2,)), br.zeros((3,))])
    with pytest.raises(br.ShapeError, match="concat: needs at least one tensor"):
        br.ops.concat([])
    with pytest.raises(br.ShapeError, match="0-d"):
        br.ops.concat([br.zeros(()), br.zeros(())])


@pytest.mark.parametrize("shape", [(2, 0), (2, 0, 3), (3, 2)])
@pytest.mark.parametrize("key", [[0, 1], (slice(None), [0, 0]), ([1, 0], Ellipsis)], ids=str)
def test_getitem_int_arrays_of_empty_tensors_follow_numpy(bridge_backend, shape, key):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    assert_follows_numpy(lambda t: t[key], lambda a: a[key], x)
