"""Data-parallel scaling: steps per second of the MLP's custom loop (global batch 128, Adam, the
step under ``br.jit``) as one worker and as two, launched by ``bridge.distribute.launch``:

    python benchmarks/distributed.py [--backend torch] [--rounds 5] [--steps 20]

The machine's cores are shared out (one worker: all of them; two: half each), so the numbers say
what splitting the batch over processes costs and gains on one machine, not what more machines
add. Each run trains in rounds of ``--steps`` steps; the table gives the steps per second of the
global batch (min and median over the rounds) and the speed-up of two workers over one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rounds import summarize

GLOBAL_BATCH = 128


def worker(out: str, rounds: int, steps: int, threads: int) -> None:
    """One worker's part: its shard of each global batch, timed in rounds."""
    import numpy as np
    import workloads

    import bridge as br
    from bridge import losses, nn, optim

    if br.get_backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    workers = br.distribute.DataParallel(timeout=120)
    x, y = workloads.WORKLOADS["mlp"].data(steps)
    batches = list(workers.distribute(br.data.batches(x, y, batch_size=GLOBAL_BATCH)))
    with workers.scope():
        br.random.seed(0)
        model = nn.Sequential(
            [nn.Dense(256, activation="relu"), nn.Dense(256, activation="relu"), nn.Dense(10)]
        )
        model(np.zeros((1, 784), np.float32))
        optimizer = optim.Adam(1e-3)
        optimizer.build(model.trainable_weights)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(xb, yb):
        with br.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
        return loss

    compiled = br.jit(step)
    for xb, yb in batches[:3]:  # compile, warm up
        workers.run(compiled, (xb, yb))
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        for xb, yb in batches:
            loss = workers.run(compiled, (xb, yb))
        float(loss)
        seconds.append(time.perf_counter() - start)
    Path(f"{out}-{workers.rank}.json").write_text(json.dumps({"seconds": seconds, "steps": len(batches)}))
    workers.close()


def measure(workers: int, args: argparse.Namespace, folder: str) -> list[float]:
    """Steps per second of the global batch in each round (the slowest worker's round)."""
    out = os.path.join(folder, f"w{workers}")
    threads = max(1, (os.cpu_count() or 2) // workers)
    command = [sys.executable, "-m", "bridge.distribute.launch", "--nproc", str(workers)]
    command += ["--backend", args.backend, "--timeout", "1200", __file__, "--worker", out]
    command += ["--rounds", str(args.rounds), "--steps", str(args.steps), "--threads", str(threads)]
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    parts = [json.loads(Path(f"{out}-{rank}.json").read_text()) for rank in range(workers)]
    slowest = [max(part["seconds"][i] for part in parts) for i in range(args.rounds)]
    return [parts[0]["steps"] / s for s in slowest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rounds, args.steps, args.threads)
        return
    with tempfile.TemporaryDirectory() as folder:
        speeds = {n: measure(n, args, folder) for n in (1, 2)}
    cores = os.cpu_count()
    print(f"MLP custom loop, global batch {GLOBAL_BATCH}, {args.backend}, br.jit; {cores} cores shared out")
    print(f"{'workers':>8} {'steps/s min':>12} {'median':>8} {'spread %':>9}")
    for n, values in speeds.items():
        stats = summarize(values)
        print(f"{n:>8} {stats['min']:>12.1f} {stats['median']:>8.1f} {100 * stats['spread']:>9.0f}")
    print(
        f"speed-up of 2 workers (medians): {statistics.median(speeds[2]) / statistics.median(speeds[1]):.2f}x"
    )


if __name__ == "__main__":
    main()
