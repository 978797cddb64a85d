"""The course's low-level path on either backend: tensors, gradients of an arbitrary expression,
and a hand-written training loop.

    python examples/low_level.py --backend torch
    python examples/low_level.py --backend tensorflow --jit
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402


def tensors() -> None:
    print("== 1. tensors")
    x = br.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    print("x =", x.numpy().tolist(), x.dtype, x.device, x.backend)
    print("x + 10 (broadcast a scalar):", (x + 10).numpy().tolist())
    print("x * [1, 0, -1] (broadcast a row):", (x * br.tensor([1.0, 0.0, -1.0])).numpy().tolist())
    print("x @ x.T:", (x @ x.T).numpy().tolist())
    print("column means:", x.mean(axis=0).numpy().tolist(), " row max:", x.max(axis=1).numpy().tolist())
    print("x[x > 2.5] =", x[x > 2.5].numpy().tolist(), " x[:, ::-1][0] =", x[:, ::-1][0].numpy().tolist())


def gradients() -> None:
    print("\n== 2. gradients of an arbitrary expression")

    def f(x, y):
        return br.ops.sin(x) * y**2 + br.ops.exp(x * y)

    x, y = br.tensor(0.5), br.tensor(1.5)
    value, (dx, dy) = br.value_and_grad(f, argnums=(0, 1))(x, y)
    print(f"f(0.5, 1.5) = {float(value):.6f}")
    print(f"df/dx = {float(dx):.6f}   analytic {math.cos(0.5) * 1.5**2 + 1.5 * math.exp(0.75):.6f}")
    print(f"df/dy = {float(dy):.6f}   analytic {2 * 1.5 * math.sin(0.5) + 0.5 * math.exp(0.75):.6f}")
    d2 = br.grad(br.grad(lambda t: t**3 - 2 * t))(br.tensor(2.0))
    print(f"d2/dt2 (t^3 - 2t) at 2 = {float(d2):.1f}   analytic 12.0")


def training_loop(jit: bool, steps: int = 200) -> None:
    print(f"\n== 3. a hand-written training loop (logistic regression{', jit' if jit else ''})")
    rng = np.random.default_rng(0)
    features = rng.standard_normal((400, 2)).astype(np.float32)
    labels = (features[:, :1] - 2 * features[:, 1:] > 0.2).astype(np.float32)
    x, y = br.tensor(features), br.tensor(labels)
    w = br.Variable(br.random.normal((2, 1), stddev=0.1, seed=0), name="w")
    b = br.Variable(br.zeros((1,)), name="b")

    def loss_fn(w, b):
        logits = x @ w + b
        return br.ops.mean(br.ops.softplus(logits) - y * logits)  # binary cross-entropy

    def step():
        loss, (gw, gb) = br.value_and_grad(loss_fn, argnums=(0, 1))(w, b)
        w.assign_sub(gw * 1.0)
        b.assign_sub(gb * 1.0)
        return loss

    step = br.jit(step, enabled=jit)
    for i in range(steps):
        loss = step()
        if i % 50 == 0 or i == steps - 1:
            print(f"step {i:3d}  loss {float(loss):.4f}")
    accuracy = float(br.ops.mean(((x @ w + b > 0) == (y > 0.5)).astype("float32")))
    print(f"accuracy {accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="torch or tensorflow (default: bridge's default)")
    parser.add_argument("--jit", action="store_true", help="compile the training step")
    args = parser.parse_args()
    if args.backend:
        br.set_backend(args.backend)
    print(f"backend: {br.get_backend()} {br.backends()[br.get_backend()]}\n")
    tensors()
    gradients()
    training_loop(args.jit)


if __name__ == "__main__":
    main()
