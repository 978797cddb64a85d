"""``bridge.interop.from_torch``: torch modules ported to bridge models, checked against torch's
own forward, training-mode forward, gradients and running statistics; the weight-layout
functions of ``bridge.interop.layouts`` checked against torch's ops."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn as tnn

import bridge as br
from bridge import nn
from bridge.interop import from_torch, layouts

pytestmark = pytest.mark.needs("torch")

#: case -> (max abs, max abs / max |torch|) of the ported model's outputs against torch's
ERRORS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module", autouse=True)
def _error_table() -> object:
    yield
    for case, (abs_err, rel_err) in sorted(ERRORS.items()):
        print(f"from_torch {case}: max abs {abs_err:.2e}, rel {rel_err:.2e}")


def _randomize(module: tnn.Module, seed: int = 0) -> tnn.Module:
    """Every parameter and buffer drawn at random (running variances positive): a weight put in
    the wrong place, or left at its default, shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if not tensor.is_floating_point():
                continue
            draw = torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype)
            tensor.copy_(draw + 0.5 if name.endswith("running_var") else draw * 2 - 1)
    return module


def _input(shape: tuple[int, ...], dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _record(case: str, got: object, want: np.ndarray, rtol: float, floor: float = 1e-30) -> None:
    """Assert max|got - want| <= rtol * max(max|want|, floor); keep both errors for the table."""
    got = np.asarray(got)
    assert got.shape == want.shape, f"{case}: shape {got.shape} != torch's {want.shape}"
    abs_err = float(np.max(np.abs(got - want))) if want.size else 0.0
    rel_err = abs_err / max(float(np.max(np.abs(want))), floor)
    ERRORS[case] = max(ERRORS.get(case, (0.0, 0.0)), (abs_err, rel_err))
    assert rel_err <= rtol, f"{case}: max abs {abs_err:.3e}, relative {rel_err:.3e} > {rtol}"


def _check_eval(case: str, module: tnn.Module, x: torch.Tensor, rtol: float = 1e-5) -> nn.Model:
    module = _randomize(module).eval()
    ported = from_torch(module, x)
    with torch.no_grad():
        want = module(x).numpy()
    _record(case, ported(x.numpy()), want, rtol)
    return ported


# ---------------------------------------------------------------------------------------------
# weight layouts, each against torch


def test_linear_kernel_against_torch() -> None:
    w, x = _input((4, 6)), _input((3, 6), seed=2)
    np.testing.assert_allclose(
        x.numpy() @ layouts.linear_kernel(w.numpy()), F.linear(x, w).numpy(), rtol=1e-6
    )


def test_flat_linear_kernel_against_torch() -> None:
    """A Linear reading torch's flattening of NCHW == a Dense reading the NHWC flattening."""
    x, w = _input((2, 3, 4, 5)), _input((7, 60), seed=2)
    want = F.linear(torch.flatten(x, 1), w).numpy()
    flat_nhwc = layouts.channels_last(x.numpy()).reshape(2, -1)
    got = flat_nhwc @ layouts.flat_linear_kernel((3, 4, 5))(w.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _conv_hwio(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """A NumPy channels-last 'valid' convolution with an HWIO kernel (the Keras layout)."""
    kh, kw, _, out = kernel.shape
    rows, cols = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], rows, cols, out))
    for i in range(rows):
        for j in range(cols):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            y[:, i, j] = np.einsum("nhwc,hwco->no", patch, kernel)
    return y


def test_conv_kernel_against_torch() -> None:
    x, w = _input((2, 3, 6, 5), torch.float64), _input((4, 3, 3, 2), torch.float64, seed=2)
    want = layouts.channels_last(F.conv2d(x, w, stride=2).numpy())
    got = _conv_hwio(layouts.channels_last(x.numpy()), layouts.conv_kernel(w.numpy()), 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert layouts.channels_first(got).shape == (2, 4, 2, 2)


def test_conv_transpose_kernel_against_torch() -> None:
    """torch's (in, out, kH, kW) -> Keras' (kH, kW, out, in): each input pixel scatters
    ``kernel[:, :, o, c] * x[c]`` into the output."""
    x, w = _input((1, 3, 3, 2), torch.float64), _input((3, 2, 2, 3), torch.float64, seed=2)
    want = layouts.channels_last(F.conv_transpose2d(x, w, stride=2).numpy())
    kernel, xs = layouts.conv_kernel(w.numpy()), layouts.channels_last(x.numpy())
    got = np.zeros((1, 6, 5, 2))
    for i in range(3):
        for j in range(2):
            got[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 3] += np.einsum("nc,hwoc->nhwo", xs[:, i, j], kernel)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize(
    ("padding", "kernel", "stride", "dilation"), [(1, 3, 1, 1), (2, 3, 1, 2), (1, 3, 2, 1), (0, 2, 1, 1)]
)
def test_symmetric_padding_against_torch(padding: int, kernel: int, stride: int, dilation: int) -> None:
    """The mode and pads chosen reproduce torch's output length (its values: the module tests)."""
    mode, pads = layouts.symmetric_padding((padding,), (kernel,), (stride,), (dilation,))
    length = 9
    torch_length = F.conv1d(
        torch.zeros(1, 1, length),
        torch.zeros(1, 1, kernel),
        stride=stride,
        padding=padding,
        dilation=dilation,
    ).shape[-1]
    padded = length + sum(sum(p) for p in pads)
    span = dilation * (kernel - 1) + 1
    ours = -(-padded // stride) if mode == "same" else (padded - span) // stride + 1
    assert ours == torch_length
    assert (mode == "same") == (stride == 1 and 2 * padding == dilation * (kernel - 1) and padding > 0)


def test_batchnorm_momentum() -> None:
    assert layouts.batchnorm_momentum(0.1) == pytest.approx(0.9)


# ---------------------------------------------------------------------------------------------
# each module alone, eval mode

MODULES: dict[str, tuple[Callable[[], tnn.Module], tuple[int, ...]]] = {
    "Linear": (lambda: tnn.Linear(6, 4), (3, 6)),
    "Linear_rank3": (lambda: tnn.Linear(6, 4, bias=False), (3, 5, 6)),
    "Conv1d": (lambda: tnn.Conv1d(3, 4, 3, padding=1), (2, 3, 9)),
    "Conv1d_stride_pad": (lambda: tnn.Conv1d(3, 4, 4, stride=2, padding=2), (2, 3, 9)),
    "Conv2d_stride_pad": (lambda: tnn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 8, 8)),
    "Conv2d_groups_dilation": (
        lambda: tnn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False),
        (2, 4, 7, 7),
    ),
    "Conv2d_same_even": (lambda: tnn.Conv2d(3, 2, 4, padding="same"), (2, 3, 6, 6)),
    "Conv2d_rect": (lambda: tnn.Conv2d(3, 2, (3, 2)), (2, 3, 6, 5)),
    "Conv3d": (lambda: tnn.Conv3d(2, 3, 3, padding=1), (1, 2, 4, 5, 4)),
    "Conv3d_stride_pad": (lambda: tnn.Conv3d(2, 3, 2, stride=2, padding=1), (1, 2, 4, 4, 4)),
    "ConvTranspose2d": (
        lambda: tnn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
        (2, 3, 4, 4),
    ),
    "ConvTranspose2d_plain": (lambda: tnn.ConvTranspose2d(3, 2, 2, stride=2), (2, 3, 3, 4)),
    "ConvTranspose1d": (lambda: tnn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), (2, 3, 5)),
    "BatchNorm1d_features": (lambda: tnn.BatchNorm1d(5), (4, 5)),
    "BatchNorm1d_sequence": (lambda: tnn.BatchNorm1d(3), (4, 3, 6)),
    "BatchNorm2d": (lambda: tnn.BatchNorm2d(3), (4, 3, 5, 5)),
    "BatchNorm2d_no_affine": (lambda: tnn.BatchNorm2d(3, affine=False, eps=1e-3), (4, 3, 5, 5)),
    "LayerNorm": (lambda: tnn.LayerNorm(6), (3, 4, 6)),
    "LayerNorm_2d": (lambda: tnn.LayerNorm((4, 6), eps=1e-3), (3, 4, 6)),
    "GroupNorm": (lambda: tnn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "GroupNorm_features": (lambda: tnn.GroupNorm(2, 4), (3, 4)),
    "ReLU": (tnn.ReLU, (3, 5)),
    "GELU": (tnn.GELU, (3, 5)),
    "GELU_tanh": (lambda: tnn.GELU(approximate="tanh"), (3, 5)),
    "Sigmoid": (tnn.Sigmoid, (3, 5)),
    "Tanh": (tnn.Tanh, (3, 5)),
    "SiLU": (tnn.SiLU, (3, 5)),
    "LeakyReLU": (lambda: tnn.LeakyReLU(0.1), (3, 5)),
    "ELU": (lambda: tnn.ELU(0.5), (3, 5)),
    "Softplus": (tnn.Softplus, (3, 5)),
    "Softmax": (lambda: tnn.Softmax(dim=1), (3, 5, 2)),
    "LogSoftmax": (lambda: tnn.LogSoftmax(dim=-1), (3, 5)),
    "Identity": (tnn.Identity, (3, 5)),
    "Dropout": (lambda: tnn.Dropout(0.3), (3, 5)),
    "Flatten": (tnn.Flatten, (2, 3, 4)),
    "MaxPool1d": (lambda: tnn.MaxPool1d(3, 2, 1), (2, 3, 8)),
    "MaxPool2d_pad": (lambda: tnn.MaxPool2d(3, 2, 1), (2, 3, 7, 7)),
    "MaxPool2d": (lambda: tnn.MaxPool2d(2), (2, 3, 6, 6)),
    "AvgPool1d": (lambda: tnn.AvgPool1d(2), (2, 3, 8)),
    "AvgPool2d_pad": (lambda: tnn.AvgPool2d(3, 2, 1), (2, 3, 7, 7)),
    "AdaptiveAvgPool2d": (lambda: tnn.AdaptiveAvgPool2d((1, 1)), (2, 3, 5, 5)),
    "AdaptiveMaxPool2d": (lambda: tnn.AdaptiveMaxPool2d(1), (2, 3, 5, 5)),
}


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("case", sorted(MODULES))
def test_module_alone(case: str, backend: str) -> None:
    make, shape = MODULES[case]
    _check_eval(f"{case} [{backend}]", make(), _input(shape))


def test_embedding(backend: str) -> None:
    module = _randomize(tnn.Embedding(10, 4)).eval()
    ids = torch.tensor([[1, 0, 9], [3, 3, 7]])
    ported = from_torch(module, ids)
    _record(f"Embedding [{backend}]", ported(ids.numpy()), module(ids).detach().numpy(), 0.0)


# ---------------------------------------------------------------------------------------------
# small graphs


class Residual(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = tnn.Conv2d(3, 3, 3, padding=1, bias=False), tnn.BatchNorm2d(3)
        self.conv2, self.bn2 = tnn.Conv2d(3, 3, 3, padding=1, bias=False), tnn.BatchNorm2d(3)
        self.relu = tnn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y += x
        return self.relu(y)


class ConvHead(tnn.Module):
    """conv -> BN -> pool -> flatten by view(batch, -1) -> Linear (rows permuted)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2))
        self.fc = tnn.Linear(4 * 3 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)
        return self.fc(y.view(y.size(0), -1))


class Cat(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = tnn.Conv2d(3, 2, 1), tnn.Conv2d(3, 4, 3, padding=1)
        self.head = tnn.Conv2d(6, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.a(x), F.relu(self.b(x))], dim=1))


class PermuteLinear(tnn.Module):
    """NCHW -> permute to NHWC -> Linear on channels -> permute back; a transpose of a
    sequence into Conv1d and back; a mean over the spatial axes, and a softmax over channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = tnn.Conv2d(3, 4, 1), tnn.Linear(4, 4)
        self.seq = tnn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        y = self.fc(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        s = F.softmax(y, dim=1)
        seq = y.reshape(y.shape[0], 4, -1).transpose(1, 2)  # (N, HW, C)
        seq = self.seq(seq.transpose(1, 2)).transpose(1, 2)
        return s, seq, y.mean((2, 3))


class Shared(tnn.Module):
    """One Linear called twice: one bridge layer, one set of weights."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = tnn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.fc(x)))


class ScalarsAndIndex(tnn.Module):
    """Python numbers (a size among them) with tensors, negation, basic indexing, and means
    that keep their axes (of a channels-last value)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = tnn.Conv2d(2, 3, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.conv(x)
        z = (1 - y * 0.5) / 3 + (-y) + y[:, :1] * x.size(1)
        return z, z[:, -1, ..., ::2], y.mean(1, keepdim=True), y.mean((2, 3), keepdim=True)


class FunctionalPools(tnn.Module):
    """The functional forms of pooling, as torchvision-style code writes them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = tnn.Conv2d(3, 4, 3, padding=1), tnn.Linear(4 + 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(F.relu(self.conv(x)), 3, stride=2, padding=1)
        y = F.avg_pool2d(y, 2, 1)
        pooled = torch.flatten(F.adaptive_avg_pool2d(y, (1, 1)), 1)
        rows = F.max_pool1d(x[:, 0], 3).mean(-1)  # (batch, 6): rows of the first channel
        return self.fc(torch.cat([pooled, rows], 1))


GRAPHS: dict[str, tuple[Callable[[], tnn.Module], tuple[int, ...]]] = {
    "FunctionalPools": (FunctionalPools, (2, 3, 6, 6)),
    "Residual": (Residual, (2, 3, 5, 5)),
    "ConvHead": (ConvHead, (2, 3, 8, 6)),
    "Cat": (Cat, (2, 3, 4, 4)),
    "PermuteLinear": (PermuteLinear, (2, 3, 3, 2)),
    "Shared": (Shared, (3, 4)),
    "ScalarsAndIndex": (ScalarsAndIndex, (2, 2, 3, 4)),
    "ConvFlatten": (lambda: tnn.Sequential(tnn.Conv2d(2, 3, 1), tnn.Flatten()), (2, 2, 3, 4)),
    "MLP_BN": (
        lambda: tnn.Sequential(tnn.Linear(5, 6), tnn.BatchNorm1d(6), tnn.ReLU(), tnn.Linear(6, 2)),
        (8, 5),
    ),
    "Sequential": (
        lambda: tnn.Sequential(
            tnn.Flatten(), tnn.Linear(12, 3), tnn.Sequential(tnn.GELU(), tnn.Linear(3, 2))
        ),
        (2, 3, 4),
    ),
}


def _outputs(value: object) -> list[np.ndarray]:
    return [np.asarray(v) for v in value] if isinstance(value, (list, tuple)) else [np.asarray(value)]


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_graph(case: str, backend: str) -> None:
    make, shape = GRAPHS[case]
    module, x = _randomize(make()).eval(), _input(shape)
    ported = from_torch(module, x)
    with torch.no_grad():
        want = module(x)
    for i, (got, ref) in enumerate(zip(_outputs(ported(x.numpy())), _outputs(want), strict=True)):
        _record(f"{case}[{i}] [{backend}]", got, ref, 1e-5)


class TwoInputs(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = tnn.Conv1d(2, 3, 3), tnn.Linear(4, 3)

    def forward(self, signal: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.conv(signal).mean(-1) + self.fc(features)


def test_two_inputs(backend: str) -> None:
    module = _randomize(TwoInputs()).eval()
    signal, features = _input((2, 2, 6)), _input((2, 4), seed=3)
    ported = from_torch(module, (signal, features))
    assert [t.name for t in ported.inputs] == ["signal", "features"]
    with torch.no_grad():
        want = module(signal, features).numpy()
    _record(f"TwoInputs [{backend}]", ported([signal.numpy(), features.numpy()]), want, 1e-5)


def test_example_inputs_may_be_numpy_arrays(backend: str) -> None:
    module = _randomize(TwoInputs()).eval()
    signal, features = _input((2, 2, 6)), _input((2, 4), seed=3)
    ported = from_torch(module, [signal.numpy(), features.numpy()])
    assert [tuple(t.shape) for t in ported.inputs] == [(None, 2, 6), (None, 4)]
    with torch.no_grad():
        want = module(signal, features).numpy()
    _record(f"TwoInputs from NumPy [{backend}]", ported([signal.numpy(), features.numpy()]), want, 1e-5)


def test_shared_module_is_one_layer() -> None:
    ported = from_torch(_randomize(Shared()), _input((3, 4)))
    assert len(ported.weights) == 2
    assert [(s.layer, s.native) for s in ported._native_sources] == [("fc", "fc")]
    assert ported._native_framework == "torch"


def test_float64(backend: str) -> None:
    for case in ("Residual", "ConvHead"):
        make, shape = GRAPHS[case]
        _check_eval(f"{case} float64 [{backend}]", make().double(), _input(shape, torch.float64), rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# training: batch statistics, running statistics, gradients


def _weights(ported: nn.Model) -> dict[str, object]:
    return {w.name: w for w in ported.weights}


@pytest.mark.parametrize("case", ["ConvHead", "Residual", "MLP_BN"])
def test_training_forward_and_running_stats(case: str, backend: str) -> None:
    make, shape = GRAPHS[case]
    module, x = _randomize(make()), _input(shape)
    ported = from_torch(module.eval(), x)
    trained = copy.deepcopy(module).train()
    with torch.no_grad():
        want = trained(x).numpy()
    _record(f"{case} training [{backend}]", ported(x.numpy(), training=True), want, 1e-5)
    state = {n: t.numpy() for n, t in trained.named_buffers()}
    weights, compared = _weights(ported), 0
    for source in ported._native_sources:
        for name, weight in source.weights.items():
            if "moving" in name:
                _record(
                    f"{case} {name} [{backend}]",
                    weights[name].numpy(),
                    weight.convert(*(state[n] for n in weight.native)),
                    1e-5,
                )
                compared += 1
    assert compared == 2 * sum(isinstance(m, tnn.modules.batchnorm._BatchNorm) for m in module.modules())


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("case", ["ConvHead", "Residual", "PermuteLinear"])
def test_gradients(case: str, backend: str) -> None:
    """Gradients of sum(output * g) (training mode) w.r.t. the input and every weight; torch's
    weight gradients converted by each ``WeightSource``."""
    make, shape = GRAPHS[case]
    module, x = _randomize(make()).train(), _input(shape).requires_grad_()
    ported = from_torch(module, x.detach())
    outs = module(x)
    outs = outs if isinstance(outs, tuple) else (outs,)
    cotangents = [_input(tuple(o.shape), seed=7 + i) for i, o in enumerate(outs)]
    sum(torch.sum(o * g) for o, g in zip(outs, cotangents)).backward()
    torch_grads = {n: p.grad.numpy() for n, p in module.named_parameters()}

    xb = br.tensor(x.detach().numpy())
    with br.GradientTape() as tape:
        tape.watch(xb)
        got = ported(xb, training=True)
        got = got if isinstance(got, (list, tuple)) else [got]
        loss = sum(br.ops.sum(o * br.tensor(g.numpy())) for o, g in zip(got, cotangents))
    trainable = ported.trainable_weights
    grads = tape.gradient(loss, [xb, *trainable])
    _record(f"{case} d/dinput [{backend}]", grads[0], x.grad.numpy(), 1e-5)
    by_name = {w.name: g for w, g in zip(trainable, grads[1:])}
    # a gradient that is 0 in exact arithmetic (a conv bias before a training BatchNorm) is
    # compared at 1e-2 of the model's largest one
    floor = 1e-2 * max(float(np.max(np.abs(g))) for g in torch_grads.values())
    compared = 0
    for source in ported._native_sources:
        for name, weight in source.weights.items():
            if name in by_name:
                want = weight.gradient_of(*(torch_grads[n] for n in weight.native))
                _record(f"{case} d/d{name} [{backend}]", by_name[name], want, 1e-5, floor)
                compared += 1
    assert compared == len(trainable) == len(torch_grads)


# ---------------------------------------------------------------------------------------------
# saving, errors


@pytest.mark.needs("torch", "tensorflow")
def test_save_on_one_backend_load_on_the_other(backend: str, tmp_path: Path) -> None:
    other = "tensorflow" if backend == "torch" else "torch"
    module, x = _randomize(ConvHead()).eval(), _input((2, 3, 8, 6))
    tail = _randomize(
        tnn.Sequential(
            tnn.Conv2d(3, 2, 3, stride=2, padding=1), tnn.GELU(), tnn.MaxPool2d(3, 1, 1), tnn.BatchNorm2d(2)
        )
    ).eval()
    for i, native in enumerate((module, tail)):
        path = tmp_path / f"ported{i}.bridge"
        from_torch(native, x).save(path)
        with br.use_backend(other), torch.no_grad():
            loaded = nn.load_model(path)
            _record(f"saved {backend} loaded {other} #{i}", loaded(x.numpy()), native(x).numpy(), 1e-5)


class Branchy(tnn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.sum() > 0 else -x


class Scaled(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = tnn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


@pytest.mark.parametrize(
    ("module", "shape", "names"),
    [
        (
            tnn.Sequential(tnn.Linear(3, 3), tnn.PReLU()),
            (2, 3),
            ("PReLU", "module '1', node 2", "nn.Linear", "torch.cat"),
        ),
        (
            tnn.Sequential(tnn.Conv1d(3, 3, 1), tnn.MaxPool1d(2, ceil_mode=True)),
            (2, 3, 4),
            ("MaxPool1d '1' at node 2", "ceil_mode"),
        ),
        (Branchy(), (2, 3), ("Branchy", "control flow", "torch.export")),
        (Scaled(), (2, 3), ("get_attr", "scale", "parameter used outside a module")),
    ],
)
def test_unsupported_is_a_clear_error(
    module: tnn.Module, shape: tuple[int, ...], names: tuple[str, ...]
) -> None:
    with pytest.raises(br.UnsupportedConversionError) as raised:
        from_torch(module, _input(shape))
    assert isinstance(raised.value, NotImplementedError)
    for name in names:
        assert name in str(raised.value)


def test_unsupported_function_and_operand() -> None:
    class Sine(tnn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sin(x)

    class Ratio(tnn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x / x

    class ReadsAValue(tnn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * x.tolist()[0][0]

    class BatchIndex(tnn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[0]

    with pytest.raises(br.UnsupportedConversionError, match=r"torch\.sin is not supported: node 1 'sin'"):
        from_torch(Sine(), _input((2, 3)))
    with pytest.raises(
        br.UnsupportedConversionError,
        match=r"divide of these operands \(supported: a tensor and a Python number\)",
    ):
        from_torch(Ratio(), _input((2, 3)))
    with pytest.raises(
        br.UnsupportedConversionError, match="node 1 'tolist' .* read from a tensor's contents"
    ):
        from_torch(ReadsAValue(), _input((2, 3)))
    with pytest.raises(br.UnsupportedConversionError, match="getitem 'getitem' at node 1 .* the batch axis"):
        from_torch(BatchIndex(), _input((2, 3)))


# ---------------------------------------------------------------------------------------------
# review fixes: layers after a Flatten, Embedding's padding_idx, F.dropout's training, bad
# example inputs, missing frameworks


def test_flat_channels_last_against_torch() -> None:
    """torch's flattening of NCHW, laid out by ``flat_channels_last``, == the NHWC flattening."""
    x = _input((2, 3, 4, 5))
    want = layouts.channels_last(x.numpy()).reshape(2, -1)
    np.testing.assert_array_equal(layouts.flat_channels_last((3, 4, 5))(torch.flatten(x, 1).numpy()), want)


@pytest.mark.bridge_requires("autodiff")
def test_activation_and_dropout_after_flatten_prove_equivalent(backend: str) -> None:
    """A ReLU and a Dropout reading a Flatten of a channels-last tensor: their outputs are held
    flattened channels-last, so the proof lays torch's out the same way (it named layer '2')."""
    from bridge.testing import assert_equivalent

    module = _randomize(
        tnn.Sequential(tnn.Conv2d(2, 3, 3), tnn.Flatten(), tnn.ReLU(), tnn.Dropout(0.2), tnn.Linear(12, 2))
    ).eval()
    x = _input((2, 2, 4, 4))
    report = assert_equivalent(module, from_torch(module, x), x.numpy())
    compared = {c.layer for c in report.comparisons if c.phase == "eval"}
    assert {"2", "3"} <= compared, compared
    worst = report.worst("eval")
    assert worst is not None
    ERRORS[f"Flatten-ReLU-Dropout proof [{backend}]"] = (worst.max_abs, worst.max_rel)


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_embedding_padding_idx_trains_as_torch(optimizer: str, backend: str) -> None:
    """torch gives the padding row no gradient, so steps leave it: the port too (it trained it)."""
    from bridge.testing import assert_equivalent

    torch.manual_seed(0)
    module = tnn.Sequential(tnn.Embedding(5, 3, padding_idx=2), tnn.Flatten(), tnn.Linear(6, 2))
    ids = np.array([[2, 1], [4, 2], [0, 3]], dtype=np.int64)
    probe = copy.deepcopy(module)
    probe(torch.as_tensor(ids)).sum().backward()
    assert probe[0].weight.grad[2].abs().max() == 0 < probe[0].weight.grad[1].abs().max()  # torch's rule
    ported = from_torch(module, torch.as_tensor(ids))
    report = assert_equivalent(module, ported, ids, train_steps=3, optimizer=optimizer, learning_rate=0.1)
    checked = {(c.phase, c.what) for c in report.comparisons if c.layer == "0"}
    assert {p for p, what in checked if "embeddings" in what} >= {"gradients", "final weights"}, checked
    worst = report.worst("final weights")
    assert worst is not None
    ERRORS[f"Embedding padding_idx {optimizer} 3 steps [{backend}]"] = (worst.max_abs, worst.max_rel)


def test_torch_embedding_config_keeps_padding_idx() -> None:
    from bridge.nn.torch_layers import TorchEmbedding

    layer = TorchEmbedding(5, 3, padding_idx=1, name="e")
    assert TorchEmbedding.from_config(layer.get_config()).padding_idx == 1
    with pytest.raises(br.InvalidArgumentError, match=r"padding_idx must be in \[0, 5\), got 5"):
        TorchEmbedding(5, 3, padding_idx=5)


class FunctionalDropout(tnn.Module):
    def __init__(self, training: object) -> None:
        super().__init__()
        self.given = training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.given == "self.training":
            return F.dropout(x, 0.5, training=self.training) * 2.0
        if self.given is None:
            return F.dropout(x, 0.5) * 2.0
        return F.dropout(x, 0.5, training=bool(self.given)) * 2.0


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_functional_dropout_follows_training(mode: str, backend: str) -> None:
    """``F.dropout(x, p, self.training)`` is a Dropout layer (fx records the mode as a constant:
    the port traces both modes); ``training=False`` is no layer at all."""
    x = _input((64, 8))
    follows = FunctionalDropout("self.training").train(mode == "train")
    ported = from_torch(follows, x)
    rates = [layer.rate for layer in ported.layers if isinstance(layer, nn.Dropout)]
    assert rates == [0.5]
    with torch.no_grad():
        _record(f"F.dropout(self.training) eval [{backend}]", ported(x.numpy()), follows.eval()(x).numpy(), 0)
    dropped = np.asarray(ported(x.numpy(), training=True))
    assert 0.3 < np.mean(dropped == 0) < 0.7  # it drops in training, as torch's
    never = from_torch(FunctionalDropout(False), x)
    assert not any(isinstance(layer, nn.Dropout) for layer in never.layers)
    _record(f"F.dropout(False) [{backend}]", never(x.numpy(), training=True), 2 * x.numpy(), 0)


def test_functional_dropout_always_on_is_refused() -> None:
    """torch's default ``training=True`` drops in eval mode too: no bridge layer does."""
    with pytest.raises(
        br.UnsupportedConversionError, match=r"dropout.*training=True.*training=self\.training"
    ):
        from_torch(FunctionalDropout(None).eval(), _input((2, 3)))


@pytest.mark.parametrize(
    ("module", "x", "error", "names"),
    [
        (tnn.Sequential(tnn.Linear(4, 3)), _input((2, 5)), br.ShapeError, ("module '0' (Linear)", "(2, 5)")),
        (
            tnn.Sequential(tnn.ReLU(), tnn.Conv2d(3, 2, 3)),
            _input((1, 2, 5, 5)),
            br.ShapeError,
            ("module '1' (Conv2d)", "(1, 2, 5, 5)", "3 channels"),
        ),
        (
            tnn.Sequential(tnn.Linear(4, 3)),
            _input((2, 4), torch.float64),
            br.DTypeError,
            ("module '0' (Linear)", "float64"),
        ),
    ],
)
def test_example_inputs_the_module_cannot_take(
    module: tnn.Module, x: torch.Tensor, error: type, names: tuple[str, ...]
) -> None:
    with pytest.raises(error) as raised:
        from_torch(module, x)
    assert not isinstance(raised.value, br.UnsupportedConversionError)
    for name in names:
        assert name in str(raised.value)


def test_missing_framework_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch or Keras not importable: ``FrameworkNotInstalledError`` (an ImportError) naming
    the piece that needs it and the pip command."""
    import sys

    module = tnn.Linear(2, 2)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delitem(sys.modules, "bridge.interop.keras", raising=False)
    for make, what, package in (
        (lambda: nn.TorchModule(module), "nn.TorchModule", "torch"),
        (lambda: from_torch(module, np.zeros((1, 2), "float32")), "from_torch", "torch"),
        (lambda: nn.KerasLayer(object()), "nn.KerasLayer", "keras"),
        (lambda: __import__("bridge.interop.keras"), "bridge.interop.keras", "keras"),
    ):
        with pytest.raises(br.FrameworkNotInstalledError) as raised:
            make()
        assert isinstance(raised.value, ImportError)
        assert what in str(raised.value) and f"pip install {package}" in str(raised.value)
