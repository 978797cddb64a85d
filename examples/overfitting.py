"""Overfitting, seen and cured: a large network on a small slice of the digits data. Plots training
against validation loss, marks where EarlyStopping would stop, and shows dropout narrowing the gap.

    python examples/overfitting.py --backend torch --out overfitting.png
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import bridge as br  # noqa: E402
from bridge import callbacks, losses, nn, optim  # noqa: E402


def data(train_size: int = 300):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_val, y_train, y_val = br.data.train_test_split(x, y, test_size=0.3, seed=0)
    return x_train[:train_size], x_val, y_train[:train_size], y_val


def train(dropout: float, epochs: int) -> dict[str, list[float]]:
    x_train, x_val, y_train, y_val = data()
    br.random.seed(0)
    layers = [nn.Dense(256, activation="relu"), nn.Dense(256, activation="relu")]
    if dropout:
        layers = [layers[0], nn.Dropout(dropout, seed=1), layers[1], nn.Dropout(dropout, seed=2)]
    model = nn.Sequential([*layers, nn.Dense(10)])
    model.compile(
        optimizer=optim.Adam(1e-3),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model.fit(
        x_train, y_train, epochs=epochs, batch_size=32, validation_data=(x_val, y_val), seed=0, verbose=0
    ).history


def early_stopping_epoch(history: dict[str, list[float]], patience: int = 5) -> int | None:
    """Where EarlyStopping(monitor="val_loss") would have stopped, replayed on the history."""

    class Run:
        stop_training = False

    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=patience)
    stopper.set_model(Run())
    stopper.on_train_begin()
    for epoch, value in enumerate(history["val_loss"]):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if stopper.model.stop_training:
            return epoch
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="torch or tensorflow (default: bridge's default)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default="overfitting.png", help="where to save the plot (PNG)")
    args = parser.parse_args()
    if args.backend:
        br.set_backend(args.backend)
    runs = {"no dropout": train(0.0, args.epochs), "dropout 0.5": train(0.5, args.epochs)}
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, (title, history) in zip(axes, runs.items()):
        epochs = np.arange(1, len(history["loss"]) + 1)
        axis.plot(epochs, history["loss"], label="training loss")
        axis.plot(epochs, history["val_loss"], label="validation loss")
        stop = early_stopping_epoch(history)
        if stop is not None:
            axis.axvline(
                stop + 1, color="gray", linestyle="--", label=f"EarlyStopping stops (epoch {stop + 1})"
            )
        axis.set_title(f"{title} ({br.get_backend()})")
        axis.set_xlabel("epoch")
        axis.legend()
        gap = history["val_loss"][-1] - history["loss"][-1]
        print(
            f"{title:<12} final training loss {history['loss'][-1]:.4f}  validation loss "
            f"{history['val_loss'][-1]:.4f}  gap {gap:.4f}  early stopping at epoch "
            f"{'-' if stop is None else stop + 1}"
        )
    axes[0].set_ylabel("loss")
    figure.tight_layout()
    figure.savefig(args.out, dpi=100)
    print(f"plot saved to {args.out}")


if __name__ == "__main__":
    main()
