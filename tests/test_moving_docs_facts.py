"""Facts the "moving between frameworks" pages state (parity testing, framework differences,
errors) that no other test pins."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import bridge as br
from bridge import losses, nn, optim
from bridge.testing import assert_layer_parity, assert_parity, assert_training_parity

from .keras_reference import keras_json


@pytest.mark.parametrize(
    "check",
    [
        lambda: assert_parity(lambda x: x, np.ones(2, np.float32), backends=[]),
        lambda: assert_layer_parity(lambda: nn.Dense(2), np.ones((2, 3), np.float32), backends=[]),
        lambda: assert_training_parity(
            lambda: nn.Dense(2), np.ones((2, 3), np.float32), np.ones(2), backends=[]
        ),
    ],
)
def test_parity_checks_with_no_backend_to_run_on_fail_clearly(check) -> None:
    with pytest.raises(AssertionError, match="no backend"):
        check()


# --- docs/topics/errors.md ------------------------------------------------------------------
def test_every_error_class_is_a_bridge_error_and_its_builtins() -> None:
    table = {
        br.UnknownBackendError: (ValueError,),
        br.FrameworkNotInstalledError: (ImportError,),
        br.IncompatibleBackendError: (ImportError,),
        br.BackendMismatchError: (TypeError,),
        br.ShapeError: (ValueError,),
        br.DTypeError: (TypeError,),
        br.AxisError: (ValueError, IndexError),
        br.IndexOutOfRangeError: (IndexError,),
        br.InvalidArgumentError: (ValueError,),
        br.ArgumentTypeError: (ValueError, TypeError),
        br.TracedValueError: (TypeError,),
        br.DeviceError: (ValueError,),
        br.BackendOpError: (RuntimeError,),
        br.UnsupportedFeatureError: (RuntimeError,),
        br.NonFiniteError: (FloatingPointError, ArithmeticError),
        nn.NotCompiledError: (RuntimeError,),
        nn.NotBuiltError: (RuntimeError,),
    }
    for error, builtins in table.items():
        assert issubclass(error, br.BridgeError)
        assert all(issubclass(error, builtin) for builtin in builtins), error
    assert issubclass(br.ArgumentTypeError, br.InvalidArgumentError)


def _message(call: Callable[[], object]) -> tuple[str, str]:
    try:
        call()
    except br.BridgeError as error:
        return type(error).__name__, str(error)
    raise AssertionError("no error")


def _fit_before_compile() -> None:
    nn.Sequential([nn.Dense(1)]).fit(np.ones((4, 2), np.float32), np.ones(4, np.float32), verbose=0)


ERROR_CASES: dict[str, Callable[[], object]] = {
    "broadcast": lambda: br.ones((2, 3)) + br.ones((4,)),
    "dense": lambda: [
        layer(np.ones((2, n), np.float32)) for layer in [nn.Dense(3, name="hidden")] for n in (4, 5)
    ],
    "dtype": lambda: br.zeros((2,), dtype="float8"),
    "axis": lambda: br.ones((2, 3)).sum(axis=2),
    "embedding": lambda: nn.Embedding(10, 4, name="words")(np.array([[1, 12]])),
    "label": lambda: losses.SparseCategoricalCrossentropy(from_logits=True)(
        np.array([0, 3]), np.zeros((2, 3), np.float32)
    ),
    "jit": lambda: br.jit(lambda x: x if x.sum() > 0 else -x)(br.ones((2,))),
    "float size": lambda: br.zeros((2, 2.5)),
    "singular": lambda: br.linalg.inv(br.zeros((2, 2))).numpy(),
    "solve": lambda: br.linalg.solve(br.zeros((2, 2)), br.ones((2, 1))).numpy(),
    "not compiled": _fit_before_compile,
}


@pytest.mark.needs("torch", "tensorflow")
def test_error_messages_are_the_same_on_both_backends() -> None:
    """The errors page shows these messages once, for both backends."""
    for name, call in ERROR_CASES.items():
        messages = []
        for backend in ("torch", "tensorflow"):
            with br.use_backend(backend):
                messages.append(_message(call))
        assert messages[0] == messages[1], name


# --- docs/guides/framework-differences.md -----------------------------------------------------
def _adam_first_step(gradient: float) -> float:
    variable = br.Variable(np.zeros(1, np.float32))
    optim.Adam(learning_rate=0.001).apply([br.tensor([gradient])], [variable])
    return float(variable.numpy()[0])


@pytest.mark.needs("torch")
def test_adam_epsilon_sits_where_keras_puts_it_not_where_torch_does(backend) -> None:
    import torch

    # Keras: lr * sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps); torch: lr * m_hat / (sqrt(v_hat) + eps)
    beta_2, epsilon, gradient = 0.999, 1e-7, 1e-6
    keras_step = -0.001 * np.sqrt(1 - beta_2) * gradient / (np.sqrt(1 - beta_2) * gradient + epsilon)
    np.testing.assert_allclose(_adam_first_step(gradient), keras_step, rtol=1e-5)
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    torch_adam = torch.optim.Adam([parameter], lr=0.001)
    parameter.grad = torch.tensor([gradient], dtype=torch.float64)
    torch_adam.step()
    assert parameter.item() == pytest.approx(-0.001 * gradient / (gradient + 1e-8))
    assert abs(keras_step) < 0.25 * abs(parameter.item())  # tiny gradients: a much smaller step
    assert _adam_first_step(1.0) == pytest.approx(-0.001, rel=1e-4)  # large gradients: both about lr


@pytest.mark.needs("torch")
def test_torch_batch_norm_ported_with_momentum_one_minus_and_its_epsilon(backend) -> None:
    import torch

    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32) * 2 + 1
    theirs = torch.nn.BatchNorm1d(3)  # momentum 0.1 (weight of the batch), eps 1e-5
    ours = nn.BatchNormalization(momentum=0.9, epsilon=1e-5)
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours(x, training=True).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-6)
    # the moving variance: Keras (and bridge) average the batch's biased variance, torch the unbiased
    np.testing.assert_allclose(ours.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-5)
    np.testing.assert_allclose(theirs.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)


@pytest.mark.needs("torch")
def test_torch_weights_load_transposed_into_dense_and_conv2d(backend) -> None:
    import torch

    rng = np.random.default_rng(0)
    linear = torch.nn.Linear(4, 3)
    dense = nn.Dense(3)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    dense.build((2, 4))
    dense.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])
    np.testing.assert_allclose(
        dense(x).numpy(), linear(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )

    conv = torch.nn.Conv2d(2, 5, 3)
    ours = nn.Conv2D(5, 3)
    images = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)  # torch: channels first
    ours.build((1, 6, 6, 2))
    ours.set_weights([conv.weight.detach().numpy().transpose(2, 3, 1, 0), conv.bias.detach().numpy()])
    got = ours(images.transpose(0, 2, 3, 1)).numpy().transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, conv(torch.tensor(images)).detach().numpy(), rtol=1e-4, atol=1e-5)


_KERAS_DEFAULTS = """
import json
import keras

batch_norm = keras.layers.BatchNormalization().get_config()
adam = keras.optimizers.Adam().get_config()
print(json.dumps({
    "batch_norm": [batch_norm["momentum"], batch_norm["epsilon"]],
    "adam": [adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"]],
    "conv_data_format": keras.layers.Conv2D(2, 3).get_config()["data_format"],
    "sparse_from_logits": keras.losses.SparseCategoricalCrossentropy().get_config()["from_logits"],
}))
"""


@pytest.mark.needs("keras", "tensorflow")
def test_keras_defaults_for_layers_and_optimizers() -> None:
    """The defaults docs/guides/framework-differences.md says bridge shares with Keras, read from
    the installed Keras (in a subprocess: Keras fixes its backend when imported)."""
    keras = keras_json(_KERAS_DEFAULTS, "tensorflow")
    batch_norm, adam = nn.BatchNormalization(), optim.Adam()
    ours = {
        "batch_norm": [batch_norm.momentum, batch_norm.epsilon],
        "adam": [adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon],
        "conv_data_format": nn.Conv2D(2, 3).data_format,
        "sparse_from_logits": losses.SparseCategoricalCrossentropy().from_logits,
    }
    assert sorted(ours) == sorted(keras)
    for key, value in ours.items():  # approx: Keras keeps its learning rate in float32
        assert value == (pytest.approx(keras[key], rel=1e-6) if isinstance(value, list) else keras[key]), key


def test_a_layer_built_by_hand_keeps_its_weights_on_its_first_call(backend) -> None:
    """As Keras: ``layer.build(shape)`` then ``set_weights`` (how weights are ported from another
    framework) is not undone by the first call building the layer again."""
    dense = nn.Dense(3)
    dense.build((None, 4))
    assert dense.built
    kernel = np.arange(12, dtype=np.float32).reshape(4, 3)
    dense.set_weights([kernel, np.ones(3, np.float32)])
    out = dense(np.ones((1, 4), np.float32))
    assert len(dense.weights) == 2
    np.testing.assert_array_equal(out.numpy(), kernel.sum(0, keepdims=True) + 1)
