"""An LSTM over sequences of different lengths, written once and trained on both backends: it
learns the sum of up to 12 numbers, padded with zeros that a Masking layer hides from it.

    python examples/sequence_lstm.py [--epochs 12]

Both backends train from the same seed; the script prints their losses side by side, then saves
the torch model and loads it on TensorFlow, which must predict the same numbers.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402
from bridge import nn, optim  # noqa: E402

STEPS = 12


def make_data(n: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of 2 to 12 numbers in [0.1, 1), zero-padded to 12 steps, and their sums."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, STEPS + 1, n)
    values = rng.uniform(0.1, 1.0, (n, STEPS))
    values[np.arange(STEPS) >= lengths[:, None]] = 0.0  # padding: what Masking(0.0) hides
    return values[..., None].astype(np.float32), values.sum(axis=1, keepdims=True).astype(np.float32)


def build_model() -> nn.Model:
    """Masking -> LSTM -> Dense, as a functional model; compiled with Adam and the MSE."""
    steps = nn.Input((STEPS, 1), name="steps")
    hidden = nn.LSTM(16, name="lstm")(nn.Masking(0.0, name="masking")(steps))
    model = nn.Model(steps, nn.Dense(1, name="total")(hidden), name="summer")
    model.compile(optim.Adam(0.01), "mse")
    return model


def train(backend: str, epochs: int) -> tuple[nn.Model, list[float]]:
    x, y = make_data()
    with br.use_backend(backend):
        br.random.seed(0)
        model = build_model()
        history = model.fit(x, y, epochs=epochs, batch_size=32, seed=0, verbose=0)
    return model, history.history["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    epochs = parser.parse_args().epochs
    runs = {backend: train(backend, epochs) for backend in ("torch", "tensorflow")}
    print("epoch   torch loss   tensorflow loss")
    for epoch, (a, b) in enumerate(zip(runs["torch"][1], runs["tensorflow"][1]), 1):
        print(f"{epoch:5d}   {a:10.5f}   {b:15.5f}")
    x, y = make_data(64, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "summer.bridge")
        torch_model = runs["torch"][0]
        torch_model.save(path)
        with br.use_backend("torch"):
            expected = torch_model.predict(x)
        with br.use_backend("tensorflow"):
            loaded = nn.load_model(path)
            predicted = loaded.predict(x)
    error = float(np.mean(np.abs(expected - y)))
    print(f"\nmean absolute error of the sums (64 new sequences): {error:.3f}")
    difference = np.abs(predicted - expected).max()
    print(f"saved on torch, loaded on tensorflow: predictions differ by at most {difference:.1e}")
    agree = np.allclose(runs["torch"][1], runs["tensorflow"][1], rtol=1e-4)
    print("torch and tensorflow agree." if agree else "torch and tensorflow DIFFER.")


if __name__ == "__main__":
    main()
