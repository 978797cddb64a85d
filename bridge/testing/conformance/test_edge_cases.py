"""Edge cases where the frameworks disagree, given NumPy's answer on every backend (issue 8 item
12a): NaN in sorting and arg-reductions, empty reductions, out-of-range indices, windows larger
than the input, NaN through TensorFlow's fused kernels under jit, Python branches on tensors
under jit, and custom gradients of the wrong shape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge import ops
from bridge.testing import assert_parity, parity_backends

from .strategies import QUICK_JIT as QUICK
from .strategies import SETTINGS, floats32

SPECIAL = [-np.inf, -1.0, -0.0, 0.0, 0.5, 2.0, np.inf, np.nan]


def special_arrays(dtype=np.float32, min_dims=1, max_dims=3, max_side=6):
    """Arrays of ties, signed zeros, infinities and NaN."""
    return hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side),
        elements=st.sampled_from(SPECIAL),
    )


# --- NaN in sorting and arg-reductions -----------------------------------------------------
@SETTINGS
@given(array=special_arrays(st.sampled_from([np.float32, np.float64])), data=st.data())
def test_sort_and_argsort_put_nan_last_as_numpy(array, data):
    axis = data.draw(st.integers(-array.ndim, array.ndim - 1))
    assert_parity(lambda x: ops.sort(x, axis), array, reference=lambda x: np.sort(x, axis))
    assert_parity(
        lambda x: ops.argsort(x, axis), array, reference=lambda x: np.argsort(x, axis, kind="stable")
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_float_sort_puts_nan_last(bridge_backend, dtype):
    values = np.array([2.0, np.nan, -1.0, np.inf, 0.5, np.nan, -np.inf], np.float32)
    x = br.tensor(values).astype(dtype)
    np.testing.assert_array_equal(ops.sort(x).astype("float32").numpy(), np.sort(values))
    np.testing.assert_array_equal(ops.argsort(x).numpy(), np.argsort(values, kind="stable"))
    top, order = ops.topk(x, 3)
    np.testing.assert_array_equal(order.numpy(), [1, 5, 3])
    np.testing.assert_array_equal(top.astype("float32").numpy(), [np.nan, np.nan, np.inf])


@SETTINGS
@given(
    array=hnp.arrays(
        np.float32, st.tuples(st.integers(1, 3), st.integers(1, 6)), elements=floats32(-10, 10), unique=True
    ),
    data=st.data(),
)
def test_topk_counts_nan_as_largest(array, data):
    rows = data.draw(
        st.lists(st.integers(0, array.shape[1] - 1), min_size=array.shape[0], max_size=array.shape[0])
    )
    for row, column in enumerate(rows):  # at most one NaN per row: the order among NaNs is the kernel's
        if data.draw(st.booleans()):
            array[row, column] = np.nan
    k = data.draw(st.integers(0, array.shape[-1]))

    def reference(x):
        order = np.argsort(-np.where(np.isnan(x), np.inf, x), axis=-1, kind="stable")[:, :k]
        return np.take_along_axis(x, order, -1), order

    assert_parity(lambda x: ops.topk(x, k), array, reference=reference)


@SETTINGS
@given(array=special_arrays(), data=st.data())
def test_argmax_and_argmin_pick_the_first_nan_as_numpy(array, data):
    axis = data.draw(st.none() | st.integers(-array.ndim, array.ndim - 1))
    assert_parity(lambda x: ops.argmax(x, axis), array, reference=lambda x: np.argmax(x, axis))
    assert_parity(lambda x: ops.argmin(x, axis), array, reference=lambda x: np.argmin(x, axis))


# --- empty reductions ----------------------------------------------------------------------
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), data=st.data())
def test_max_min_argmax_over_no_elements_raise_as_numpy(shape, data):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    array = np.ones(shape, np.float32)
    for name in ("max", "min", "argmax", "argmin"):
        try:
            expected = getattr(np, name)(array, axis=axis)
        except ValueError:
            for backend in parity_backends():
                with pytest.raises(
                    br.ShapeError, match=f"{name}: reduction over an axis of size zero"
                ) as info:
                    getattr(ops, name)(br.tensor(array, backend=backend), axis)
                assert isinstance(info.value, ValueError)
        else:
            fn = getattr(ops, name)
            assert_parity(lambda x, fn=fn: fn(x, axis), array, reference=lambda x, out=expected: out)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), data=st.data())
def test_logsumexp_of_no_elements_is_minus_infinity(shape, data):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    array = np.zeros(shape, np.float32)

    def reference(x):
        with np.errstate(divide="ignore"):  # log(0) = -inf is the answer
            return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))

    assert_parity(lambda x: ops.logsumexp(x, axis, keepdims=keepdims), array, reference=reference)


# --- out-of-range indices ------------------------------------------------------------------
@SETTINGS
@given(size=st.integers(1, 5), data=st.data())
def test_out_of_range_indices_raise_index_error_naming_op_index_and_size(bridge_backend, size, data):
    indices = np.array(data.draw(st.lists(st.integers(-2 * size - 1, 2 * size + 1), min_size=1, max_size=4)))
    x_np = np.arange(3.0 * size, dtype=np.float32).reshape(3, size)
    x, index = br.tensor(x_np), br.tensor(indices)
    bad = indices[(indices < -size) | (indices >= size)]
    calls = {
        "take": lambda: ops.take(x, index, axis=1),
        "take_along_axis": lambda: ops.take_along_axis(x, ops.reshape(index, (1, -1)), 1),
        "getitem": lambda: x[:, index],
    }
    references = {
        "take": lambda: np.take(x_np, indices, axis=1),
        "take_along_axis": lambda: np.take_along_axis(x_np, indices.reshape(1, -1), 1),
        "getitem": lambda: x_np[:, indices],
    }
    for name, call in calls.items():
        if bad.size:
            with pytest.raises(
                br.IndexOutOfRangeError, match=f"{name}: index {bad[0]} .* axis 1 of size {size}"
            ):
                call()
        else:
            np.testing.assert_array_equal(call().numpy(), references[name]())
    assert issubclass(br.IndexOutOfRangeError, IndexError)


@br.jit(**QUICK)
def gathers(x, index):
    return (
        ops.take(x, index, axis=1),
        ops.take_along_axis(x, ops.broadcast_to(ops.reshape(index, (1, -1)), (2, index.shape[0])), 1),
        x[:, index],
    )


@pytest.mark.bridge_requires("jit")
@pytest.mark.slow  # a compilation per example
@SETTINGS
@given(size=st.integers(1, 5), data=st.data())
def test_jit_clamps_out_of_range_indices_the_same_on_every_backend(size, data):
    indices = np.array(data.draw(st.lists(st.integers(-2 * size - 1, 2 * size + 1), min_size=1, max_size=4)))
    x = np.arange(2.0 * size, dtype=np.float32).reshape(2, size)

    def reference(x, index):
        clamped = np.clip(np.where(index < 0, index + size, index), 0, size - 1)
        return (x[:, clamped], x[:, clamped], x[:, clamped])

    assert_parity(gathers, x, indices, reference=reference, requires=("jit",))


def test_embedding_rejects_ids_outside_the_table(bridge_backend):
    layer = br.nn.Embedding(5, 2, embeddings_initializer="ones")
    np.testing.assert_array_equal(layer(br.tensor([0, 4])).numpy(), np.ones((2, 2)))
    for ids in ([5], [1, -1]):
        with pytest.raises(
            br.IndexOutOfRangeError, match=r"Embedding .*index (5|-1) .* size 5 \(valid: 0..4\)"
        ):
            layer(br.tensor(ids))


@pytest.mark.bridge_requires("jit")
def test_embedding_clamps_ids_under_jit(bridge_backend):
    layer = br.nn.Embedding(3, 1)
    layer(br.tensor([0]))  # builds the table
    layer.embeddings.assign(br.tensor([[10.0], [20.0], [30.0]]))
    out = br.jit(lambda ids: layer(ids), **QUICK)(br.tensor([7, -2, 1]))
    np.testing.assert_array_equal(out.numpy(), [[30.0], [10.0], [20.0]])


# --- windows larger than the input ---------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda x: ops.conv2d(x, br.ones((3, 3, 1, 1)), dilation=2),
        lambda x: ops.conv2d(x, br.ones((5, 1, 1, 1))),
        lambda x: ops.conv2d(x, br.ones((1, 3, 1, 1)), dilation=(1, 3), data_format="channels_last"),
        lambda x: ops.max_pool2d(x, 5),
        lambda x: ops.avg_pool2d(x, (1, 6)),
    ],
)
def test_a_window_larger_than_the_input_is_a_shape_error(bridge_backend, call):
    with pytest.raises(br.ShapeError, match="larger than the padded input"):
        call(br.ones((1, 4, 4, 1)))


@SETTINGS
@given(size=st.integers(1, 6), window=st.integers(1, 4), dilation=st.integers(1, 3))
def test_conv_and_pool_at_the_window_size_limit(size, window, dilation):
    x = np.arange(size * size, dtype=np.float32).reshape(1, size, size, 1)
    span = (window - 1) * dilation + 1
    kernel = np.ones((window, window, 1, 1), np.float32)
    if span > size:
        for backend in parity_backends():
            with pytest.raises(br.ShapeError, match="conv2d"):
                ops.conv2d(
                    br.tensor(x, backend=backend), br.tensor(kernel, backend=backend), dilation=dilation
                )
        return

    def reference(x, kernel):
        out = size - span + 1
        return np.array(
            [
                [
                    [[x[0, i : i + span : dilation, j : j + span : dilation, 0].sum()] for j in range(out)]
                    for i in range(out)
                ]
            ]
        )

    assert_parity(lambda x, k: ops.conv2d(x, k, dilation=dilation), x, kernel, reference=reference)
    if window <= size:
        out = size // window
        expected = x[0, : out * window, : out * window, 0].reshape(out, window, out, window).max(axis=(1, 3))
        assert_parity(
            lambda x: ops.max_pool2d(x, window), x, reference=lambda x: expected.reshape(1, out, out, 1)
        )


# --- NaN through compiled code -------------------------------------------------------------
def dense_relu(x, w, c):
    return ops.relu(x @ w + c)  # TensorFlow's remapper fuses this into one oneDNN kernel


dense_relu_jit = br.jit(dense_relu, **QUICK)


@pytest.mark.bridge_requires("jit")
@SETTINGS
@given(
    x=hnp.arrays(np.float32, (3, 4), elements=floats32(-2, 2) | st.just(np.nan)),
    w=hnp.arrays(np.float32, (4, 5), elements=floats32(-2, 2)),
    c=hnp.arrays(np.float32, (5,), elements=floats32(-2, 2)),
)
def test_jit_keeps_nan_through_matmul_bias_relu(x, w, c):
    def reference(x, w, c):
        return np.maximum(x @ w + c, 0)  # NaN where a row of x has one, as eager Relu

    assert_parity(dense_relu, x, w, c, reference=reference, rtol=1e-4, atol=1e-4)
    assert_parity(dense_relu_jit, x, w, c, reference=reference, rtol=1e-4, atol=1e-4, requires=("jit",))


@pytest.mark.bridge_requires("jit")
def test_jit_keeps_nan_through_conv_bias_relu(bridge_backend):
    x = np.ones((1, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = np.nan
    kernel, bias = br.ones((3, 3, 1, 2)), br.zeros((2,))
    out = br.jit(lambda x: ops.relu(ops.conv2d(x, kernel) + bias), **QUICK)(br.tensor(x)).numpy()
    assert np.isnan(out[0, 0, 0]).all() and (out[0, 1, 1] == 9).all()


@pytest.mark.bridge_requires("jit", "autodiff")
def test_relu_gradient_at_zero_is_zero_under_jit(bridge_backend):
    grad = br.jit(br.grad(lambda x: ops.sum(ops.relu(x))), **QUICK)
    np.testing.assert_array_equal(grad(br.tensor([-1.0, 0.0, 2.0])).numpy(), [0.0, 0.0, 1.0])


# --- Python values of tensors inside jit ---------------------------------------------------
@pytest.mark.bridge_requires("jit")
def test_python_if_on_a_tensor_inside_jit_says_what_to_do(bridge_backend):
    def branchy(x):
        if ops.sum(x) > 0:
            return x * 2
        return x

    np.testing.assert_array_equal(branchy(br.ones((2,))).numpy(), [2.0, 2.0])  # eager: fine
    with pytest.raises(br.TracedValueError, match=r"inside br.jit.*ops.where") as info:
        br.jit(branchy, **QUICK)(br.ones((2,)))
    assert isinstance(info.value, TypeError)


@pytest.mark.bridge_requires("jit")
def test_repr_of_a_tensor_inside_jit_does_not_fail(bridge_backend):
    seen = []

    def show(x):
        seen.append(repr(x))
        return x + 1

    np.testing.assert_array_equal(br.jit(show, **QUICK)(br.ones((2,))).numpy(), [2.0, 2.0])
    assert "shape=(2,)" in seen[-1] or "2." in seen[-1]


# --- custom gradients ----------------------------------------------------------------------
@pytest.mark.bridge_requires("autodiff", "jit")
@pytest.mark.parametrize("compiled", [False, True])
def test_custom_gradient_of_the_wrong_shape_is_a_shape_error(bridge_backend, compiled):
    @br.custom_gradient
    def double(x):
        return x * 2, lambda dy: ops.ones((3,))

    grad = br.grad(lambda x: ops.sum(double(x)))
    if compiled:
        grad = br.jit(grad, **QUICK)
    with pytest.raises(
        br.ShapeError, match=r"custom_gradient\(double\).*shape \(3,\) for input 0 of shape \(2,\)"
    ):
        grad(br.ones((2,)))


# --- argument checks -----------------------------------------------------------------------
def test_int_arguments_of_gathers_are_never_truncated(bridge_backend):
    x = br.ones((2, 3))
    with pytest.raises(TypeError, match="topk: k must be an int, got 1.0") as info:
        ops.topk(x, 1.0)
    assert isinstance(info.value, br.BridgeError)
    with pytest.raises(TypeError, match="one_hot: num_classes must be an int, got 2.5"):
        ops.one_hot(br.tensor([0, 1]), 2.5)


def test_a_zero_slice_step_is_an_invalid_argument(bridge_backend):
    x = br.ones((2, 3))
    for call in (lambda: x[::0], lambda: x[:, 1:3:0], lambda: x.at[::0].set(1.0)):
        with pytest.raises(br.InvalidArgumentError, match="slice step cannot be zero"):
            call()


@pytest.mark.parametrize(
    "call, shape",
    [
        (lambda: ops.conv2d(br.ones((0, 4, 4, 1)), br.ones((1, 1, 1, 2)), strides=2), (0, 2, 2, 2)),
        (lambda: ops.conv2d(br.ones((0, 4, 4, 1)), br.ones((3, 3, 1, 2)), padding="same"), (0, 4, 4, 2)),
        (lambda: ops.conv2d(br.ones((1, 4, 4, 0)), br.ones((1, 1, 0, 2))), (1, 4, 4, 2)),
        (
            lambda: ops.conv2d(br.ones((1, 0, 4, 4)), br.ones((3, 3, 0, 2)), data_format="channels_first"),
            (1, 2, 2, 2),
        ),
        (lambda: ops.max_pool2d(br.ones((1, 4, 4, 0)), 1), (1, 4, 4, 0)),
        (lambda: ops.avg_pool2d(br.ones((0, 5, 5, 3)), 2, padding="same"), (0, 3, 3, 3)),
        (lambda: ops.max_pool2d(br.ones((0, 3, 5, 5)), 2, data_format="channels_first"), (0, 3, 2, 2)),
    ],
)
def test_conv_and_pool_of_no_elements_give_the_output_shape(bridge_backend, call, shape):
    out = call()
    assert out.shape == shape  # torch's conv/pool shape rules; zeros where there is an (empty) sum
    np.testing.assert_array_equal(out.numpy(), np.zeros(shape))


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8"])
@SETTINGS
@given(data=st.data())
def test_sort_argsort_topk_of_bool_and_small_ints(dtype, data):
    array = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=5)))
    assert_parity(lambda x: ops.sort(x), array, reference=lambda x: np.sort(x))
    assert_parity(lambda x: ops.argsort(x), array, reference=lambda x: np.argsort(x, kind="stable"))
    k = data.draw(st.integers(0, array.shape[-1]))
    values = assert_parity(lambda x: ops.topk(x, k)[0], array)
    expected = -np.sort(-array.astype(np.int64), axis=-1)[..., :k]
    for value in values.values():
        np.testing.assert_array_equal(value.astype(np.int64), expected)


@SETTINGS
@given(
    x=hnp.arrays(
        np.float32,
        (2, 4, 6, 3),
        elements=floats32(-5, 5) | st.sampled_from([np.nan, -np.inf, np.finfo(np.float32).min]),
    ),
    window=st.sampled_from([1, 2]),
)
def test_max_pool_propagates_nan_and_minus_infinity_as_numpy(x, window):
    def reference(x):
        n, h, w, c = x.shape
        blocks = x[:, : h // window * window, : w // window * window]
        return blocks.reshape(n, h // window, window, w // window, window, c).max(axis=(2, 4))

    assert_parity(lambda x: ops.max_pool2d(x, window), x, reference=reference)
