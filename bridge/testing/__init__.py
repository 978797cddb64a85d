"""Cross-backend parity checks for your own code.

``assert_parity(fn, *inputs)`` runs ``fn`` on every backend and compares the results with each
other (values and dtypes) and, when given, with a NumPy float64 reference. Installed with bridge
as a pytest plugin (see :mod:`bridge.testing.plugin`): a ``backend`` fixture and a
``--bridge-backends`` option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._dispatch import use_backend
from .._plugins import installed_backends, load_backend
from ..ops.creation import tensor
from ..tensor import Tensor

#: Backends chosen with ``--bridge-backends`` (None: every installed backend).
selected_backends: list[str] | None = None


def parity_backends(requires: Sequence[str] = ()) -> list[str]:
    """The backends parity checks run on: those chosen (default: all installed) that provide
    the ``requires`` features ("variables", "autodiff", "jit")."""
    chosen = list(selected_backends) if selected_backends is not None else installed_backends()
    return [name for name in chosen if set(requires) <= load_backend(name).features]


def to_numpy_tree(tree: Any) -> Any:
    """Tensors in a (nested) list, tuple or dict replaced by NumPy arrays."""
    if isinstance(tree, Tensor):
        return tree.numpy()
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_numpy_tree(t) for t in tree)
    if isinstance(tree, dict):
        return {k: to_numpy_tree(v) for k, v in tree.items()}
    return tree


def _leaves(tree: Any, path: str = "result") -> list[tuple[str, Any]]:
    if isinstance(tree, (list, tuple)):
        return [leaf for i, t in enumerate(tree) for leaf in _leaves(t, f"{path}[{i}]")]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k], f"{path}[{k!r}]")]
    return [(path, tree)]


def _compare(where: str, actual: Any, expected: Any, rtol: float, atol: float, dtypes: bool) -> None:
    actual_leaves, expected_leaves = _leaves(actual), _leaves(expected)
    if [p for p, _ in actual_leaves] != [p for p, _ in expected_leaves]:
        raise AssertionError(f"{where}: results differ in structure")
    for (path, a), (_, e) in zip(actual_leaves, expected_leaves):
        a, e = np.asarray(a), np.asarray(e)
        if dtypes and a.dtype != e.dtype:
            raise AssertionError(f"{where}: {path} has dtype {a.dtype} against {e.dtype}")
        if a.shape != e.shape:
            raise AssertionError(f"{where}: {path} has shape {a.shape} against {e.shape}")
        if a.dtype.kind in "biu" and e.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e, err_msg=f"{where}: {path}")
        else:
            np.testing.assert_allclose(
                a.astype(np.float64),
                e.astype(np.float64),
                rtol=rtol,
                atol=atol,
                equal_nan=True,
                err_msg=f"{where}: {path}",
            )


def _reference_input(x: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(np.float64)
    return x


def assert_parity(
    fn: Callable[..., Any],
    *inputs: Any,
    reference: Callable[..., Any] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    backends: Sequence[str] | None = None,
    requires: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``fn`` on each backend and check that all agree (values and dtypes), and agree with
    ``reference`` (a NumPy function, given float64 copies of float inputs) when it is given.

    NumPy arrays among ``inputs`` become tensors of each backend; other inputs pass unchanged.
    ``requires`` limits the backends to those with these features (e.g. ``("autodiff",)``).
    Returns each backend's result as NumPy arrays, by backend name.
    """
    names = list(backends) if backends is not None else parity_backends(requires)
    if not names:
        raise AssertionError("assert_parity: no backend to run on")
    results = {}
    for name in names:
        with use_backend(name):
            args = [tensor(x, backend=name) if isinstance(x, np.ndarray) else x for x in inputs]
            results[name] = to_numpy_tree(fn(*args))
    first = names[0]
    for name in names[1:]:
        _compare(f"{name} against {first}", results[name], results[first], rtol, atol, dtypes=True)
    if reference is not None:
        expected = reference(*(_reference_input(x) for x in inputs))
        for name in names:
            _compare(f"{name} against the NumPy reference", results[name], expected, rtol, atol, dtypes=False)
    return results


__all__ = ["assert_parity", "parity_backends", "to_numpy_tree"]
