"""Shape ops against NumPy and across backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity

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


def test_concat_promotes_dtypes(backend):
    out = br.ops.concat([br.tensor([1, 2], dtype="int32"), br.tensor([0.5])])
    assert out.dtype == br.float32 and out.tolist() == [1.0, 2.0, 0.5]


def test_shape_errors_name_the_op_and_shapes(backend):
    x = br.zeros((2, 3))
    with pytest.raises(br.ShapeError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        br.ops.reshape(x, (4, 2))
    with pytest.raises(br.ShapeError, match=r"concat.*\(2, 3\).*\(3, 3\)"):
        br.ops.concat([x, br.zeros((3, 3))], axis=1)
    with pytest.raises(br.ShapeError, match="split"):
        br.ops.split(x, 2, axis=1)
    with pytest.raises(br.ShapeError, match=r"broadcast_to.*\(2, 3\).*\(3,\)"):
        br.ops.broadcast_to(x, (3,))
    with pytest.raises(br.ShapeError, match="squeeze"):
        br.ops.squeeze(x, axis=0)
    with pytest.raises(br.ShapeError, match="transpose"):
        br.ops.transpose(x, (0, 0))
    with pytest.raises(br.InvalidArgumentError, match="unknown mode 'mirror'"):
        br.ops.pad(x, 1, mode="mirror")
