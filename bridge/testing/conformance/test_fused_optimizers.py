"""Optimizer fast paths against the core: a backend's fused Adam (``Backend.adam_update``) must
give the numbers of the rule written once (where it has none, the composite runs on both sides and
this holds trivially); its gradient check (``Backend.all_finite``, or the composite) must say what
NumPy says."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge import optim

from .strategies import SETTINGS


class WrittenOnceAdam(optim.Adam):
    """Adam with its ``update_step`` overridden (by itself): the core's composite, never fused."""

    def update_step(self, variable: br.Variable, gradient: br.Tensor, learning_rate: br.Tensor) -> None:
        super().update_step(variable, gradient, learning_rate)


def adam_run(
    cls: type[optim.Adam],
    shapes: Sequence[tuple[int, ...]],
    steps: int,
    nonfinite_at: int | None,
    **kwargs: Any,
) -> list[np.ndarray]:
    """Every variable, then every optimizer variable (iterations, learning rate, the slots), after
    ``steps`` steps of seeded float32 gradients, the last one infinite at step ``nonfinite_at``."""
    rng = np.random.default_rng(5)
    variables = [br.Variable(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    opt = cls(0.01, **kwargs)
    for step in range(steps):
        grads = [br.tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        if step == nonfinite_at:
            grads[-1] = grads[-1] * float("inf")
        opt.apply(grads, variables)
    return [v.numpy() for v in variables] + [v.numpy() for v in opt.variables]


def test_fused_adam_gives_the_written_once_rules_numbers(bridge_backend):
    shapes = [(5, 3), (3,), ()]
    for kwargs in ({}, {"amsgrad": True, "weight_decay": 0.05}, {"check_finite": False}):
        nonfinite_at = 2 if kwargs.get("check_finite", True) else None
        fused = adam_run(optim.Adam, shapes, 5, nonfinite_at, **kwargs)
        written_once = adam_run(WrittenOnceAdam, shapes, 5, nonfinite_at, **kwargs)
        assert len(fused) == len(written_once)
        for a, b in zip(fused, written_once):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f"Adam({kwargs})")


def gradient_like_arrays() -> st.SearchStrategy[list[np.ndarray]]:
    """1-4 arrays of mixed dtypes and shapes (empty ones too), with NaN, infinities and values
    near each dtype's largest."""
    dtypes = st.sampled_from([np.float16, np.float32, np.float64, np.int32])
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    array = st.tuples(dtypes, shapes).flatmap(
        lambda spec: hnp.arrays(spec[0], spec[1], elements=hnp.from_dtype(np.dtype(spec[0])))
    )
    return st.lists(array, min_size=1, max_size=4)


@SETTINGS
@given(arrays=gradient_like_arrays())
def test_all_finite_says_what_numpy_says(bridge_backend, arrays):
    expected = all(bool(np.isfinite(a).all()) for a in arrays)
    found = optim.all_finite([br.tensor(a) for a in arrays])
    assert found.shape == () and found.dtype == br.bool_
    assert bool(found.numpy()) is expected, [a.tolist() for a in arrays]


def test_all_finite_holds_at_the_extremes(bridge_backend):
    largest = np.finfo(np.float32).max
    cases = {
        "largest float32s": ([np.array([largest, -largest], np.float32)], True),
        "a float64 beyond float32": ([np.array([1e300], np.float64), np.ones(3, np.float32)], True),
        "NaN last": ([np.ones(4, np.float32), np.array([0.0, np.nan], np.float32)], False),
        "-inf alone": ([np.array(-np.inf, np.float32)], False),
        "only empties": ([np.zeros((0, 3), np.float32)], True),
    }
    for name, (arrays, expected) in cases.items():
        found = optim.all_finite([br.tensor(a) for a in arrays])
        assert bool(found.numpy()) is expected, name
