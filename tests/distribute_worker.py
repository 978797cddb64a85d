"""A data-parallel worker for tests/test_distribute.py, started by ``bridge.distribute.launch``:
trains a small model with a custom loop on its shard of each global batch, and saves its final
weights and the workers' mean losses to ``<out>-<rank>.npz``. ``train`` without workers is the
single-process reference on the global batches."""

from __future__ import annotations

import contextlib
import sys

import numpy as np

import bridge as br
from bridge import losses, nn, optim

GLOBAL_BATCH, STEPS = 8, 5


def global_batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    return [
        (rng.standard_normal((GLOBAL_BATCH, 4)).astype(np.float32), rng.integers(0, 3, GLOBAL_BATCH))
        for _ in range(STEPS)
    ]


def train(batches, workers=None, jit: bool = False, units: int = 8) -> tuple[list[np.ndarray], list[float]]:
    """Final weights and per-step losses (averaged over the workers) of Adam on ``batches``."""
    br.random.seed(0)
    with workers.scope() if workers is not None else contextlib.nullcontext():
        model = nn.Sequential([nn.Dense(units, activation="relu"), nn.Dense(3)])
        model(np.zeros((1, 4), np.float32))
        optimizer, loss_fn = optim.Adam(0.05), losses.SparseCategoricalCrossentropy(from_logits=True)
        optimizer.build(model.trainable_weights)  # in the scope: checks that the workers agree

    def step(x, y):
        with br.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
        return loss if workers is None else workers.reduce("mean", loss)

    step = br.jit(step, torch={"backend": "aot_eager"}) if jit else step
    seen = []
    for x, y in batches:
        seen.append(float(step(x, y) if workers is None else workers.run(step, (x, y))))
    return [w.numpy() for w in model.weights], seen


def main(out: str, mode: str) -> None:
    """``mode``: "eager", "jit" or "eager+jit" (one training after the other, each saved to
    ``<out>-<rank>-<eager|jit>.npz``), or "mismatch" (the second worker's model is wider, its step
    compiled: an error)."""
    workers = br.distribute.DataParallel(timeout=20)
    units = 9 if mode == "mismatch" and workers.rank == 1 else 8
    for jit in ("eager", "jit") if mode == "eager+jit" else ("jit",) if mode == "mismatch" else (mode,):
        weights, seen = train(list(workers.distribute(global_batches())), workers, jit == "jit", units)
        arrays = {f"weight{i}": w for i, w in enumerate(weights)}
        np.savez(
            f"{out}-{workers.rank}-{jit}.npz", losses=np.array(seen), workers=workers.num_workers, **arrays
        )
    workers.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
