"""Training speed of a 784-256-256-10 MLP (Adam, batch 128, synthetic data): ms per step for
bridge ``fit`` and a bridge custom loop on each backend, against a native torch loop, a native
TensorFlow loop under tf.function, and Keras 3 ``fit`` on its torch and TensorFlow backends
(each Keras backend in its own process, as Keras requires). Ratios are to the native loop of the
same framework.

    python benchmarks/train_mlp.py [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

BATCH, SIZES = 128, (784, 256, 256, 10)


def data(steps: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * steps, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH * steps)
    return x, y


def per_step_ms(run_epoch, steps: int) -> float:
    run_epoch()  # warm up: build, trace, compile
    start = time.perf_counter()
    run_epoch()
    return (time.perf_counter() - start) / steps * 1e3


def bridge_mlp():
    from bridge import nn

    return nn.Sequential(
        [nn.Dense(SIZES[1], activation="relu"), nn.Dense(SIZES[2], activation="relu"), nn.Dense(SIZES[3])]
    )


def bridge_fit(backend: str, steps: int) -> float:
    import bridge as br
    from bridge import losses, optim

    x, y = data(steps)
    with br.use_backend(backend):
        br.random.seed(0)
        model = bridge_mlp()
        model.compile(optimizer=optim.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
        return per_step_ms(
            lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0), steps
        )


def bridge_loop(backend: str, steps: int) -> float:
    import bridge as br
    from bridge import losses, optim

    x_np, y_np = data(steps)
    with br.use_backend(backend):
        br.random.seed(0)
        model = bridge_mlp()
        loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
        opt = optim.Adam(1e-3)
        batches = list(br.data.batches(x_np, y_np, batch_size=BATCH))
        model(batches[0][0])

        def step(xb, yb):
            with br.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            opt.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
            return loss

        step(*batches[0])
        step = br.jit(step, enabled=backend == "tensorflow")

        def epoch():
            for xb, yb in batches:
                step(xb, yb)
            float(step(*batches[0]))  # wait for the work to finish

        return per_step_ms(epoch, steps + 1)


def native_torch(steps: int) -> float:
    import torch

    x_np, y_np = data(steps)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = [
        (torch.tensor(x_np[i : i + BATCH]), torch.tensor(y_np[i : i + BATCH]))
        for i in range(0, len(x_np), BATCH)
    ]

    def epoch():
        for xb, yb in batches:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()

    return per_step_ms(epoch, steps)


def native_tensorflow(steps: int) -> float:
    import tensorflow as tf

    x_np, y_np = data(steps)
    tf.random.set_seed(0)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        weights += [
            tf.Variable(tf.random.normal((fan_in, fan_out), stddev=0.05)),
            tf.Variable(tf.zeros((fan_out,))),
        ]
    ms = [tf.Variable(tf.zeros_like(w)) for w in weights]
    vs = [tf.Variable(tf.zeros_like(w)) for w in weights]
    t = tf.Variable(0.0)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            h = xb
            for i in range(0, len(weights), 2):
                h = h @ weights[i] + weights[i + 1]
                if i < len(weights) - 2:
                    h = tf.nn.relu(h)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, h))
        grads = tape.gradient(loss, weights)
        t.assign_add(1.0)
        alpha = 1e-3 * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for w, g, m, v in zip(weights, grads, ms, vs):
            m.assign_add((g - m) * 0.1)
            v.assign_add((g * g - v) * 0.001)
            w.assign_sub(alpha * m / (tf.sqrt(v) + 1e-7))
        return loss

    batches = [
        (tf.constant(x_np[i : i + BATCH]), tf.constant(y_np[i : i + BATCH]))
        for i in range(0, len(x_np), BATCH)
    ]

    def epoch():
        for xb, yb in batches:
            loss = step(xb, yb)
        float(loss)

    return per_step_ms(epoch, steps)


def keras_fit(steps: int) -> float:
    import keras

    x, y = data(steps)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return per_step_ms(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0), steps)


def keras_in_a_process(backend: str, steps: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--keras", "--steps", str(steps)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend},
        timeout=900,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--keras", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras:
        print(json.dumps(keras_fit(args.steps)))
        return
    rows = []
    natives = {"torch": native_torch(args.steps), "tensorflow": native_tensorflow(args.steps)}
    for backend, native in natives.items():
        rows.append(
            (f"native {backend}" + (" (tf.function)" if backend == "tensorflow" else ""), native, native)
        )
        rows.append((f"bridge fit on {backend}", bridge_fit(backend, args.steps), native))
        rows.append((f"bridge custom loop on {backend}", bridge_loop(backend, args.steps), native))
        rows.append((f"Keras 3 fit on {backend}", keras_in_a_process(backend, args.steps), native))
    print(f"{'':<32} {'ms/step':>9} {'vs native':>10}")
    for label, ms, native in rows:
        print(f"{label:<32} {ms:>9.3f} {ms / native:>9.2f}x")


if __name__ == "__main__":
    main()
