"""A custom training loop with bridge's layers, losses, metrics and optimizers, on either backend:
a small network with a custom layer learns a generated 3-class problem.

    python examples/custom_training_loop.py --backend torch
    python examples/custom_training_loop.py --backend tensorflow
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402
from bridge import losses, metrics, nn, optim  # noqa: E402


class Scale(nn.Layer):
    """A custom low-level layer: a learned scale per feature."""

    def __init__(self, name=None):
        super().__init__(name=name)

    def build(self, input_shape):
        self.alpha = self.add_weight("alpha", shape=(input_shape[-1],), initializer="ones")

    def call(self, x, training=False):
        return x * self.alpha


def make_problem(n=1500, seed=0):
    """Three overlapping Gaussian blobs in 8 dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, 8)) * 1.6
    y = rng.integers(0, 3, n)
    x = (centers[y] + rng.standard_normal((n, 8))).astype(np.float32)
    return br.data.train_test_split(x, y, test_size=0.2, seed=seed)


def train(epochs: int = 10) -> float:
    x_train, x_val, y_train, y_val = make_problem()
    br.random.seed(0)
    net = nn.Sequential([nn.Dense(32, activation="relu"), nn.Dropout(0.1), Scale(), nn.Dense(3)])
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = optim.Adam(learning_rate=1e-3)
    acc = metrics.SparseCategoricalAccuracy()
    for epoch in range(epochs):
        acc.reset_state()
        for xb, yb in br.data.batches(x_train, y_train, batch_size=32, shuffle=True, seed=epoch):
            with br.GradientTape() as tape:
                logits = net(xb, training=True)
                loss = loss_fn(yb, logits)
            opt.apply(tape.gradient(loss, net.trainable_weights), net.trainable_weights)
            acc.update_state(yb, logits)
        val = metrics.SparseCategoricalAccuracy()
        val.update_state(y_val, net(x_val))
        print(
            f"epoch {epoch + 1:2d}  loss {float(loss):.4f}  accuracy {float(acc.result()):.3f}  "
            f"val_accuracy {float(val.result()):.3f}"
        )
    return float(val.result())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="torch or tensorflow (default: bridge's default)")
    args = parser.parse_args()
    if args.backend:
        br.set_backend(args.backend)
    print(f"backend: {br.get_backend()}")
    print(f"validation accuracy: {train():.3f}")


if __name__ == "__main__":
    main()
