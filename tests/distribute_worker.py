"""A data-parallel worker for tests/test_distribute.py, started by ``bridge.distribute.launch``.

``train`` and ``fit_model`` without workers are the single-process references on the global
batches. Modes (``main``): ``train`` runs the custom loop (eagerly and/or compiled), a ``fit``
whose last batch leaves the second worker without rows, then a ``fit`` with ``BackupAndRestore``
in which the second worker dies mid-epoch; ``resume`` runs that fit again (it resumes from the
backup), then gives the workers different batch sizes (caught), then different models (not
caught: the process ends with the error). Each result is saved to ``<out>-<rank>-<name>.npz``."""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

import bridge as br
from bridge import callbacks, losses, nn, optim

GLOBAL_BATCH, STEPS = 8, 5
KILLED_AT = (1, 2)  # (epoch, batch) at which the second worker dies in mode "train"


def global_batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    return [
        (rng.standard_normal((GLOBAL_BATCH, 4)).astype(np.float32), rng.integers(0, 3, GLOBAL_BATCH))
        for _ in range(STEPS)
    ]


def samples(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 4)).astype(np.float32), rng.integers(0, 3, count)


def seed_apart(workers) -> None:
    """Seed each worker apart (rank 0 as one process): the workers take rank 0's weights and data
    order."""
    br.random.seed(0 if workers is None else workers.rank)


def model_and_optimizer(units: int = 8, normalized: bool = False) -> tuple[nn.Sequential, optim.Adam]:
    middle = [nn.BatchNormalization(), nn.Activation("relu")] if normalized else [nn.Activation("relu")]
    return nn.Sequential([nn.Dense(units), *middle, nn.Dense(3)]), optim.Adam(0.05)


def train(batches, workers=None, jit: bool = False, units: int = 8) -> tuple[list[np.ndarray], list[float]]:
    """Final weights and per-step losses (averaged over the workers) of Adam on ``batches``."""
    seed_apart(workers)
    with workers.scope() if workers is not None else contextlib.nullcontext():
        model, optimizer = model_and_optimizer(units)
        model(np.zeros((1, 4), np.float32))
        loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
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


def fit_model(
    count: int,
    workers=None,
    backup: str | None = None,
    epochs: int = 2,
    batch_size: int = 10,
    units: int = 8,
    normalized: bool = False,
    stop_at: int | None = None,
) -> tuple[list[np.ndarray], dict[str, list[float]]]:
    """Final weights and history of ``fit`` on ``count`` samples (shuffled, validated on 7),
    compiled in the workers' scope; ``backup``: with BackupAndRestore every 2 batches, the
    second worker dying at ``KILLED_AT`` unless ``<backup>/resumed`` exists; ``normalized``:
    with BatchNormalization (whose moving statistics each worker gathers on its shards);
    ``stop_at``: a callback of the last worker stops training after that batch of the first
    epoch."""
    seed_apart(workers)
    with workers.scope() if workers is not None else contextlib.nullcontext():
        model, optimizer = model_and_optimizer(units, normalized)
        model(np.zeros((1, 4), np.float32))
        model.compile(optimizer, losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    hooks = []
    if stop_at is not None:  # on every worker (they must be given the same callbacks)
        stops = workers is None or workers.rank == workers.num_workers - 1
        stop = lambda b, logs: setattr(model, "stop_training", stops and b == stop_at)  # noqa: E731
        hooks.append(callbacks.LambdaCallback(on_train_batch_end=stop))
    if backup is not None:
        hooks.append(callbacks.BackupAndRestore(backup, save_freq=2))
        if workers is not None and not os.path.exists(f"{backup}/resumed"):  # on every worker
            epoch, dies = [0], workers.rank == 1
            hooks.append(
                callbacks.LambdaCallback(
                    on_epoch_begin=lambda e, logs: epoch.__setitem__(0, e),
                    on_train_batch_begin=lambda b, logs: (
                        os._exit(7) if dies and (epoch[0], b) == KILLED_AT else None
                    ),
                )
            )
    x, y = samples(count, 1)
    history = model.fit(
        x, y, batch_size=batch_size, epochs=epochs, validation_data=samples(7, 2), callbacks=hooks, verbose=0
    )
    return [w.numpy() for w in model.weights], history.history


def save(out: str, name: str, workers, weights: list[np.ndarray], **values) -> None:
    arrays = {f"weight{i}": w for i, w in enumerate(weights)}
    np.savez(f"{out}-{workers.rank}-{name}.npz", workers=workers.num_workers, **arrays, **values)


def main(out: str, mode: str, loops: str = "") -> None:
    """``loops``: the custom loops of mode "train", "eager", "jit" or "eager+jit"."""
    workers = br.distribute.DataParallel(timeout=20)
    if mode == "train":
        for jit in loops.split("+"):
            weights, seen = train(list(workers.distribute(global_batches())), workers, jit == "jit")
            save(out, jit, workers, weights, losses=np.array(seen))
        weights, history = fit_model(21, workers)  # the last batch of 1 row: the second worker has none
        save(out, "fit", workers, weights, **history)
        weights, history = fit_model(20, workers, normalized=True)
        save(out, "fit-bn", workers, weights, **history)
        weights, history = fit_model(5, workers, batch_size=1, epochs=1)  # the second worker: no rows
        save(out, "fit-rows1", workers, weights, **history)
        weights, history = fit_model(21, workers, stop_at=1)  # the second worker alone would stop
        save(out, "fit-stop", workers, weights, **history)
        fit_model(25, workers, backup=f"{out}-backup", epochs=3)  # the second worker dies in it
        raise AssertionError("the second worker was to die in the fit")
    open(f"{out}-backup/resumed", "w").close()
    weights, history = fit_model(25, workers, backup=f"{out}-backup", epochs=3)
    save(out, "resumed", workers, weights, **history)
    try:
        fit_model(21, workers, batch_size=10 + workers.rank)
    except br.WorkersError as error:
        save(out, "batch-sizes", workers, [], error=str(error))
    try:
        fit_model(21, workers, units=8 + workers.rank)
    except br.WorkersError as error:
        save(out, "models", workers, [], error=str(error))
        raise  # ends the process, as it would a user's
    workers.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
