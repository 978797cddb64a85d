"""Data-parallel scaling: steps per second of the MLP (global batch 128, Adam) as one worker and
as two, launched by ``bridge.distribute.launch``:

    python benchmarks/distributed.py [--backend torch] [--rounds 5] [--steps 20]

Contenders, interleaved in rounds inside each worker: bridge's custom loop (eager and under
``br.jit``) and ``fit``; on torch also native torch with ``DistributedDataParallel`` (bucketed
all-reduces overlapping the backward pass) and native torch with one all-reduce of the gradients
flattened after the backward pass (what bridge's optimizers do) — the measured choice between the
two. The machine's cores are shared out (one worker: all of them; two: half each), so the numbers
say what splitting the batch over processes costs and gains on one machine, not what more
machines add. The table gives the steps per second of the global batch (min and median over the
rounds, each round timed by its slowest worker) and the speed-up of two workers over one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from rounds import interleave, seconds_of, summarize

GLOBAL_BATCH = 128


def bridge_runs(workers, x, y) -> dict[str, Callable[[], float]]:
    """bridge's contenders: each trains one pass over the batches and returns its seconds."""
    import numpy as np

    import bridge as br
    from bridge import losses, nn, optim

    def mlp():
        br.random.seed(0)
        model = nn.Sequential(
            [nn.Dense(256, activation="relu"), nn.Dense(256, activation="relu"), nn.Dense(10)]
        )
        model(np.zeros((1, 784), np.float32))
        return model

    shards = list(workers.distribute(br.data.batches(x, y, batch_size=GLOBAL_BATCH)))
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)

    def custom_loop(jit: bool) -> Callable[[], float]:
        with workers.scope():
            model, optimizer = mlp(), optim.Adam(1e-3)
            optimizer.build(model.trainable_weights)

        def step(xb, yb):
            with br.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
            return loss

        run = br.jit(step) if jit else step

        def train() -> None:
            for xb, yb in shards:
                loss = workers.run(run, (xb, yb))
            float(loss)

        return lambda: seconds_of(train)

    with workers.scope():
        fitted = mlp()
        fitted.compile(optim.Adam(1e-3), loss_fn)

    def fit() -> None:
        fitted.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)

    return {
        "bridge custom loop, eager": custom_loop(False),
        "bridge custom loop, br.jit": custom_loop(True),
        "bridge fit": lambda: seconds_of(fit),
    }


def torch_runs(workers, x, y) -> dict[str, Callable[[], float]]:
    """Native torch: DistributedDataParallel, and one flattened all-reduce after the backward."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    rows = GLOBAL_BATCH // workers.num_workers
    shards = [
        (
            torch.from_numpy(x[i + workers.rank * rows : i + (workers.rank + 1) * rows]),
            torch.from_numpy(y[i + workers.rank * rows : i + (workers.rank + 1) * rows]),
        )
        for i in range(0, len(x), GLOBAL_BATCH)
    ]

    def mlp() -> torch.nn.Module:
        torch.manual_seed(0)
        layers = [torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU()]
        return torch.nn.Sequential(*layers, torch.nn.Linear(256, 10))

    ddp = DistributedDataParallel(mlp())
    ddp_optimizer = torch.optim.Adam(ddp.parameters(), 1e-3)

    def train_ddp() -> None:
        for xb, yb in shards:
            ddp_optimizer.zero_grad()
            F.cross_entropy(ddp(xb), yb).backward()
            ddp_optimizer.step()

    flat_model = mlp()
    flat_optimizer = torch.optim.Adam(flat_model.parameters(), 1e-3)

    def train_flat() -> None:
        for xb, yb in shards:
            flat_optimizer.zero_grad()
            F.cross_entropy(flat_model(xb), yb).backward()
            grads = [p.grad for p in flat_model.parameters()]
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= workers.num_workers
            for g, piece in zip(grads, torch.split(flat, [g.numel() for g in grads])):
                g.copy_(piece.view_as(g))
            flat_optimizer.step()

    return {
        "native torch DDP": lambda: seconds_of(train_ddp),
        "native torch, one all-reduce": lambda: seconds_of(train_flat),
    }


def worker(out: str, rounds: int, steps: int, threads: int) -> None:
    """One worker's part: every contender on its shard of each global batch, in rounds."""
    import workloads

    import bridge as br

    if br.get_backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    workers = br.distribute.DataParallel(timeout=120)
    x, y = workloads.WORKLOADS["mlp"].data(steps)
    runs = bridge_runs(workers, x, y)
    if br.get_backend() == "torch":
        runs.update(torch_runs(workers, x, y))
    errors: dict[str, str] = {}
    interleave(runs, 1, errors)  # compile, warm up
    times = interleave(runs, rounds, errors)
    Path(f"{out}-{workers.rank}.json").write_text(json.dumps({"times": times, "errors": errors}))
    workers.close()


def measure(workers: int, args: argparse.Namespace, folder: str) -> dict[str, list[float]]:
    """Each contender's steps per second of the global batch in each round (the slowest
    worker's round)."""
    out = os.path.join(folder, f"w{workers}")
    threads = max(1, (os.cpu_count() or 2) // workers)
    command = [sys.executable, "-m", "bridge.distribute.launch", "--nproc", str(workers)]
    command += ["--backend", args.backend, "--timeout", "1800", __file__, "--worker", out]
    command += ["--rounds", str(args.rounds), "--steps", str(args.steps), "--threads", str(threads)]
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    parts = [json.loads(Path(f"{out}-{rank}.json").read_text()) for rank in range(workers)]
    for part in parts:
        for name, error in part["errors"].items():
            print(f"{name} ({workers} workers) failed: {error}", file=sys.stderr)
    return {
        name: [args.steps / max(part["times"][name][i] for part in parts) for i in range(args.rounds)]
        for name, values in parts[0]["times"].items()
        if len(values) == args.rounds
    }


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
    print(f"MLP, global batch {GLOBAL_BATCH}, {args.backend}; {os.cpu_count()} cores shared out")
    print("| contender | steps/s, 1 worker (min / median) | 2 workers | spread % (1 / 2) | speed-up |")
    print("|---|---|---|---|---|")
    for name in speeds[1]:
        one, two = summarize(speeds[1][name]), summarize(speeds[2].get(name, [float("nan")]))
        print(
            f"| {name} | {one['min']:.1f} / {one['median']:.1f} | {two['min']:.1f} / {two['median']:.1f} "
            f"| {100 * one['spread']:.0f} / {100 * two['spread']:.0f} "
            f"| {statistics.median(speeds[2].get(name, [float('nan')])) / one['median']:.2f}x |"
        )
    print(json.dumps(speeds))


if __name__ == "__main__":
    main()
