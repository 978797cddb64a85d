"""``bridge.testing.assert_equivalent`` against torch: hand-built ports of a torch MLP and a
small CNN (weights copied with their layout changes, ``_native_sources`` written by hand) are
proven equal; deliberately broken ports (a wrong weight, a wrong activation, BatchNorm's epsilon)
raise ``EquivalenceError`` naming the layer that breaks them. The reference is torch itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bridge as br
from bridge import nn
from bridge.interop._sources import LayerSource, WeightSource
from bridge.nn.torch_layers import TorchBatchNormalization
from bridge.testing import EquivalenceReport, assert_equivalent, parity_backends

pytestmark = pytest.mark.needs("torch")


@pytest.fixture(params=parity_backends(("autodiff", "variables")))
def backend(request: pytest.FixtureRequest) -> str:
    """The bridge backends a port can train on (the NumPy reference backend cannot)."""
    return request.param


def same(w: np.ndarray) -> np.ndarray:
    return w


def transposed(w: np.ndarray) -> np.ndarray:
    return w.T


def hwio(w: np.ndarray) -> np.ndarray:  # torch's OIHW kernel as Keras' HWIO
    return w.transpose(2, 3, 1, 0)


def nhwc(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1)


def torch_mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.4), torch.nn.Linear(8, 3)
    )


def mlp_port(
    module: torch.nn.Module, backend: str, activation: str = "relu", dtype: str = "float32"
) -> nn.Model:
    with br.use_backend(backend):
        model = nn.Sequential(
            [
                nn.Input((4,), dtype=dtype),
                nn.Dense(8, name="fc1", dtype=dtype),
                nn.Activation(activation, name="act", dtype=dtype),
                nn.Dropout(0.4, name="drop", dtype=dtype),
                nn.Dense(3, name="fc2", dtype=dtype),
            ],
            dtype=dtype,  # the model's own policy too: it casts the inputs (and their gradient)
        )
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    model.set_weights([state["0.weight"].T, state["0.bias"], state["3.weight"].T, state["3.bias"]])
    model._native_sources = [
        LayerSource(
            "fc1",
            "0",
            {
                "fc1/kernel": WeightSource(("0.weight",), transposed),
                "fc1/bias": WeightSource(("0.bias",), same),
            },
        ),
        LayerSource("act", "1"),
        LayerSource("drop", "2"),
        LayerSource(
            "fc2",
            "3",
            {
                "fc2/kernel": WeightSource(("3.weight",), transposed),
                "fc2/bias": WeightSource(("3.bias",), same),
            },
        ),
    ]
    model._native_framework = "torch"
    return model


def torch_cnn(batchnorm: bool) -> torch.nn.Module:
    torch.manual_seed(1)
    norm = [torch.nn.BatchNorm2d(4)] if batchnorm else []
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        *norm,
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 3 * 3, 3),
    )


def cnn_port(
    module: torch.nn.Module, backend: str, epsilon: float = 1e-5, keras_batchnorm: bool = False
) -> nn.Model:
    """The CNN on NCHW inputs, computed channels-last inside: Permute at the border, kernels
    OIHW -> HWIO, and the first Linear's rows reordered from (C, H, W) to (H, W, C). Its
    BatchNorm updates the running variance with the unbiased batch variance, as torch's
    (``keras_batchnorm``: with the biased one, as Keras', a wrong port)."""
    batchnorm = isinstance(module[1], torch.nn.BatchNorm2d)
    k = 1 if batchnorm else 0  # the index shift after the conv

    def dense_kernel(w: np.ndarray) -> np.ndarray:
        return w.reshape(3, 4, 3, 3).transpose(2, 3, 1, 0).reshape(36, 3)

    def flat_hwc(x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, 4, 3, 3).transpose(0, 2, 3, 1).reshape(-1, 36)

    with br.use_backend(backend):
        layers = [
            nn.Input((2, 6, 6)),
            nn.Permute((2, 3, 1), name="to_nhwc"),
            nn.Conv2D(4, 3, padding="same", name="conv"),
        ]
        if batchnorm:
            norm_layer = nn.BatchNormalization if keras_batchnorm else TorchBatchNormalization
            layers.append(norm_layer(momentum=0.9, epsilon=epsilon, name="bn"))
        layers += [
            nn.Activation("relu", name="relu"),
            nn.MaxPooling2D(2, name="pool"),
            nn.Flatten(name="flatten"),
            nn.Dense(3, name="fc"),
        ]
        model = nn.Sequential(layers)
    state = {key: value.detach().numpy() for key, value in module.state_dict().items()}
    fc = f"{4 + k}"
    values = [hwio(state["0.weight"]), state["0.bias"]]
    if batchnorm:
        values += [state["1.weight"], state["1.bias"], state["1.running_mean"], state["1.running_var"]]
    model.set_weights(values + [dense_kernel(state[f"{fc}.weight"]), state[f"{fc}.bias"]])
    sources = [
        LayerSource(
            "conv",
            "0",
            {"conv/kernel": WeightSource(("0.weight",), hwio), "conv/bias": WeightSource(("0.bias",), same)},
            nhwc,
        )
    ]
    if batchnorm:
        names = {
            "gamma": "weight",
            "beta": "bias",
            "moving_mean": "running_mean",
            "moving_variance": "running_var",
        }
        sources.append(
            LayerSource(
                "bn",
                "1",
                {f"bn/{ours}": WeightSource((f"1.{theirs}",), same) for ours, theirs in names.items()},
                nhwc,
            )
        )
    sources += [
        LayerSource("relu", f"{1 + k}", output=nhwc),
        LayerSource("pool", f"{2 + k}", output=nhwc),
        LayerSource("flatten", f"{3 + k}", output=flat_hwc),
        LayerSource(
            "fc",
            fc,
            {
                "fc/kernel": WeightSource((f"{fc}.weight",), dense_kernel),
                "fc/bias": WeightSource((f"{fc}.bias",), same),
            },
        ),
    ]
    model._native_sources = sources
    model._native_framework = "torch"
    return model


def inputs(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    ("optimizer", "momentum", "learning_rate"), [("sgd", 0.0, 0.05), ("sgd", 0.9, 0.05), ("adam", 0.0, 0.01)]
)
def test_mlp_port_is_proven_with_ten_steps(
    backend: str, optimizer: str, momentum: float, learning_rate: float
) -> None:
    module = torch_mlp()
    before = [p.detach().clone() for p in module.parameters()]
    port = mlp_port(module, backend)
    weights = port.get_weights()
    report = assert_equivalent(
        module,
        port,
        inputs(5, 4),
        train_steps=10,
        optimizer=optimizer,
        momentum=momentum,
        learning_rate=learning_rate,
    )
    assert isinstance(report, EquivalenceReport) and report.passed
    phases = {c.phase for c in report.comparisons}
    assert phases == {"weights", "eval", "training", "gradients", "steps", "final weights"}
    assert {c.layer for c in report.comparisons} == {"fc1", "act", "drop", "fc2", None}
    assert sum(c.phase == "steps" for c in report.comparisons) == 11  # 10 before a step, 1 after
    for phase in ("eval", "training", "gradients", "steps", "final weights"):
        assert report.worst(phase).max_rel <= 1e-5, report
    # training mode ran with dropout off on both sides, put back after; both models untouched
    assert any("dropout" in note for note in report.notes)
    assert module[2].p == 0.4 and port.get_layer("drop").rate == 0.4 and module.training
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters()))
    assert all(np.array_equal(a, b) for a, b in zip(weights, port.get_weights()))


def test_float64_ports_are_held_to_1e_10(backend: str) -> None:
    module = torch_mlp().double()
    x = np.random.default_rng(3).standard_normal((5, 4))
    report = assert_equivalent(
        module, mlp_port(module, backend, dtype="float64"), x, train_steps=10, momentum=0.9
    )
    assert report.dtype == "float64" and report.rtol == 1e-10 and report.passed
    for phase in ("eval", "training", "gradients", "steps", "final weights"):
        assert report.worst(phase).max_rel <= 1e-10
    # a float32 port of the float64 module is not the same model at that precision
    with pytest.raises(br.EquivalenceError, match="disagrees first"):
        assert_equivalent(module, mlp_port(module, backend), x)


def test_report_reads_as_a_table_and_as_json(backend: str) -> None:
    module = torch_mlp()
    report = assert_equivalent(module, mlp_port(module, backend), inputs(5, 4), train_steps=2)
    text = str(report)
    assert (
        "passed" in text.splitlines()[0] and "d loss / d fc1/kernel" in text and "loss before step 2" in text
    )
    data = json.loads(report.to_json())
    assert data["passed"] and data["failure"] is None and data["native_framework"] == "torch"
    assert len(data["comparisons"]) == len(report.comparisons)
    assert data["comparisons"][0].keys() >= {"phase", "layer", "what", "max_abs", "max_rel", "passed"}


@pytest.mark.slow
def test_cnn_port_with_batchnorm_is_proven(backend: str) -> None:
    module = torch_cnn(batchnorm=True)
    report = assert_equivalent(module, cnn_port(module, backend), inputs(4, 2, 6, 6))
    assert report.passed
    assert {"conv", "bn", "relu", "pool", "flatten", "fc"} <= {c.layer for c in report.comparisons}
    assert report.worst("training").max_rel <= 1e-5  # BatchNorm on batch statistics


@pytest.mark.slow
def test_cnn_port_is_proven_with_ten_steps(backend: str) -> None:
    module = torch_cnn(batchnorm=False)
    report = assert_equivalent(
        module,
        cnn_port(module, backend),
        inputs(4, 2, 6, 6),
        train_steps=10,
        optimizer="sgd",
        momentum=0.9,
        learning_rate=0.05,
    )
    assert report.passed
    assert report.worst("final weights").max_rel <= 1e-5


@pytest.mark.parametrize("steps", [0, 1])
def test_torch_running_variance_is_caught(backend: str, steps: int) -> None:
    """torch updates BatchNorm's running variance with the unbiased batch variance, Keras (and
    bridge's BatchNormalization) with the biased one: a port must convert it, and the proof sees it
    right after the training forward, steps or not."""
    module = torch_cnn(batchnorm=True)
    port = cnn_port(module, backend, keras_batchnorm=True)
    with pytest.raises(br.EquivalenceError) as caught:
        assert_equivalent(module, port, inputs(4, 2, 6, 6), train_steps=steps)
    failure = caught.value.report.failure
    what = "bn/moving_variance after the training forward"
    assert (failure.phase, failure.layer, failure.what) == ("training", "bn", what)
    rows = {c.what: c.passed for c in caught.value.report.comparisons if c.phase == "training"}
    assert rows["bn/moving_mean after the training forward"]  # the mean agrees
    if steps:
        assert not rows.get("bn/moving_variance")  # not a training row: final weights
        final = {c.what: c.passed for c in caught.value.report.comparisons if c.phase == "final weights"}
        assert not final["bn/moving_variance"] and final["conv/kernel"]


def test_each_weight_is_held_to_its_own_magnitude(backend: str) -> None:
    """A running variance of 1e4 does not widen the bound of a 5%-wrong convolution kernel."""
    module = torch_cnn(batchnorm=True)
    with torch.no_grad():
        module[1].running_var.fill_(1e4)
    port = cnn_port(module, backend)
    assert assert_equivalent(module, port, inputs(4, 2, 6, 6)).passed
    kernel = port.get_layer("conv").kernel
    kernel.assign(kernel.numpy() * 1.05)
    with pytest.raises(br.EquivalenceError, match="layer 'conv' \\(native '0'\\).*weights: conv/kernel"):
        assert_equivalent(module, port, inputs(4, 2, 6, 6))


def test_a_weight_frozen_in_the_port_fails(backend: str) -> None:
    module = torch_mlp()
    port = mlp_port(module, backend)
    port.get_layer("fc2").trainable = False
    with pytest.raises(br.EquivalenceError) as caught:
        assert_equivalent(module, port, inputs(5, 4))
    failed = [c for c in caught.value.report.comparisons if not c.passed]
    assert {c.what for c in failed} == {"d loss / d fc2/kernel", "d loss / d fc2/bias"}
    assert all(c.phase == "gradients" and "frozen in the port" in c.note for c in failed)
    # frozen on both sides: nothing to compare, and it passes
    for p in module[3].parameters():
        p.requires_grad_(False)
    assert assert_equivalent(module, port, inputs(5, 4), train_steps=2).passed


def test_torch_gradients_are_left_as_they_were(backend: str) -> None:
    module = torch_mlp()
    module[0].weight.grad = torch.ones_like(module[0].weight)
    assert_equivalent(module, mlp_port(module, backend), inputs(5, 4), train_steps=2)
    assert torch.equal(module[0].weight.grad, torch.ones_like(module[0].weight))
    assert all(p.grad is None for p in [module[0].bias, *module[3].parameters()])


def test_the_last_step_is_checked_by_the_loss_after_it(backend: str) -> None:
    module = torch_mlp()
    report = assert_equivalent(module, mlp_port(module, backend), inputs(5, 4), train_steps=3)
    steps = [c.what for c in report.comparisons if c.phase == "steps"]
    assert steps == ["loss before step 1", "loss before step 2", "loss before step 3", "loss after step 3"]
    assert report.passed and not report.partial and "PARTIAL" not in str(report)


def test_a_wrong_weight_is_named(backend: str) -> None:
    module = torch_mlp()
    port = mlp_port(module, backend)
    kernel = port.get_layer("fc2").kernel
    kernel.assign(kernel.numpy() * 1.01)
    with pytest.raises(
        br.EquivalenceError, match="layer 'fc2' \\(native '3'\\).*weights: fc2/kernel"
    ) as caught:
        assert_equivalent(module, port, inputs(5, 4))
    assert isinstance(caught.value, AssertionError)
    report = caught.value.report
    assert not report.passed and report.failure.phase == "weights"
    # the layers before it agree; the ones after inherit the difference
    eval_rows = {c.layer: c.passed for c in report.comparisons if c.phase == "eval"}
    assert eval_rows["fc1"] and eval_rows["act"] and not eval_rows["fc2"]


def test_a_wrong_activation_is_named(backend: str) -> None:
    module = torch_mlp()
    with pytest.raises(
        br.EquivalenceError, match="layer 'act' \\(native '1'\\) disagrees first: eval: output"
    ):
        assert_equivalent(module, mlp_port(module, backend, activation="gelu"), inputs(5, 4))


@pytest.mark.slow
def test_a_different_batchnorm_epsilon_is_named(backend: str) -> None:
    module = torch_cnn(batchnorm=True)
    with pytest.raises(
        br.EquivalenceError, match="layer 'bn' \\(native '1'\\) disagrees first: eval: output"
    ):
        assert_equivalent(module, cnn_port(module, backend, epsilon=1e-3), inputs(4, 2, 6, 6))


def test_a_port_without_sources_compares_outputs_gradients_and_steps(backend: str) -> None:
    module = torch_mlp()
    port = mlp_port(module, backend)
    del port._native_sources
    report = assert_equivalent(module, port, inputs(5, 4), train_steps=3)
    assert report.passed
    assert all(c.layer is None for c in report.comparisons)
    assert any("no _native_sources" in note for note in report.notes)
    # the weights are not compared: the report says it is partial
    assert report.partial and "PARTIAL" in str(report).splitlines()[0]
    assert json.loads(report.to_json())["partial"] is True
    assert {c.what for c in report.comparisons} >= {"output", "d loss / d input[0]", "loss before step 3"}
    # weights are in another layout (transposed kernels): not matched by order
    assert not any(c.phase == "weights" for c in report.comparisons)


def test_named_losses_and_loss_pairs(backend: str) -> None:
    module = torch_mlp()
    port = mlp_port(module, backend)
    x, labels = inputs(5, 4), np.array([0, 2, 1, 1, 0])
    targets = inputs(5, 3)
    assert assert_equivalent(module, port, x, loss="mse", targets=targets, train_steps=2).passed
    assert assert_equivalent(module, port, x, loss="sparse_categorical_crossentropy", targets=labels).passed
    pair = (lambda out, t: (out * t).sum(), lambda out, t: br.ops.sum(out * t))
    report = assert_equivalent(module, port, x, loss=pair, targets=targets)
    with torch.no_grad():
        expected = float((module.eval()(torch.tensor(x)) * torch.tensor(targets)).sum())
    loss_row = next(c for c in report.comparisons if c.what == "loss")
    assert loss_row.passed and abs(expected) > 0.1


def test_bad_arguments_are_clear_errors(backend: str) -> None:
    module = torch_mlp()
    port = mlp_port(module, backend)
    with pytest.raises(br.InvalidArgumentError, match="optimizer must be 'sgd'"):
        assert_equivalent(module, port, inputs(5, 4), optimizer="rmsprop")
    with pytest.raises(br.InvalidArgumentError, match="needs targets"):
        assert_equivalent(module, port, inputs(5, 4), loss="mse")
    with pytest.raises(br.ArgumentTypeError, match="native must be a torch.nn.Module or a Keras 3 model"):
        assert_equivalent(object(), port, inputs(5, 4))
    port._native_sources = [LayerSource("nope", "0")]
    with pytest.raises(br.InvalidArgumentError, match="'nope'"):
        assert_equivalent(module, port, inputs(5, 4))


class TwoInputs(torch.nn.Module):
    """forward(x, y): one ReLU module called twice, and two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.act = torch.nn.ReLU()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.act(self.fc(x)), self.act(y)


def test_several_inputs_outputs_and_a_module_called_twice(backend: str) -> None:
    torch.manual_seed(2)
    module = TwoInputs()
    with br.use_backend(backend):
        x, y = nn.Input((3,), name="x"), nn.Input((2,), name="y")
        fc = nn.Dense(2, name="fc")
        first, second = nn.Activation("relu", name="act_x"), nn.Activation("relu", name="act_y")
        port = nn.Model([x, y], [first(fc(x)), second(y)])
    port.get_layer("fc").set_weights([module.fc.weight.detach().numpy().T, module.fc.bias.detach().numpy()])
    port._native_sources = [
        LayerSource(
            "fc",
            "fc",
            {
                "fc/kernel": WeightSource(("fc.weight",), transposed),
                "fc/bias": WeightSource(("fc.bias",), same),
            },
        ),
        LayerSource("act_x", "act"),  # the native ReLU ran twice: paired call by call
        LayerSource("act_y", "act"),
    ]
    data = [inputs(4, 3), inputs(4, 2)]
    report = assert_equivalent(module, port, data, train_steps=2)
    assert report.passed
    whats = {(c.layer, c.what) for c in report.comparisons if c.phase == "eval"}
    assert {("act_x", "output (call 1)"), ("act_y", "output (call 2)"), (None, "output[1]")} <= whats
    assert {"d loss / d input[0]", "d loss / d input[1]"} <= {c.what for c in report.comparisons}
    # the order the sources are listed in does not matter: calls pair in the order they ran
    port._native_sources = [port._native_sources[0], LayerSource("act_y", "act"), LayerSource("act_x", "act")]
    report = assert_equivalent(module, port, data)  # pairing follows the order the layers ran
    assert report.passed


class SelfAttention(torch.nn.Module):
    """A MultiheadAttention over its input, then a Linear: the key's bias gets a gradient of 0 in
    exact arithmetic (a softmax does not change when the same number is added to all its inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.attention(x, x, x, need_weights=False)[0])


def test_zero_gradients_under_adam_are_held_to_the_most_adam_moves_them(backend: str) -> None:
    """Adam turns the key bias' rounding-noise gradient into full steps of either sign: its final
    value is held to twice the most 3 Adam steps move a weight (about 6 * lr), the rest as usual."""
    from bridge.interop import from_torch

    torch.manual_seed(0)
    module = SelfAttention()
    x = inputs(2, 5, 8)
    with br.use_backend(backend):
        port = from_torch(module, torch.tensor(x))
    report = assert_equivalent(module, port, x, train_steps=3, optimizer="adam", learning_rate=0.01)
    loose = [c for c in report.comparisons if "with a zero gradient" in c.what]
    assert [c.what for c in loose] == ["attention_mha/key_bias (8 element(s) with a zero gradient)"]
    assert loose[0].phase == "final weights" and 0.06 < loose[0].bound < 0.0605
    assert any("attention_mha/key_bias" in note and "Adam" in note for note in report.notes)
    assert report.worst("gradients").max_rel <= 1e-5  # the gradients themselves are held as usual
    others = [c for c in report.comparisons if c.phase == "final weights" and c not in loose]
    assert len(others) == 9 and max(c.max_rel for c in others) <= 1e-5
    # with SGD, that noise only moves the bias by lr * noise: no loosened bound
    report = assert_equivalent(module, port, x, train_steps=3, learning_rate=0.01)
    assert not any("zero gradient" in c.what for c in report.comparisons)


def test_adam_reach_bounds_adam_steps() -> None:
    """The bound on how far Adam moves a weight, against Adam itself (NumPy float64, Keras' rule
    without epsilon) on gradient sequences of any sizes and signs."""
    from bridge.testing.equivalence import _adam_reach

    rng = np.random.default_rng(0)
    for steps in (1, 3, 10):
        worst = 0.0
        for trial in range(300):
            g = rng.standard_normal(steps) * 10.0 ** rng.uniform(-8, 2, steps)
            g = np.abs(g) if trial % 2 else g  # one sign: the steps add up
            g = np.full(steps, 1e-9) if trial == 0 else g  # a constant gradient: lr per step
            m = v = w = 0.0
            for t, gt in enumerate(g, 1):
                m, v = 0.9 * m + 0.1 * gt, 0.999 * v + 0.001 * gt * gt
                w -= 0.01 * (m / (1 - 0.9**t)) / np.sqrt(v / (1 - 0.999**t))
            worst = max(worst, abs(w))
        reach = _adam_reach(0.01, steps)
        assert 0.01 * steps * 0.9 < worst <= reach * (1 + 1e-12) and reach <= 0.01 * steps * 1.1


def test_inputs_may_be_tensors_and_wrong_shapes_get_the_ports_error(backend: str) -> None:
    module = torch_mlp()
    x = np.random.default_rng(3).standard_normal((5, 4)).astype("float32")
    as_numpy = assert_equivalent(module, mlp_port(module, backend), x)
    as_torch = assert_equivalent(module, mlp_port(module, backend), torch.tensor(x, requires_grad=True))
    assert as_torch.passed and as_torch.to_json() == as_numpy.to_json()
    with pytest.raises(br.ShapeError, match=r"fc1: Dense was built for inputs with 4 features.*\(5, 6\)"):
        assert_equivalent(module, mlp_port(module, backend), np.zeros((5, 6), "float32"))
