"""``python -m bridge demo``: trains small classifiers on each installed backend and prints their
test accuracies side by side. Two classification problems, Iris (4 features, 3 classes) and
handwritten digits (8x8 images, 10 classes), each solved by a single-layer and a multi-layer
fully-connected network through ``compile``/``fit``. It is the exercise ("lab") of the
deep-learning course bridge grew from; the notebook ``examples/lab.ipynb`` walks through it::

    python -m bridge demo                                   # everything, on every installed backend
    python -m bridge demo --backend tensorflow --problem digits --model multi --verbose 2

It prints a line on what the numbers are, the table (a row per problem and network, a column
per backend; rows appear as they are trained), and, for several backends, whether the columns
agree. The backends are loaded first, so what TensorFlow prints as it starts comes before all that.

The data sets are scikit-learn's bundled ones (``pip install "bridge[examples]"``); scikit-learn
is imported only when the demo loads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import numpy as np

from . import callbacks, losses, nn, optim
from . import data as brdata
from . import random as brrandom
from ._dispatch import use_backend
from ._info import extra_install
from ._plugins import load_backend
from .errors import BridgeError

PROBLEMS = ("iris", "digits")
MODELS = ("single", "multi")

#: A problem's data: standardized features and integer labels, training then test.
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class MissingDataSetsError(BridgeError, ImportError):
    """scikit-learn, which holds the demo's data sets, is not installed."""


def load(problem: str) -> Split:
    """Standardized features and integer labels, split 80/20 with a fixed seed."""
    try:
        datasets = importlib.import_module("sklearn.datasets")
    except ImportError as exc:
        raise MissingDataSetsError(
            "the demo's data sets come with scikit-learn, which is not installed: "
            + extra_install("examples")
        ) from exc
    loaders = {"iris": datasets.load_iris, "digits": datasets.load_digits}
    x, y = loaders[problem](return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = brdata.train_test_split(x, y, test_size=0.2, seed=0)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


def build(kind: str, classes: int) -> nn.Model:
    """``single``: one Dense layer (multinomial logistic regression); ``multi``: two hidden layers."""
    hidden = [] if kind == "single" else [nn.Dense(64, activation="relu"), nn.Dense(32, activation="relu")]
    model = nn.Sequential([*hidden, nn.Dense(classes)])
    model.compile(
        optimizer=optim.Adam(1e-2 if kind == "single" else 3e-3),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def run(backend: str, split: Split, kind: str, epochs: int = 100, verbose: int = 0) -> float:
    """Train one network on ``backend`` and return its test accuracy."""
    x_train, x_test, y_train, y_test = split
    with use_backend(backend):
        brrandom.seed(0)
        model = build(kind, int(y_train.max()) + 1)
        model.fit(
            x_train,
            y_train,
            epochs=epochs,
            batch_size=32,
            validation_split=0.2,
            seed=0,
            verbose=verbose,
            callbacks=[callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)],
        )
        return float(model.evaluate(x_test, y_test, return_dict=True)["accuracy"])


def _and(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def lab(
    backends: Sequence[str],
    problems: Sequence[str] = PROBLEMS,
    models: Sequence[str] = MODELS,
    epochs: int = 100,
    verbose: int = 0,
    write: Callable[[str], None] | None = None,
) -> list[str]:
    """The demo's table: a row per problem and network, a test-accuracy column per backend,
    between a line that says what the numbers are and, for several backends, one that says
    whether they agree. Returns the rows on which the backends differ (``"iris multi-layer"``)."""
    write = write or (lambda line: print(line, flush=True))
    splits = {problem: load(problem) for problem in problems}  # scikit-learn missing: fail first
    for backend in backends:  # import the frameworks now: what they print comes before the table
        load_backend(backend)
    write("Test accuracy on a held-out 20% of each data set, after training on the other 80%.")
    if len(backends) > 1:
        write("Every backend starts from the same seed, so the columns should agree.")
    write("")
    write(f"{'problem':<8} {'network':<13}" + "".join(f"{b + ' accuracy':>22}" for b in backends))
    differ = []
    for problem in problems:
        for kind in models:
            accuracies = [f"{run(b, splits[problem], kind, epochs, verbose):.4f}" for b in backends]
            label = "single-layer" if kind == "single" else "multi-layer"
            write(f"{problem:<8} {label:<13}" + "".join(f"{a:>22}" for a in accuracies))
            if len(set(accuracies)) > 1:
                differ.append(f"{problem} {label}")
    if len(backends) > 1:
        write("")
        verdict = f"differ on {', '.join(differ)}" if differ else "agree"
        write(f"{_and(backends)} {verdict}.")
    return differ
