"""Fused optimizer fast paths (``Backend.adam_update``) against the rule written once in the core:
a backend's fused kernel must give the composite's numbers (where it has none, the composite runs
on both sides and this holds trivially)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import bridge as br
from bridge import optim


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
