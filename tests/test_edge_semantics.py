"""Edge cases where the frameworks disagree, or coerce silently: bridge gives NumPy's answer (or
a clear error) on every backend. References are NumPy (float64 where it matters), torch for
torch-shaped hyper-parameters and Keras 3 for Keras-shaped ones."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge import nn

from .keras_reference import keras_json

INT_DTYPES = ["int8", "int32", "int64", "uint8"]


def _numpy(fn, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


# --- silent coercions ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", INT_DTYPES)
@given(value=st.integers(-(2**70), 2**70))
def test_integer_data_out_of_range_is_an_error_not_wrapped(backend, dtype, value):
    info = np.iinfo(dtype)
    if info.min <= value <= info.max:
        assert br.tensor([value], dtype=dtype).numpy().tolist() == [value]
        assert br.full((2,), value, dtype=dtype).numpy().tolist() == [value, value]
    else:
        with pytest.raises(
            br.InvalidArgumentError, match=f"tensor: value {value} is out of bounds for {dtype}"
        ):
            br.tensor([value], dtype=dtype)
        with pytest.raises(br.InvalidArgumentError, match="full: "):
            br.full((2,), value, dtype=dtype)


@pytest.mark.parametrize("value", [2**63, 2**64 + 1, -(2**70)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_python_ints_beyond_int64_become_floats(backend, dtype, value):
    got = br.tensor([value, 1], dtype=dtype).numpy()
    np.testing.assert_array_equal(got, np.array([float(value), 1.0], dtype=dtype))
    with pytest.raises(br.InvalidArgumentError, match="too large"):
        br.tensor([10**400], dtype=dtype)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@given(value=st.floats(allow_nan=True, allow_infinity=True, width=64))
def test_float_data_to_integers_truncates_or_refuses(backend, dtype, value):
    info = np.iinfo(dtype)
    if np.isfinite(value) and info.min - 1 < value < info.max + 1:
        assert br.tensor([value], dtype=dtype).numpy().tolist() == [int(value)]  # NumPy truncates
    else:
        with pytest.raises(br.InvalidArgumentError, match="tensor: "):
            br.tensor([value], dtype=dtype)


def test_float_axes_and_sizes_are_refused_not_truncated(backend):
    x = br.ones((2, 2))
    cases = {
        "sum": lambda: br.ops.sum(x, axis=0.5),
        "mean": lambda: br.ops.mean(x, axis=1.0),
        "softmax": lambda: br.ops.softmax(x, axis=0.5),
        "zeros": lambda: br.zeros((2.5,)),
        "full": lambda: br.full((2, 1.0), 0.0),
        "reshape": lambda: br.ops.reshape(x, (4.0,)),
        "eye": lambda: br.eye(2.5),
        "linspace": lambda: br.linspace(0.0, 1.0, 2.5),
        "uniform": lambda: br.random.uniform((2.5,)),
        "permutation": lambda: br.random.permutation(2.5),
    }
    for name, fn in cases.items():
        # np.sum(axis=0.5), np.zeros((2.5,)) raise TypeError; Keras' Dense(2.5) a ValueError: both
        with pytest.raises(br.ArgumentTypeError, match=f"^{name}: ") as info:
            fn()
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_negative_sizes_are_refused(backend):
    for name, fn in {
        "zeros": lambda: br.zeros((2, -1)),
        "full": lambda: br.full(-3, 1.0),
        "uniform": lambda: br.random.uniform((-2,)),
        "normal": lambda: br.random.normal((3, -1)),
        "randint": lambda: br.random.randint((-1,), 0, 3),
    }.items():
        with pytest.raises(br.InvalidArgumentError, match=f"^{name}: negative dimensions"):
            fn()


def test_none_is_not_a_dtype_or_a_value(backend):
    with pytest.raises(br.DTypeError, match="astype: dtype None"):
        br.ones((2,)).astype(None)
    variable = br.Variable(br.ones((2,)))
    with pytest.raises(br.DTypeError, match="assign: .* None"):
        variable.assign(None)
    assert variable.numpy().tolist() == [1.0, 1.0]


# --- random parameters ---------------------------------------------------------------------
@given(p=st.floats(allow_nan=True) | st.just(1.0 + 1e-6) | st.just(-0.0))
def test_bernoulli_needs_a_probability(backend, p):
    if 0.0 <= p <= 1.0:
        draws = br.random.bernoulli(p, (64,), seed=1).numpy()
        assert draws.dtype == np.bool_
        if p in (0.0, 1.0):
            assert draws.tolist() == [bool(p)] * 64
    else:
        with pytest.raises(br.InvalidArgumentError, match="^bernoulli: p must be in"):
            br.random.bernoulli(p, (3,), seed=1)


def test_bernoulli_checks_tensor_probabilities_in_eager_code(backend):
    with pytest.raises(br.InvalidArgumentError, match="^bernoulli: p must be in"):
        br.random.bernoulli(br.tensor([0.5, 1.5]), seed=1)


@pytest.mark.parametrize("name", ["normal", "truncated_normal"])
@given(stddev=st.floats(max_value=-1e-30) | st.just(float("nan")))
def test_normal_needs_a_non_negative_stddev(backend, name, stddev):
    with pytest.raises(br.InvalidArgumentError, match=f"^{name}: stddev must be >= 0"):
        getattr(br.random, name)((3,), stddev=stddev, seed=0)
    assert np.all(getattr(br.random, name)((3,), stddev=0.0, mean=2.0, seed=0).numpy() == 2.0)


# --- elementwise semantics: NumPy's -------------------------------------------------------
_SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 2.0, -2.5, 7.0, np.inf, -np.inf, np.nan])
# magnitudes >= 1e-3 keep results clear of subnormals, which TensorFlow flushes to zero on CPU
_SPECIAL_OR_ANY = _SPECIAL | st.floats(2.0**-10, 1e6, width=32) | st.floats(-1e6, -(2.0**-10), width=32)


@pytest.mark.parametrize("name", ["floor_divide", "mod"])
@given(data=st.data())
def test_float_floor_divide_and_mod_match_numpy_on_special_values(backend, name, data):
    a = data.draw(hnp.arrays(np.float32, (6,), elements=_SPECIAL_OR_ANY))
    b = data.draw(hnp.arrays(np.float32, (6,), elements=_SPECIAL_OR_ANY))
    got = getattr(br.ops, name)(br.tensor(a), br.tensor(b)).numpy()
    np.testing.assert_array_equal(got, _numpy(getattr(np, name), a, b))  # NaN == NaN here


def test_floor_divide_cases_the_frameworks_disagreed_on(backend):
    x = br.tensor(np.array([np.inf, -np.inf, 1.0, -1.0], np.float32))
    y = br.tensor(np.array([2.0, 2.0, 0.1, np.inf], np.float32))
    np.testing.assert_array_equal((x // y).numpy(), [np.nan, np.nan, 9.0, -1.0])  # as NumPy float32
    half = br.ops.floor_divide(x.astype("float16"), y.astype("float16")).numpy()
    np.testing.assert_array_equal(
        half, _numpy(np.floor_divide, x.numpy().astype(np.float16), y.numpy().astype(np.float16))
    )


@given(x=hnp.arrays(np.float32, (5,), elements=_SPECIAL_OR_ANY))
def test_sign_keeps_nan(backend, x):
    np.testing.assert_array_equal(br.ops.sign(br.tensor(x)).numpy(), np.sign(x))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(x=hnp.arrays(np.float32, (3, 4), elements=_SPECIAL | st.floats(-20, 20, width=32)))
def test_softmax_rows_with_nan_or_inf_match_numpy(backend, name, x):
    z = x.astype(np.float64)
    with np.errstate(all="ignore"):
        shifted = z - z.max(axis=-1, keepdims=True)  # NaN rows and +inf rows become NaN
        total = np.exp(shifted).sum(axis=-1, keepdims=True)
        expected = np.exp(shifted) / total if name == "softmax" else shifted - np.log(total)
    got = getattr(br.ops, name)(br.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # NaN positions must agree


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
@given(data=st.data())
def test_integer_power_matches_numpy_and_refuses_negative_exponents(backend, dtype, data):
    base = data.draw(hnp.arrays(dtype, (4,), elements=st.integers(-3, 3)))
    exponent = data.draw(hnp.arrays(dtype, (4,), elements=st.integers(-2, 3)))
    if (exponent < 0).any():
        with pytest.raises(br.InvalidArgumentError, match="^power: integers to negative integer powers"):
            br.tensor(base) ** br.tensor(exponent)
    else:
        got = (br.tensor(base) ** br.tensor(exponent)).numpy()
        np.testing.assert_array_equal(got, np.power(base, exponent))
        assert got.dtype == np.dtype(dtype)
    with pytest.raises(br.InvalidArgumentError, match="^power: "):
        br.tensor(base) ** -1
    with pytest.raises(ValueError, match="Integers to negative integer powers"):  # the reference
        np.power(base, np.full_like(base, -1))


@pytest.mark.slow
@pytest.mark.bridge_requires("jit")
def test_integer_power_with_negative_exponents_under_jit_truncates(backend):
    base, exponent = br.tensor([2, 1, -1, -1, 0, 3]), br.tensor([-1, -3, -3, -2, -1, 2])
    got = br.jit(lambda a, b: a**b)(base, exponent).numpy()
    assert got.tolist() == [0, 1, -1, 1, 0, 9]  # trunc(x ** n): 1 / 2 -> 0


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("name", ["left_shift", "right_shift"])
@given(data=st.data())
def test_shifts_by_counts_outside_the_bit_width_match_numpy(backend, dtype, name, data):
    info, bits = np.iinfo(dtype), np.dtype(dtype).itemsize * 8
    x = data.draw(hnp.arrays(dtype, (6,), elements=st.integers(info.min, info.max)))
    counts = data.draw(
        hnp.arrays(dtype, (6,), elements=st.integers(max(info.min, -3), min(info.max, bits + 3)))
    )
    got = getattr(br.ops, name)(br.tensor(x), br.tensor(counts)).numpy()
    np.testing.assert_array_equal(got, getattr(np, name)(x, counts))
    scalar = getattr(br.ops, name)(br.tensor(x), bits + 1).numpy()
    np.testing.assert_array_equal(scalar, getattr(np, name)(x, np.full_like(x, bits + 1)))


@pytest.mark.parametrize("name", ["negative", "abs", "sign"])
@given(x=hnp.arrays(np.uint8, (6,)))
def test_unsigned_negative_wraps_as_numpy(backend, name, x):
    got = getattr(br.ops, name)(br.tensor(x))
    np.testing.assert_array_equal(got.numpy(), getattr(np, name)(x))
    assert got.dtype == "uint8"


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("name", ["sqrt", "rsqrt"])
def test_untaken_branch_of_where_gets_zero_gradient(backend, name):
    f = getattr(br.ops, name)
    x = br.tensor([-1.0, 0.0, 4.0])
    grad = br.grad(lambda x: br.ops.sum(br.ops.where(x > 0, f(x), 0.0)))(x).numpy()
    expected = 0.5 / np.sqrt(4.0) if name == "sqrt" else -0.5 * 4.0**-1.5
    np.testing.assert_allclose(grad, [0.0, 0.0, expected], rtol=1e-6)
    # the taken branch keeps the usual derivatives, including the second one
    second = br.grad(br.grad(lambda t: f(t)))(br.tensor(4.0)).numpy()
    np.testing.assert_allclose(second, [-0.25 * 4.0**-1.5 if name == "sqrt" else 0.75 * 4.0**-2.5], rtol=1e-6)


def test_cholesky_of_a_matrix_that_is_not_positive_definite(backend):
    batch = np.array([[[1.0, 2.0], [2.0, 1.0]], [[4.0, 0.0], [0.0, 9.0]]], np.float32)
    with pytest.raises(np.linalg.LinAlgError):  # the reference
        np.linalg.cholesky(batch.astype(np.float64))
    with pytest.raises(
        br.InvalidArgumentError, match=r"^cholesky: matrix is not positive definite.*\[\[0\]\]"
    ):
        br.linalg.cholesky(br.tensor(batch))
    np.testing.assert_allclose(br.linalg.cholesky(br.tensor(batch[1])).numpy(), [[2.0, 0.0], [0.0, 3.0]])


@pytest.mark.slow
@pytest.mark.bridge_requires("jit")
def test_cholesky_under_jit_gives_nan_factors_for_failed_matrices(backend):
    batch = np.array([[[1.0, 2.0], [2.0, 1.0]], [[4.0, 0.0], [0.0, 9.0]]], np.float32)
    got = br.jit(br.linalg.cholesky)(br.tensor(batch)).numpy()
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1], np.linalg.cholesky(batch[1].astype(np.float64)), rtol=1e-6)


def test_solve_with_a_nan_or_inf_matrix_gives_nan_as_inv(backend):
    # torch returned NaN where TensorFlow called such a matrix singular (found by hypothesis)
    a = np.array([[[np.nan, 0, 0], [0, 0, 0], [0, 0, 0]], [[2, 0, 0], [0, 4, 0], [0, 0, np.inf]],
                  [[2, 0, 0], [0, 4, 0], [0, 0, 1]]], np.float32)  # fmt: skip
    b = np.ones((3, 3), np.float32)[..., None]
    got = br.linalg.solve(br.tensor(a), br.tensor(b)).numpy()
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2, :, 0], [0.5, 0.25, 1.0])
    assert np.isnan(br.linalg.inv(br.tensor(a[:2])).numpy()).all()


# --- errors name the op the user called ----------------------------------------------------
def test_errors_name_the_outer_op(backend):
    x = br.ones((2,))
    for name, fn in {
        "mean": lambda: br.ops.mean(x, axis=5),
        "std": lambda: br.ops.std(x, axis=5),
        "var": lambda: br.ops.var(x, axis=(0, 3)),
    }.items():
        with pytest.raises(br.AxisError, match=f"^{name}: axis"):
            fn()


def test_bad_data_errors_name_the_op(backend):
    x = br.ones((2,))
    with pytest.raises(br.DTypeError, match=r"^add: cannot make a tensor of str 'a'"):
        x + "a"
    with pytest.raises(br.DTypeError, match=r"^sqrt: cannot make a tensor of str"):
        br.ops.sqrt("a")
    with pytest.raises(br.ShapeError, match=r"^tensor: cannot make a tensor of list \[\[1, 2\], \[3\]\]"):
        br.tensor([[1, 2], [3]])
    with pytest.raises(br.ShapeError, match=r"^multiply: cannot make a tensor of list"):
        x * [[1, 2], [3]]


def test_metric_and_layer_errors_name_them(backend):
    with pytest.raises(br.ShapeError, match=r"^Accuracy 'accuracy': shapes \(2, 3\) and \(4,\)"):
        br.metrics.Accuracy().update_state(br.ones((2, 3)), br.ones((4,)))
    layer = nn.BatchNormalization()
    layer(br.ones((2, 3)))
    with pytest.raises(br.ShapeError, match=r"^batch_normalization\w*: BatchNormalization was built for"):
        layer(br.ones((2, 4)))
    layer = nn.LayerNormalization()
    layer(br.ones((2, 3)))
    with pytest.raises(br.ShapeError, match=r"^layer_normalization\w*: LayerNormalization was built for"):
        layer(br.ones((2, 4)))


# --- hyper-parameters ----------------------------------------------------------------------
@pytest.mark.needs("torch")  # torch is the reference
@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan")])
def test_huber_needs_a_positive_delta_as_torch(delta):
    import torch

    with pytest.raises(RuntimeError, match="delta"):
        torch.nn.functional.huber_loss(torch.ones(2), torch.zeros(2), delta=delta)
    with pytest.raises(br.InvalidArgumentError, match="^Huber: delta must be positive"):
        br.losses.Huber(delta=delta)


_KERAS_CASES = """
import json, numpy as np, keras
def outcome(fn):
    try:
        fn()
        return "ok"
    except Exception as exc:
        return [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"][0]
x = np.ones((2, 3), np.float32)
print(json.dumps({
    "dense_float_units": outcome(lambda: keras.layers.Dense(2.5)),
    "dense_zero_units": outcome(lambda: keras.layers.Dense(0)),
    "conv_float_filters": outcome(lambda: keras.layers.Conv2D(2.5, 3)(np.ones((1, 4, 4, 1), np.float32))),
    "layer_norm_axis": outcome(lambda: keras.layers.LayerNormalization(axis=5)(x)),
    "batch_norm_axis": outcome(lambda: keras.layers.BatchNormalization(axis=5)(x)),
}))
"""


@pytest.fixture(scope="module", params=["tensorflow", "torch"])
def keras_outcomes(request):
    """Which builtin error Keras 3 raises for each bad hyper-parameter (one process per backend)."""
    return keras_json(_KERAS_CASES, backend=request.param)


@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
def test_layer_hyper_parameters_fail_as_in_keras(backend, keras_outcomes):
    x = br.ones((2, 3))
    ours = {
        "dense_float_units": lambda: nn.Dense(2.5),
        "dense_zero_units": lambda: nn.Dense(0),
        "conv_float_filters": lambda: nn.Conv2D(2.5, 3),
        "layer_norm_axis": lambda: nn.LayerNormalization(axis=5)(x),
        "batch_norm_axis": lambda: nn.BatchNormalization(axis=5)(x),
    }
    for case, fn in ours.items():
        builtin = {"ValueError": ValueError, "IndexError": IndexError}[keras_outcomes[case]]
        with pytest.raises(br.BridgeError) as info:
            fn()
        assert isinstance(info.value, builtin), (case, info.value)
    with pytest.raises(br.ArgumentTypeError, match="^Conv2D: kernel_size must be an int"):
        nn.Conv2D(2, 2.5)


@pytest.mark.parametrize("name", ["less", "less_equal", "greater", "greater_equal"])
@given(a=hnp.arrays(np.bool_, (4,)), b=hnp.arrays(np.bool_, (4,)))
def test_bool_comparisons_order_false_before_true(backend, name, a, b):
    got = getattr(br.ops, name)(br.tensor(a), br.tensor(b)).numpy()
    np.testing.assert_array_equal(got, getattr(np, name)(a, b))


@given(a=hnp.arrays(np.uint8, (5,)), b=hnp.arrays(np.uint8, (5,), elements=st.integers(0, 9)))
def test_unsigned_power_wraps_as_numpy(backend, a, b):
    got = br.ops.power(br.tensor(a), br.tensor(b))
    np.testing.assert_array_equal(got.numpy(), np.power(a, b))
    assert got.dtype == "uint8"


@pytest.mark.parametrize("dtype", INT_DTYPES)
@given(value=st.integers(-(2**63), 2**63 - 1))
def test_python_ints_must_fit_the_integer_tensor(backend, dtype, value):
    x = br.tensor(np.array([0, 1], dtype))
    info = np.iinfo(dtype)
    if info.min <= value <= info.max:
        np.testing.assert_array_equal(
            br.ops.minimum(value, x).numpy(), np.minimum(np.array([0, 1], dtype), value)
        )
    else:
        with pytest.raises(OverflowError):  # the reference (NumPy 2)
            np.minimum(value, np.array([0, 1], dtype))
        with pytest.raises(
            br.InvalidArgumentError, match=f"^minimum: Python integer {value} is out of bounds"
        ):
            br.ops.minimum(value, x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_at_infinity_and_floor_divide_by_a_python_zero(backend, dtype):
    x = br.tensor(np.array([np.inf, -np.inf, 0.5, 0.0], dtype))
    expected_erf = [1.0, -1.0, 0.5204998778130465, 0.0]
    np.testing.assert_allclose(br.ops.erf(x).numpy(), expected_erf, rtol=1e-6)
    np.testing.assert_array_equal((x // 0).numpy(), _numpy(np.floor_divide, x.numpy(), 0.0))


def test_softplus_at_infinity(backend):
    x = br.tensor(np.array([np.inf, -np.inf, 0.0, 30.0], np.float32))
    expected = np.logaddexp(0.0, x.numpy().astype(np.float64))
    np.testing.assert_allclose(br.ops.softplus(x).numpy(), expected, rtol=1e-6)


def test_float_pad_widths_and_repeats_are_refused(backend):
    x = br.ones((2,))
    with pytest.raises(TypeError):  # the reference
        np.pad(np.ones(2), 1.0)
    with pytest.raises(br.ArgumentTypeError, match="^pad: pad_width must hold ints"):
        br.ops.pad(x, 1.0)
    with pytest.raises(br.ArgumentTypeError, match="^repeat: repeats must be an int"):
        br.ops.repeat(x, 1.5)
    with pytest.raises(br.ArgumentTypeError, match="^repeat: repeats must be integers"):
        br.ops.repeat(x, [1.0, 2.0])
    assert br.ops.repeat(x, np.int64(2)).shape == (4,)


def test_pad_refuses_a_constant_its_integer_tensor_cannot_hold(backend):
    with pytest.raises(ValueError, match="NaN"):  # the reference
        np.pad(np.zeros(2, np.int32), 1, constant_values=np.nan)
    with pytest.raises(br.InvalidArgumentError, match="^pad: cannot convert NaN"):
        br.ops.pad(br.tensor(np.zeros(2, np.int32)), 1, constant_values=float("nan"))
    assert br.ops.pad(br.tensor(np.zeros(2, np.int32)), 1, constant_values=7).numpy().tolist() == [7, 0, 0, 7]
    assert br.ops.pad(br.tensor(1.0), 0).numpy() == 1.0  # a 0-d tensor has nothing to pad


def test_expand_dims_needs_an_axis(backend):
    with pytest.raises(TypeError):  # the reference
        np.expand_dims(np.zeros(2), None)
    with pytest.raises(br.ArgumentTypeError, match="^expand_dims: axis must be"):
        br.ops.expand_dims(br.ones((2,)), None)
    with pytest.raises(br.ArgumentTypeError, match="^expand_dims: axis must be an int"):
        br.ops.expand_dims(br.ones((2,)), 0.5)
