"""A hand-written training loop gives the same losses on every backend, eager and under jit."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br

STEPS = 20


def make_data(n=256, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    true_w = rng.standard_normal((features, 1)).astype(np.float32)
    y = (x @ true_w + 0.3 * rng.standard_normal((n, 1)) > 0).astype(np.float32)
    return x, y


def train_logistic_regression(backend: str, jit: bool | dict) -> list[float]:
    """value_and_grad + assign_sub, as in the course's low-level lab."""
    x_np, y_np = make_data()
    with br.use_backend(backend):
        x, y = br.tensor(x_np), br.tensor(y_np)
        w = br.Variable(br.random.normal((4, 1), stddev=0.1, seed=0), name="w")
        b = br.Variable(br.zeros((1,)), name="b")

        def loss_fn(w, b):
            logits = x @ w + b
            # binary cross-entropy from logits, written out
            return br.ops.mean(br.ops.softplus(logits) - y * logits)

        def step():
            loss, (gw, gb) = br.value_and_grad(loss_fn, argnums=(0, 1))(w, b)
            w.assign_sub(gw * 0.5)
            b.assign_sub(gb * 0.5)
            return loss

        if jit:
            step = br.jit(step, **(jit if isinstance(jit, dict) else {}))
        return [float(step()) for _ in range(STEPS)]


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_the_same_losses_on_every_backend_eager_and_jit():
    eager = {name: train_logistic_regression(name, jit=False) for name in ("torch", "tensorflow")}
    np.testing.assert_allclose(eager["tensorflow"], eager["torch"], rtol=1e-5)
    assert eager["torch"][-1] < 0.8 * eager["torch"][0]  # it learns
    compiled = {name: train_logistic_regression(name, jit=True) for name in ("torch", "tensorflow")}
    for name in compiled:
        np.testing.assert_allclose(compiled[name], eager["torch"], rtol=1e-5, err_msg=name)
