"""The course's lab on either backend: two classification problems (Iris; handwritten digits),
each solved with a single-layer and a multi-layer fully-connected network, through compile/fit.

    python examples/lab.py                                   # everything, torch and tensorflow side by side
    python examples/lab.py --backend tensorflow --problem digits --model multi --verbose 2
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402

import bridge as br  # noqa: E402
from bridge import callbacks, losses, nn, optim  # noqa: E402

PROBLEMS = {"iris": load_iris, "digits": load_digits}


def load(problem: str):
    """Standardized features and integer labels, split 80/20 with a fixed seed."""
    x, y = PROBLEMS[problem](return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = br.data.train_test_split(x, y, test_size=0.2, seed=0)
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


def run(backend: str, problem: str, kind: str, epochs: int, verbose: int) -> float:
    x_train, x_test, y_train, y_test = load(problem)
    with br.use_backend(backend):
        br.random.seed(0)
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
        return model.evaluate(x_test, y_test)["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", help="torch, tensorflow or all (default)")
    parser.add_argument("--problem", default="all", choices=["iris", "digits", "all"])
    parser.add_argument("--model", default="all", choices=["single", "multi", "all"])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    backends = list(br.backends()) if args.backend == "all" else [args.backend]
    backends = [b for b in ("torch", "tensorflow") if b in backends] or backends
    problems = list(PROBLEMS) if args.problem == "all" else [args.problem]
    kinds = ["single", "multi"] if args.model == "all" else [args.model]

    print(f"{'problem':<8} {'network':<13}" + "".join(f"{b + ' accuracy':>22}" for b in backends))
    for problem in problems:
        for kind in kinds:
            accuracies = [run(b, problem, kind, args.epochs, args.verbose) for b in backends]
            label = "single-layer" if kind == "single" else "multi-layer"
            print(f"{problem:<8} {label:<13}" + "".join(f"{a:>22.4f}" for a in accuracies), flush=True)


if __name__ == "__main__":
    main()
