"""Cross-backend parity checks for your own code.

``assert_parity(fn, *inputs)`` runs ``fn`` on every backend and compares the results with each
other (values and dtypes) and, when given, with a NumPy float64 reference. Installed with bridge
as a pytest plugin (``bridge.testing.plugin``): a ``bridge_backend`` fixture and a
``--bridge-backends`` option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import random
from .._dispatch import use_backend
from .._plugins import installed_backends, load_backend
from ..autodiff import GradientTape
from ..ops.creation import tensor
from ..ops.math import multiply
from ..ops.reduction import sum as total
from ..tensor import Tensor
from ..tree import leaves_with_paths, map_leaves
from .equivalence import Comparison, EquivalenceReport, assert_equivalent

#: Backends chosen with ``--bridge-backends`` (None: every installed backend).
selected_backends: list[str] | None = None

#: The reference backends bridge.testing brings along, by name: not for models, but registered on
#: demand by ``--bridge-backends`` (and so by ``python -m bridge check --backend``) when named.
REFERENCE_BACKENDS = {"numpy": "bridge.testing.numpy_backend:NumpyBackend"}


def parity_backends(requires: Sequence[str] = ()) -> list[str]:
    """The backends parity checks run on: those chosen (default: all installed) that provide
    the ``requires`` features ("variables", "autodiff", "jit")."""
    chosen = list(selected_backends) if selected_backends is not None else installed_backends()
    return [name for name in chosen if set(requires) <= load_backend(name).features]


def to_numpy_tree(tree: Any) -> Any:
    """Tensors in a (nested) list, tuple or dict replaced by NumPy arrays."""
    return map_leaves(lambda x: x.numpy() if isinstance(x, Tensor) else x, tree)


def _compare(where: str, actual: Any, expected: Any, rtol: float, atol: float, dtypes: bool) -> None:
    actual_leaves = dict(leaves_with_paths(actual, "result"))
    expected_leaves = dict(leaves_with_paths(expected, "result"))
    if actual_leaves.keys() != expected_leaves.keys():  # dicts match key by key, in any order
        raise AssertionError(f"{where}: results differ in structure")
    for path, e in expected_leaves.items():
        a = actual_leaves[path]
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


def _numeric_gradients(
    loss: Callable[[list[np.ndarray]], float], arrays: list[np.ndarray], step: float = 1e-6
):
    """Central differences of ``loss`` for every element of every array (float64)."""
    grads = []
    for k, array in enumerate(arrays):
        grad = np.zeros(array.shape)
        for index in np.ndindex(array.shape):
            shifted = [a.astype(np.float64, copy=True) for a in arrays]
            shifted[k][index] += step
            upper = loss(shifted)
            shifted[k][index] -= 2 * step
            grad[index] = (upper - loss(shifted)) / (2 * step)
        grads.append(grad)
    return grads


def assert_layer_parity(
    make_layer: Callable[[], Any],
    x: np.ndarray,
    reference: Callable[..., np.ndarray] | None = None,
    training: bool = False,
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    backends: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Check a layer the way bridge checks its own: built by ``make_layer()`` on every backend
    after ``br.random.seed(seed)``, it must have the same initial weights, outputs, and gradients
    (of ``sum(output * c)`` for a fixed random ``c``) with respect to the input and every
    trainable weight, on all backends.

    With ``reference(x, weights, training)`` (NumPy, weights in ``layer.weights`` order), outputs
    must match it and gradients must match its float64 finite differences (use float64 layers,
    ``dtype="float64"``, for tight tolerances). Returns each backend's ``output``, ``weights``
    (as after the call), ``input_grad`` and ``weight_grads`` as NumPy arrays."""
    names = list(backends) if backends is not None else parity_backends(("autodiff", "variables"))
    if not names:
        raise AssertionError("assert_layer_parity: no backend with autodiff and variables to run on")
    x = np.asarray(x)
    cotangent = None
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        with use_backend(name):
            random.seed(seed)
            layer = make_layer()
            inputs = tensor(x)
            differentiable = inputs.dtype.kind == "f"  # integer inputs (ids) get no gradient
            with GradientTape() as tape:
                if differentiable:
                    tape.watch(inputs)
                output = layer(inputs, training=training)
                if cotangent is None:
                    cotangent = np.random.default_rng(seed).standard_normal(output.shape)
                target = total(multiply(output, tensor(cotangent, dtype=output.dtype)))
            weights = [w.numpy() for w in layer.weights]  # after the call (moving averages updated)
            trainable = layer.trainable_weights
            sources = [inputs, trainable] if differentiable else [trainable]
            grads = tape.gradient(target, sources, unconnected_gradients="zero")
            weight_grads = grads[-1]
            results[name] = {
                "output": output.numpy(),
                "weights": weights,
                "input_grad": grads[0].numpy() if differentiable else None,
                "weight_grads": [g.numpy() for g in weight_grads],
                "trainable_count": len(trainable),
            }
    first = names[0]
    for name in names[1:]:
        _compare(f"layer on {name} against {first}", results[name], results[first], rtol, atol, dtypes=True)
    if reference is not None:
        ours = results[first]
        weights = [w.astype(np.float64) for w in ours["weights"]]
        count = ours["trainable_count"]
        floating = x.dtype.kind == "f"
        x_ref = x.astype(np.float64) if floating else x
        expected = reference(x_ref, weights, training)
        _compare(
            "layer output against the NumPy reference", ours["output"], expected, rtol, atol, dtypes=False
        )

        def loss(arrays: list[np.ndarray]) -> float:
            inputs, trained = (arrays[0], arrays[1:]) if floating else (x_ref, arrays)
            return float(np.sum(reference(inputs, trained + weights[count:], training) * cotangent))

        numeric = _numeric_gradients(loss, ([x_ref] if floating else []) + weights[:count])
        for name in names:
            found = [
                g for g in [results[name]["input_grad"], *results[name]["weight_grads"]] if g is not None
            ]
            _compare(
                f"layer gradients on {name} against finite differences",
                found,
                numeric,
                rtol,
                atol,
                dtypes=False,
            )
    return results


def assert_training_parity(
    build_model: Callable[[], Any],
    x: Any,
    y: Any,
    epochs: int = 20,
    batch_size: int = 32,
    seed: int = 0,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    backends: Sequence[str] | None = None,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    """Train ``build_model()`` (a compiled model) on every backend from ``br.random.seed(seed)``
    with ``fit(x, y, epochs, batch_size, seed=seed, verbose=0, **fit_kwargs)``, and check that the
    loss and metric histories and the final weights agree. Returns each backend's History."""
    names = list(backends) if backends is not None else parity_backends(("autodiff", "variables"))
    if not names:
        raise AssertionError("assert_training_parity: no backend with autodiff and variables to run on")
    histories, weights = {}, {}
    for name in names:
        with use_backend(name):
            random.seed(seed)
            model = build_model()
            histories[name] = model.fit(
                x, y, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0, **fit_kwargs
            )
            weights[name] = model.get_weights()
    first = names[0]
    for name in names[1:]:
        ours, theirs = histories[name].history, histories[first].history
        if sorted(ours) != sorted(theirs):
            raise AssertionError(f"{name} logged {sorted(ours)}, {first} logged {sorted(theirs)}")
        for key in theirs:
            _compare(
                f"history[{key!r}] on {name} against {first}",
                ours[key],
                theirs[key],
                rtol,
                atol,
                dtypes=False,
            )
        _compare(
            f"final weights on {name} against {first}", weights[name], weights[first], rtol, atol, dtypes=True
        )
    return histories


__all__ = [
    "assert_equivalent",
    "EquivalenceReport",
    "Comparison",
    "assert_parity",
    "assert_layer_parity",
    "assert_training_parity",
    "parity_backends",
    "to_numpy_tree",
]
