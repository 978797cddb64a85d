"""Tests that name particular backends, so they stay out of the conformance kit: tensors of two
backends in one op (where, gathers, gradients), variables as the frameworks' own types, and a
feature the NumPy reference backend lacks."""

from __future__ import annotations

import importlib
import operator

import numpy as np
import pytest

import bridge as br
from bridge import ops

pytestmark = pytest.mark.needs("torch", "tensorflow")


def _other_backend(backend: str) -> str:
    return "tensorflow" if backend == "torch" else "torch"


def test_where_refuses_tensors_of_two_backends(backend):
    other = _other_backend(backend)
    x, cond = br.tensor([1.0, 2.0]), br.tensor([True, False])
    for args in [(cond, x, br.tensor([0.0], backend=other)), (br.tensor([True], backend=other), x, 0.0)]:
        with pytest.raises(br.BackendMismatchError, match="where"):
            br.ops.where(*args)
    # data that is not yet a tensor (the condition here) joins the backend of the tensors
    out = br.ops.where(np.array([True, False]), br.tensor([1.0, 2.0], backend=other), 0.0)
    assert out.backend == other and out.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("name, native", [("torch", "nn.Parameter"), ("tensorflow", "Variable")])
def test_variables_are_the_frameworks_own(name, native):
    native_type = operator.attrgetter(native)(importlib.import_module(name))
    with br.use_backend(name):
        assert isinstance(br.Variable(br.tensor([1.0, 2.0])).native, native_type)


def test_features_missing_on_a_backend_are_a_clear_error():
    with (
        br.use_backend("numpy"),
        pytest.raises(br.UnsupportedFeatureError, match="'numpy' does not support autodiff"),
    ):
        br.grad(lambda t: br.ops.sum(t))(br.ones((2,)))


def test_gradients_follow_the_arguments_backend_not_the_current_one():
    with br.use_backend("tensorflow"):
        x = br.tensor([1.0, 2.0])
    with br.use_backend("torch"):
        g = br.grad(lambda t: br.ops.sum(t**2))(x)
        j = br.jacobian(lambda t: t * 3)(x)
        with br.GradientTape(backend="tensorflow") as tape:
            tape.watch(x)
            y = br.ops.sum(x * x * x)
        dy = tape.gradient(y, x)
    assert g.backend == j.backend == dy.backend == "tensorflow"
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(dy.numpy(), [3.0, 12.0])


@pytest.mark.parametrize("x_backend, index_backend", [("torch", "tensorflow"), ("tensorflow", "torch")])
def test_mixed_backends_in_a_gather_are_a_backend_mismatch(x_backend, index_backend):
    x = br.tensor(np.arange(6.0).reshape(2, 3), backend=x_backend)
    index = br.tensor([0, 1], backend=index_backend)
    for call in (
        lambda: ops.take(x, index),
        lambda: ops.take(x, index, axis=1),
        lambda: ops.take_along_axis(x, ops.reshape(index, (2, 1)), 1),
        lambda: x[index],
        lambda: x[:, index],
    ):
        with pytest.raises(br.BackendMismatchError, match="torch and tensorflow|tensorflow and torch"):
            call()
