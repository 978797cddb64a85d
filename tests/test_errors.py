"""Bad input gets a bridge error that is also the matching builtin and names what went wrong."""

from __future__ import annotations

import pytest

import bridge as br


def test_every_error_is_a_bridge_error_and_a_builtin():
    pairs = [
        (br.UnknownBackendError, ValueError),
        (br.FrameworkNotInstalledError, ImportError),
        (br.BackendMismatchError, TypeError),
        (br.ShapeError, ValueError),
        (br.DTypeError, TypeError),
        (br.AxisError, IndexError),
        (br.DeviceError, ValueError),
        (br.BackendOpError, RuntimeError),
        (br.InvalidArgumentError, ValueError),
        (br.IndexOutOfRangeError, IndexError),
        (br.TracedValueError, TypeError),
    ]
    for error, builtin in pairs:
        assert issubclass(error, br.BridgeError) and issubclass(error, builtin)


@pytest.mark.parametrize("op", ["add", "multiply", "maximum", "less", "divide", "logical_and"])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op, backend):
    with pytest.raises(br.ShapeError, match=rf"{op}: shapes \(2, 3\) and \(4,\) do not broadcast") as info:
        getattr(br.ops, op)(br.ones((2, 3)), br.ones((4,)))
    assert isinstance(info.value, ValueError)


def test_operator_mismatch_and_where(backend):
    with pytest.raises(br.ShapeError, match=r"subtract: shapes \(3,\) and \(2,\)"):
        br.ones((3,)) - br.ones((2,))
    with pytest.raises(br.ShapeError, match="where"):
        br.ops.where(br.ones((3,)) > 0, br.ones((2,)), 0.0)


def test_bad_dtypes(backend):
    with pytest.raises(br.DTypeError, match="not defined for bool"):
        br.ops.subtract(br.tensor([True]), br.tensor([False]))
    with pytest.raises(br.DTypeError, match="integer or bool"):
        br.ones((2,)) & br.ones((2,))
    with pytest.raises(br.DTypeError, match="unknown dtype 'float8'"):
        br.zeros((2,), dtype="float8")
    with pytest.raises(br.DTypeError):
        br.tensor(["a", "b"])


@pytest.mark.needs("torch", "tensorflow")
def test_backend_mismatch_says_how_to_convert():
    x = br.ones((2,), backend="torch")
    y = br.ones((2,), backend="tensorflow")
    for call in (
        lambda: x + y,
        lambda: br.ops.matmul(x, y),
        lambda: br.ops.concat([x, y]),
        lambda: br.ops.where(x > 0, x, y),
    ):
        with pytest.raises(br.BackendMismatchError, match=r"bridge.convert\(x, "):
            call()


def test_unforeseen_framework_errors_are_wrapped_with_context(backend, monkeypatch):
    x = br.zeros((2, 2))

    def kernel_failure(*args):
        raise RuntimeError("the kernel failed\nsecond line of a long native traceback")

    monkeypatch.setattr(type(x._backend), "det", staticmethod(kernel_failure))
    with pytest.raises(
        br.BackendOpError,
        match=rf"det failed on backend '{backend}' for float32\(2, 2\)@{x.device}: the kernel failed$",
    ) as info:
        br.linalg.det(x)
    assert isinstance(info.value.__cause__, RuntimeError)  # the framework's own error stays attached


def test_singular_matrices_raise_a_value_error_naming_the_op(backend):
    with pytest.raises(br.InvalidArgumentError, match=r"inv: singular matrix in a of shape \(2, 2\)") as info:
        br.linalg.inv(br.zeros((2, 2))).numpy()
    assert isinstance(info.value, ValueError) and info.value.__cause__ is not None
