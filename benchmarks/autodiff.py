"""value_and_grad of an MLP loss through bridge against the same written natively
(torch.autograd.grad; tf.GradientTape), eager and jit, per backend.

    python benchmarks/autodiff.py [--repeat 30]

The MLP is 256-128-10 on a batch of 64 with a softmax cross-entropy loss. Prints milliseconds
per gradient evaluation (median) and bridge's ratio to native.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402

BATCH, FEATURES, HIDDEN, CLASSES = 64, 256, 128, 10


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    params = [
        rng.standard_normal(s).astype(np.float32) * 0.05
        for s in ((FEATURES, HIDDEN), (HIDDEN,), (HIDDEN, CLASSES), (CLASSES,))
    ]
    return x, np.eye(CLASSES, dtype=np.float32)[y], params


def bridge_case(backend: str, jit: bool):
    x_np, onehot_np, params_np = data()
    with br.use_backend(backend):
        x, onehot = br.tensor(x_np), br.tensor(onehot_np)
        params = [br.tensor(p) for p in params_np]

        def loss(p):
            w1, b1, w2, b2 = p
            logits = br.ops.relu(x @ w1 + b1) @ w2 + b2
            return -br.ops.mean(br.ops.sum(onehot * br.ops.log_softmax(logits), axis=-1))

        step = br.jit(br.value_and_grad(loss), enabled=jit)
        return lambda: [t.native for t in step(params)[1]]


def torch_case(jit: bool):
    import torch

    x_np, onehot_np, params_np = data()
    x, onehot = torch.tensor(x_np), torch.tensor(onehot_np)
    params = [torch.tensor(p, requires_grad=True) for p in params_np]

    def loss(w1, b1, w2, b2):
        logits = torch.relu(x @ w1 + b1) @ w2 + b2
        return -(onehot * torch.log_softmax(logits, -1)).sum(-1).mean()

    forward = torch.compile(loss) if jit else loss
    return lambda: torch.autograd.grad(forward(*params), params)


def tensorflow_case(jit: bool):
    import tensorflow as tf

    x_np, onehot_np, params_np = data()
    x, onehot = tf.constant(x_np), tf.constant(onehot_np)
    params = [tf.constant(p) for p in params_np]

    def value_and_grad(params):
        with tf.GradientTape() as tape:
            tape.watch(params)
            w1, b1, w2, b2 = params
            logits = tf.nn.relu(x @ w1 + b1) @ w2 + b2
            loss = -tf.reduce_mean(tf.reduce_sum(onehot * tf.nn.log_softmax(logits), -1))
        return loss, tape.gradient(loss, params)

    step = tf.function(value_and_grad) if jit else value_and_grad
    return lambda: step(params)[1]


def median_ms(run, repeat: int) -> float:
    for _ in range(3):  # warm up (and compile)
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    natives = {"torch": torch_case, "tensorflow": tensorflow_case}
    print(f"{'backend':<11} {'mode':<6} {'native ms':>10} {'bridge ms':>10} {'ratio':>6}")
    for backend, native_case in natives.items():
        if backend not in br.backends():
            continue
        for jit in (False, True):
            native = median_ms(native_case(jit), args.repeat)
            ours = median_ms(bridge_case(backend, jit), args.repeat)
            mode = "jit" if jit else "eager"
            print(f"{backend:<11} {mode:<6} {native:>10.3f} {ours:>10.3f} {ours / native:>6.2f}")


if __name__ == "__main__":
    main()
