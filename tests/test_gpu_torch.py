"""torch on a GPU: arrays reach it with their values, training from host batches gives the
arrays' numbers and the CPU's, and ``jit="graph"`` replays inductor's CUDA graphs
with eager's numbers (the last, partial batch included) and no warning. These need a CUDA device:
without one they are skipped with that reason (``benchmarks/gpu.sh`` runs them where one is lent).
The pieces of the GPU code that run anywhere are checked here on the CPU."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge as br
import bridge.nn.model as model_module
from bridge import losses, nn, optim
from bridge.dtypes import as_dtype

pytestmark = pytest.mark.needs("torch")


@pytest.fixture
def cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


@settings(max_examples=50)
@given(
    shapes=st.sampled_from(
        [
            ((3, 4), (4, 5)),
            ((4,), (4, 5)),
            ((3, 4), (4,)),
            ((4,), (4,)),
            ((2, 1, 3, 4), (5, 4, 2)),
            ((4,), (2, 4, 3)),
        ]
    ),
    dtype=st.sampled_from([np.int32, np.int64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_integer_matmul_cuda_lacks_is_numpys_wrapping_product(shapes, dtype, seed):
    """The torch plugin's integer matmul for a GPU (CUDA has no kernel), checked on the CPU."""
    import torch

    from bridge_torch.backend import _integer_matmul

    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    a, b = (rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True) for shape in shapes)
    with np.errstate(over="ignore"):
        expected = np.matmul(a, b)
    got = _integer_matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "values, dtype",
    [
        (np.array([[0.1, -2.5], [3.0, 1e-8]]), "float32"),  # float64 in, cast on the host
        (np.arange(-3, 3).reshape(2, 3), "int64"),
        (np.array([True, False, True]), "bool"),
        (np.array([0, 255, 7], dtype=np.uint8), "uint8"),
        (np.array([1.5, -0.25, 3.0], dtype=np.float32), "bfloat16"),
        (np.array(4.5, np.float32), "float32"),  # no axes
        (np.zeros((0, 3), np.float32), "float32"),  # no elements
    ],
)
@pytest.mark.gpu
def test_arrays_reach_the_gpu_with_their_values(cuda, values, dtype):
    expected = values.astype(as_dtype(dtype).numpy)
    with br.use_backend("torch"):
        x = br.tensor(values, dtype=dtype, device="gpu:0")
        values[...] = 0  # the source changes right after the copy (which must not alias it)
        assert x.device == "gpu:0" and x.native.is_cuda and x.dtype == dtype
        np.testing.assert_array_equal(x.numpy(), expected)


def _model(dropout: bool) -> nn.Model:
    layers = [nn.Dense(16, activation="relu"), nn.BatchNormalization(), nn.Dense(3)]
    return nn.Sequential(layers[:2] + [nn.Dropout(0.2)] * dropout + layers[2:])


def _fit(device: str, jit=False, host_batches: bool = False, dropout: bool = False):
    """History and weights of a fresh seeded model trained on ``device`` for three epochs of
    batches of 32 (the last of each epoch has 16 samples)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((80, 20)).astype(np.float32), rng.integers(0, 3, 80)
    with br.use_backend("torch"), br.device(device):
        br.random.seed(0)
        model = _model(dropout)
        model.compile(
            optimizer=optim.Adam(1e-2),
            loss=losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit=jit,
        )
        if host_batches:
            batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 80, 32)]
            history = model.fit(batches, epochs=3, verbose=0)
        else:
            history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
        return history.history, [w.numpy() for w in model.weights]


def _assert_same(got, expected, rtol: float, atol: float) -> None:
    (history, weights), (expected_history, expected_weights) = got, expected
    for key, values in expected_history.items():
        np.testing.assert_allclose(history[key], values, rtol=rtol, atol=atol, err_msg=key)
    for weight, value in zip(weights, expected_weights, strict=True):
        np.testing.assert_allclose(weight, value, rtol=rtol, atol=atol)


@pytest.mark.gpu
def test_host_batches_train_as_the_arrays_do(cuda):
    # on a GPU host batches are read ahead on a thread (bridge.data.prefetch), copied as they come
    arrays = _fit("gpu:0", dropout=True)
    _assert_same(_fit("gpu:0", host_batches=True, dropout=True), arrays, rtol=0, atol=0)


@pytest.mark.gpu
def test_training_on_the_gpu_gives_the_cpus_numbers(cuda):
    _assert_same(_fit("gpu:0", host_batches=True), _fit("cpu"), rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_graph_mode_replays_cuda_graphs_with_eagers_numbers_and_no_warning(cuda, monkeypatch):
    import torch
    from torch._dynamo.utils import counters
    from torch._inductor import cudagraph_trees

    monkeypatch.setattr(model_module, "compile_function", functools.partial(br.jit))  # inductor
    eager = _fit("gpu:0")
    skips = counters["inductor"]["cudagraph_skips"]
    with warnings.catch_warnings(record=True) as caught:  # what a user would see
        graph = _fit("gpu:0", jit="graph")
    assert [str(w.message) for w in caught] == []
    assert counters["inductor"]["cudagraph_skips"] == skips  # every step ran as a graph
    assert cudagraph_trees.get_manager(torch.cuda.current_device(), create_if_none_exists=False)
    _assert_same(graph, eager, rtol=2e-5, atol=1e-6)
