"""``nn.TorchModule`` (a torch module inside a bridge model) and ``bridge.interop.to_torch`` (a
bridge model as a torch module), checked against torch itself: its forward passes, autograd and
``torch.optim``."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import bridge as br
import bridge.nn as nn
from bridge.interop import to_torch

pytestmark = pytest.mark.needs("torch")


@pytest.fixture(autouse=True)
def on_the_cpu(request):
    """bridge works on the CPU too where a GPU is present: these tests compare with torch modules
    and tensors made there (the ``gpu`` test moves a module to the GPU)."""
    if request.node.get_closest_marker("gpu"):
        yield
        return
    with br.device("cpu"):
        yield


F32 = 1e-6  # float32 tolerance: the same torch kernels run on both sides, in other orders at most


def _data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _torch_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 3)
    )


def _max_diff(a, b) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)))


# --- nn.TorchModule ----------------------------------------------------------------------------
def test_torch_module_weights_wrap_the_parameters_and_buffers_without_a_copy():
    net = _torch_net()
    with br.use_backend("torch"):
        layer = nn.TorchModule(net, name="net")
    named = [*net.named_parameters(), *net.named_buffers()]
    assert [w.name for w in layer.weights] == [f"net/{name}" for name, _ in named]
    assert all(w._stored is tensor for w, (_, tensor) in zip(layer.weights, named))
    assert [w.trainable for w in layer.weights] == [True] * 6 + [False] * 3
    assert len(layer.trainable_weights) == 6 and layer.built
    layer.weights[0].assign(np.ones((4, 5), np.float32))  # bridge writes reach the module
    assert torch.equal(net[0].weight, torch.ones(4, 5))
    layer.weights[7].assign(np.full(4, 2.0, np.float32))  # a buffer too
    assert torch.equal(net[1].running_var, torch.full((4,), 2.0))


def test_torch_module_forward_is_the_modules_and_training_mode_is_set_for_the_call_only():
    net, x = _torch_net(), _data(6, 5)
    reference = copy.deepcopy(net)
    with br.use_backend("torch"):
        layer = nn.TorchModule(net)
        assert _max_diff(layer(x), reference.eval()(torch.tensor(x))) == 0.0
        assert torch.equal(net[1].running_mean, torch.zeros(4))  # inference: statistics unchanged
        net.eval()
        trained = layer(x, training=True)
    assert not any(m.training for m in net.modules())  # the module's own mode is restored
    expected = reference.train()(torch.tensor(x))
    assert _max_diff(trained, expected) == 0.0
    # BatchNorm's running statistics update in place, and the bridge Variables see them
    assert _max_diff(layer.weights[6], reference[1].running_mean) == 0.0
    assert float(reference[1].running_mean.abs().max()) > 0.01
    assert int(layer.weights[8].numpy()) == 1  # num_batches_tracked


class _TwoOutputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x, y):
        return self.linear(x) * y, (x.sum(), {"mean": x.mean()})


def test_torch_module_takes_several_inputs_and_keeps_the_output_structure():
    module, x, y = _TwoOutputs(), _data(4, 3), _data(4, 2, seed=1)
    with br.use_backend("torch"):
        first, (total, rest) = nn.TorchModule(module)(x, br.tensor(y))
    expected = module(torch.tensor(x), torch.tensor(y))
    assert isinstance(first, br.Tensor) and isinstance(rest["mean"], br.Tensor)
    assert _max_diff(first, expected[0]) == 0.0 and _max_diff(total, expected[1][0]) == 0.0


def test_bridge_gradients_reach_the_modules_parameters():
    net, x = _torch_net(), _data(6, 5)
    reference = copy.deepcopy(net).train()
    with br.use_backend("torch"):
        model = nn.Sequential([nn.TorchModule(net), nn.Dense(2, kernel_initializer="ones")])
        model(x)
        head = model.layers[1].get_weights()
        with br.GradientTape() as tape:
            loss = br.ops.mean(br.ops.square(model(x, training=True)))
        grads = tape.gradient(loss, model.layers[0].trainable_weights)
    out = reference(torch.tensor(x)) @ torch.tensor(head[0]) + torch.tensor(head[1])
    torch.mean(out**2).backward()
    differences = [_max_diff(g, p.grad) for g, p in zip(grads, reference.parameters())]
    assert max(differences) < F32, differences


@pytest.mark.slow  # ~3 s on a busy machine
def test_bridge_optimizer_steps_train_the_module_as_torch_optim_does():
    """Three SGD(momentum=0.9) steps of bridge's optimizer on the wrapped module against
    ``torch.optim.SGD`` on a copy: bridge's ``m = 0.9 m - lr g; w += m`` is torch's
    ``b = 0.9 b + g; w -= lr b`` (``m = -lr b``) for a constant learning rate."""
    net, x, y = _torch_net(), _data(8, 5), _data(8, 3, seed=1)
    reference = copy.deepcopy(net).train()
    torch_sgd = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    with br.use_backend("torch"):
        layer = nn.TorchModule(net)
        sgd = br.optim.SGD(0.1, momentum=0.9)
        for _ in range(3):
            with br.GradientTape() as tape:
                loss = br.ops.mean(br.ops.square(layer(x, training=True) - y))
            sgd.apply(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights)
    for _ in range(3):
        torch_sgd.zero_grad()
        torch.mean((reference(torch.tensor(x)) - torch.tensor(y)) ** 2).backward()
        torch_sgd.step()
    state = [*reference.parameters(), *reference.buffers()]
    differences = [_max_diff(w, t) for w, t in zip(layer.weights, state)]
    assert max(differences) < 1e-6, differences


def test_fit_trains_a_model_holding_a_torch_module_and_weights_save_and_load(tmp_path):
    net, x, y = _torch_net(), _data(16, 5), _data(16, 3, seed=1)
    with br.use_backend("torch"):
        model = nn.Sequential([nn.TorchModule(net), nn.Dense(3)])
        model.compile(optimizer=br.optim.SGD(0.1), loss="mse")
        before = net[0].weight.detach().clone()
        history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert _max_diff(net[0].weight, before) > 1e-3
        model.save_weights(tmp_path / "w.safetensors")
        saved = [w.numpy() for w in model.weights]
        with torch.no_grad():
            for tensor in [*net.parameters(), *net.buffers()]:
                tensor.zero_()
        model.load_weights(tmp_path / "w.safetensors")
        assert max(_max_diff(w, s) for w, s in zip(model.weights, saved)) == 0.0
        assert _max_diff(net[0].weight, saved[0]) == 0.0
        with pytest.raises(br.SerializationError, match=r"'torch_module.*' \(Sequential\).*save_weights"):
            model.save(tmp_path / "model.bridge")
        assert not (tmp_path / "model.bridge").exists()


def test_torch_module_takes_only_torch_modules():
    with pytest.raises(br.ArgumentTypeError, match="torch.nn.Module, got Dense"):
        nn.TorchModule(nn.Dense(2))


@pytest.mark.slow  # imports TensorFlow
@pytest.mark.needs("tensorflow")
def test_torch_module_refuses_tensors_of_another_backend_naming_both():
    with br.use_backend("torch"):
        layer = nn.TorchModule(torch.nn.Linear(2, 2), name="lin")
    with br.use_backend("tensorflow"):
        with pytest.raises(br.BackendMismatchError, match=r"'lin' \(Linear\).*torch backend.*'tensorflow'"):
            layer(np.zeros((1, 2), np.float32))


def test_torch_module_moves_with_the_layer_and_follows_module_moves():
    net = _torch_net()
    with br.use_backend("torch"):
        layer = nn.TorchModule(net, dtype="float64")
        parameter = net[0].weight
        layer.to("cpu")
        assert layer.weights[0]._stored is parameter and net[0].weight is parameter
        net.double()  # torch replaces the buffers; the Variables follow on the next call
        out = layer(br.tensor(_data(2, 5).astype(np.float64)))
        assert out.dtype == br.float64 and layer.weights[6]._stored is net[1].running_mean


@pytest.mark.gpu
def test_torch_module_moves_to_the_gpu_in_place():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    net = _torch_net()
    with br.use_backend("torch"):
        layer = nn.TorchModule(net)
        parameter = net[0].weight
        layer.to("gpu")
        assert net[0].weight is parameter and parameter.is_cuda and net[1].running_mean.is_cuda
        assert layer(br.tensor(_data(2, 5)).to("gpu")).device == "gpu:0"


# --- to_torch -------------------------------------------------------------------------------------
def _bridge_model() -> nn.Model:
    inputs = nn.Input((5,))
    hidden = nn.BatchNormalization()(nn.Dense(4, activation="tanh")(inputs))
    outputs = nn.Dense(3)(nn.Dropout(0.5)(hidden))
    return nn.Model(inputs, outputs)


def _copy(model: nn.Model) -> nn.Model:
    twin = _bridge_model()
    twin.set_weights(model.get_weights())
    return twin


def test_to_torch_shares_the_parameters_under_stable_names():
    with br.use_backend("torch"):
        model = _bridge_model()
        module = to_torch(model)
    assert list(module.state_dict()) == [
        "dense.kernel",
        "dense.bias",
        "batch_normalization.gamma",
        "batch_normalization.beta",
        "batch_normalization.moving_mean",
        "batch_normalization.moving_variance",
        "dense_1.kernel",
        "dense_1.bias",
    ]
    parameters = dict(module.named_parameters())
    assert all(parameters[k] is w._stored for k, w in zip(module.state_dict(), model.weights))
    frozen = [k for k, p in parameters.items() if not p.requires_grad]
    assert frozen == ["batch_normalization.moving_mean", "batch_normalization.moving_variance"]
    x = torch.tensor(_data(4, 5))
    with br.use_backend("torch"):
        again = _bridge_model()  # its layers are named dense_2, ...: the keys are the same
        loaded = to_torch(again)
        loaded.load_state_dict(module.state_dict())  # into the shared Parameters: the model too
        assert _max_diff(again(x.numpy()), module.eval()(x)) == 0.0
    assert again.layers[1].name != model.layers[1].name


def test_to_torch_outputs_and_modes_follow_the_bridge_model():
    x = _data(6, 5)
    with br.use_backend("torch"):
        model = _bridge_model()
        module = to_torch(model)
        expected = model(x).numpy()
        assert _max_diff(module.eval()(torch.tensor(x)), expected) == 0.0
        trained = module.train()(torch.tensor(x))
    replaced = {name: torch.zeros_like(p) for name, p in module.named_parameters()}
    replaced["dense_1.bias"] = torch.ones(3)  # torch.func swaps the registered tensors: the model follows
    assert torch.equal(
        torch.func.functional_call(module.eval(), replaced, (torch.tensor(x),)), torch.ones(6, 3)
    )
    dropped = trained.detach().numpy()
    assert not np.allclose(dropped, expected, atol=1e-3)  # Dropout and batch statistics ran
    assert float(dict(module.named_parameters())["batch_normalization.moving_mean"].abs().max()) > 0


def test_to_torch_gradients_equal_bridge_value_and_grad():
    x, y = _data(6, 5), _data(6, 3, seed=1)
    with br.use_backend("torch"):
        model = _bridge_model()
        module = to_torch(model).eval()
        torch.mean((module(torch.tensor(x)) - torch.tensor(y)) ** 2).backward()

        def loss(weights):
            return br.ops.mean(br.ops.square(model(x) - y))

        _, grads = br.value_and_grad(loss)(model.trainable_weights)
    trainable = [p for p in module.parameters() if p.requires_grad]
    differences = [_max_diff(p.grad, g) for p, g in zip(trainable, grads)]
    assert len(differences) == 6 and max(differences) < F32, differences


def test_torch_optim_sgd_momentum_steps_equal_bridge_sgd_steps_on_a_copy():
    """Ten steps, training mode (BatchNorm batch statistics, moving averages updated; Dropout
    off: its random masks differ between the two runs)."""
    x, y = _data(8, 5), _data(8, 3, seed=1)
    with br.use_backend("torch"):
        model = _bridge_model()
        model.layers[-2].rate = 0.0  # Dropout
        twin = _copy(model)
        twin.layers[-2].rate = 0.0
        initial = model.get_weights()
        module = to_torch(model).train()
        optimizer = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9)
        sgd = br.optim.SGD(0.05, momentum=0.9)
        for _ in range(10):
            optimizer.zero_grad()
            torch.mean((module(torch.tensor(x)) - torch.tensor(y)) ** 2).backward()
            optimizer.step()
            with br.GradientTape() as tape:
                loss = br.ops.mean(br.ops.square(twin(x, training=True) - y))
            sgd.apply(tape.gradient(loss, twin.trainable_weights), twin.trainable_weights)
        differences = [_max_diff(a, b) for a, b in zip(model.weights, twin.weights)]
    assert max(differences) < 1e-5, differences
    assert _max_diff(model.weights[0], initial[0]) > 1e-3  # it trained


def test_to_torch_inside_a_larger_torch_module_trains_both():
    x = torch.tensor(_data(4, 2))
    with br.use_backend("torch"):
        model = _bridge_model()
        big = torch.nn.Sequential(torch.nn.Linear(2, 5), to_torch(model), torch.nn.Linear(3, 1))
        big.eval()
        big(x).sum().backward()
        expected = model(big[0](x).detach().numpy()).numpy()
    assert _max_diff(big[1](big[0](x)), expected) < F32
    assert big[0].weight.grad.abs().max() > 0 and model.weights[0]._stored.grad.abs().max() > 0


@pytest.mark.slow  # imports TensorFlow
@pytest.mark.needs("tensorflow")
def test_to_torch_copies_a_model_living_on_tensorflow():
    x = _data(3, 5)
    with br.use_backend("tensorflow"):
        model = _bridge_model()
        expected = model(x).numpy()
    module = to_torch(model).eval()
    assert _max_diff(module(torch.tensor(x)), expected) < F32
    with torch.no_grad():
        next(module.parameters()).zero_()  # a copy: the TensorFlow model is unchanged
    assert float(np.abs(model.weights[0].numpy()).max()) > 0
    with br.use_backend("tensorflow"):
        layer = nn.Dense(2)
        layer(x)
    with pytest.raises(br.UnsupportedConversionError, match=r"'dense.*' \(Dense\) lives on tensorflow"):
        to_torch(layer)


def test_to_torch_names_a_torch_modules_weights_and_refuses_unbuilt_models():
    net, x = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)), _data(4, 2)
    with br.use_backend("torch"):
        model = nn.Sequential([nn.TorchModule(net), nn.Dense(1)])
        with pytest.raises(nn.NotBuiltError, match="not built"):
            to_torch(model)
        expected = model(x).numpy()
        module = to_torch(model).eval()
    assert list(module.state_dict()) == [
        "torch_module.0_weight",  # torch's "0.weight": '.' cannot be in a registered name
        "torch_module.0_bias",
        "torch_module.1_weight",
        "torch_module.1_bias",
        "torch_module.1_running_mean",  # the torch module's buffers stay buffers
        "torch_module.1_running_var",
        "torch_module.1_num_batches_tracked",
        "dense.kernel",
        "dense.bias",
    ]
    assert module.torch_module.get_buffer("1_running_mean") is net[1].running_mean
    assert _max_diff(module(torch.tensor(x)), expected) == 0.0
    with pytest.raises(br.ArgumentTypeError, match="bridge layer or model, got Linear"):
        to_torch(torch.nn.Linear(2, 2))
