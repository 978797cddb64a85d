"""Devices, conversion between backends, NumPy and native tensors."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br


def test_devices_and_device_context(backend):
    names = br.devices()
    assert names[0] == "cpu" and all(n == "cpu" or n.startswith("gpu:") for n in names)
    with br.device("cpu") as name:
        assert name == "cpu" and br.ones((2,)).device == "cpu"
    with br.device("CPU:0"):
        assert br.zeros((1,)).device == "cpu"
    assert br.tensor([1.0], device="cpu").to("cpu").device == "cpu"


def test_missing_device_is_a_clear_error(backend):
    with pytest.raises(br.DeviceError, match=r"'gpu:7' is not present.*present: cpu") as info:
        with br.device("gpu:7"):
            pass
    assert isinstance(info.value, ValueError)
    with pytest.raises(br.DeviceError, match="gpu:7"):
        br.ones((2,)).to("cuda:7")
    with pytest.raises(br.DeviceError, match="unknown device 'tpu'"):
        br.ones((2,), device="tpu")


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.gpu
def test_gpu_placement_through_canonical_names(backend):
    gpus = [d for d in br.devices() if d.startswith("gpu:")]
    if not gpus:
        pytest.skip("no GPU on this machine; run where one is present")
    with br.device(gpus[0]):
        x = br.ones((3, 3))
    assert x.device == gpus[0]
    y = (x @ x).to("cpu")
    assert y.device == "cpu" and y.numpy()[0, 0] == 3.0
    z = br.convert(x, "torch" if backend != "torch" else "tensorflow")
    assert z.device == gpus[0]


@pytest.mark.parametrize(
    "source, target",
    [
        pytest.param("torch", "tensorflow", marks=pytest.mark.needs("torch", "tensorflow")),
        pytest.param("tensorflow", "torch", marks=pytest.mark.needs("torch", "tensorflow")),
        pytest.param("numpy", "torch", marks=pytest.mark.needs("torch")),
        pytest.param("torch", "numpy", marks=pytest.mark.needs("torch")),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool", "bfloat16", "uint8"])
def test_convert_between_backends(source, target, dtype):
    with br.use_backend(source):
        x = br.tensor([[1, 0, 1]], dtype=dtype)
    y = br.convert(x, target)
    assert y.backend == target and y.dtype == dtype and y.shape == (1, 3)
    np.testing.assert_array_equal(y.numpy().astype(np.float64), [[1, 0, 1]])


@pytest.mark.needs("torch", "tensorflow")
def test_asarray_accepts_native_tensors_of_any_installed_backend():
    import tensorflow as tf
    import torch

    with br.use_backend("tensorflow"):
        from_torch = br.asarray(torch.arange(3))
        assert from_torch.backend == "torch" and from_torch.tolist() == [0, 1, 2]
        moved = br.tensor(torch.ones(2), backend="tensorflow")
        assert moved.backend == "tensorflow" and moved.tolist() == [1.0, 1.0]
    x = br.tensor(tf.constant([1.5]), backend="torch")
    assert x.backend == "torch" and isinstance(x.native, torch.Tensor) and x.tolist() == [1.5]
    with br.use_backend("torch"):
        assert (br.ones((1,)) + torch.ones(1)).tolist() == [2.0]


@pytest.mark.needs("torch", "tensorflow")
def test_native_is_the_framework_tensor():
    import tensorflow as tf
    import torch

    assert isinstance(br.ones((1,), backend="torch").native, torch.Tensor)
    assert isinstance(br.ones((1,), backend="tensorflow").native, tf.Tensor)
