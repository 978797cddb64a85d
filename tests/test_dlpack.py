"""Moving data between frameworks (DLPack) never kills the process, whatever the source view.

TensorFlow imports a DLPack tensor whatever its address, then aborts the process (a fatal CHECK
in ``Tensor::CheckTypeAndIsAligned``) the first time a kernel reads a buffer that is not 64-byte
aligned. A torch slice ``x[1:5]`` is such a buffer. The torch-to-TensorFlow checks therefore run
in a subprocess, so that a regression fails this test instead of aborting the whole run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge as br

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
ROOT = Path(__file__).resolve().parents[1]


def _views(dtype: str) -> Iterator[tuple[str, np.ndarray, object]]:
    """(name, expected NumPy values, torch view) for offsets of 1..7 elements, strided and
    transposed views, 0-d and empty tensors; every view shares a freshly allocated base."""
    import torch

    numpy_dtype = getattr(br, dtype).numpy
    values = (np.arange(96) % 3).astype(numpy_dtype)
    base = torch.tensor(values.astype(np.float32)).to(getattr(torch, dtype))
    for k in range(1, 8):
        yield f"offset {k}", values[k : k + 16], base[k : k + 16]
    yield "strided", values[1::3], base[1::3]
    yield "transposed", values[:24].reshape(4, 6).T, base[:24].reshape(4, 6).T
    yield "offset 2-d", values[5:29].reshape(4, 6)[:, 1:], base[5:29].reshape(4, 6)[:, 1:]
    yield "0-d", values[3], base[3]
    yield "empty", values[3:3], base[3:3]
    yield "empty 2-d", values[:0].reshape(0, 4), base[:0].reshape(0, 4)


def _check_torch_views_on_tensorflow() -> None:
    """Every view reaches TensorFlow by each route, then goes through a TensorFlow kernel."""
    checked = 0
    for dtype in DTYPES:
        for name, expected, view in _views(dtype):
            routes = {
                "convert": lambda v=view: br.convert(br.tensor(v), "tensorflow"),
                "tensor": lambda v=view: br.tensor(v, backend="tensorflow"),
            }
            for route, move in routes.items():
                moved = move()
                assert moved.backend == "tensorflow" and moved.dtype == dtype, (dtype, name, route)
                assert moved.shape == expected.shape, (dtype, name, route, moved.shape)
                widened = moved.astype("float64").numpy()  # a kernel that reads the buffer
                np.testing.assert_array_equal(widened, expected.astype(np.float64), err_msg=f"{name} {route}")
                checked += 1
    print("checked", checked)


def _check_fit_on_torch_dataset() -> None:
    """fit on the TensorFlow backend from a torch TensorDataset whose items are batches (views
    into the dataset's tensors), directly and through a DataLoader; the losses equal those of
    the same batches given as NumPy arrays."""
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4, 3)).astype(np.float32)  # 16 batches of 4 rows
    y = x.sum(-1, keepdims=True) * 0.5
    dataset = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    sources = {
        "dataset": dataset,
        "loader": torch.utils.data.DataLoader(dataset, batch_size=None),
        "numpy": list(zip(x, y)),
    }
    losses = {}
    with br.use_backend("tensorflow"):
        for name, source in sources.items():
            br.random.seed(0)
            model = br.nn.Sequential([br.nn.Dense(1)])
            model.compile(optimizer="sgd", loss="mse", jit=False)
            losses[name] = model.fit(source, epochs=2, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(losses["dataset"], losses["numpy"], rtol=1e-6)
    np.testing.assert_allclose(losses["loader"], losses["numpy"], rtol=1e-6)
    print("fit", losses)


def _run_isolated(function: str) -> str:
    """Run ``function`` of this module in a fresh interpreter; its stdout, or a failure that
    says how the process ended (an abort is exit status -6)."""
    code = f"from tests.test_dlpack import {function}; {function}()"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "BRIDGE_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{function} ended with status {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_torch_views_reach_tensorflow_with_their_values():
    out = _run_isolated("_check_torch_views_on_tensorflow")
    assert f"checked {len(DTYPES) * 13 * 2}" in out


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_fit_on_tensorflow_from_a_torch_tensor_dataset():
    assert "fit" in _run_isolated("_check_fit_on_torch_dataset")


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("dtype", DTYPES)
@given(start=st.integers(0, 7), step=st.integers(1, 3), length=st.integers(0, 9), transpose=st.booleans())
def test_tensorflow_slices_reach_torch_with_their_values(dtype, start, step, length, transpose):
    numpy_dtype = getattr(br, dtype).numpy
    values = (np.arange(64) % 5).astype(numpy_dtype).reshape(8, 8)
    with br.use_backend("tensorflow"):
        source = br.tensor(values)[start : start + length, ::step]
        source = source.T if transpose else source
    expected = values[start : start + length, ::step]
    expected = expected.T if transpose else expected
    for moved in (br.convert(source, "torch"), br.tensor(source.native, backend="torch")):
        assert moved.backend == "torch" and moved.dtype == dtype and moved.shape == expected.shape
        np.testing.assert_array_equal(moved.numpy().astype(np.float64), expected.astype(np.float64))
