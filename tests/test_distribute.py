"""Data-parallel training (``bridge.distribute``): two worker processes on the CPU, launched by
``bridge.distribute.launch``, reach the weights and losses of one process on the global batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge as br
from bridge._dispatch import resolve_device
from bridge._plugins import load_backend
from bridge.distribute import launch

WORKER = Path(__file__).with_name("distribute_worker.py")
sys.path.insert(0, str(WORKER.parent))
import distribute_worker  # noqa: E402


def test_each_worker_gets_its_rank_and_both_engines_find_the_others():
    environments = launch.worker_environments(3, backend="torch")
    assert [e["RANK"] for e in environments] == ["0", "1", "2"]
    assert {e["MASTER_PORT"] for e in environments} == {environments[0]["MASTER_PORT"]}
    configs = [json.loads(e["TF_CONFIG"]) for e in environments]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(c["cluster"]["worker"] == addresses for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert environments[0]["MASTER_PORT"] not in {a.rsplit(":", 1)[1] for a in addresses}
    assert all(e["WORLD_SIZE"] == "3" and e["BRIDGE_BACKEND"] == "torch" for e in environments)


def test_a_failing_worker_stops_the_others_and_gives_its_exit_code(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, sys, time\nif os.environ['RANK'] == '1':\n    sys.exit(3)\ntime.sleep(60)\n"
    )
    environments = launch.worker_environments(2)
    assert launch.run_workers([sys.executable, str(script)], environments, timeout=30) == 3


def launch_two(backend: str, out: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``distribute_worker.py`` as two workers (under the launcher's timeout, and the test's)."""
    command = [sys.executable, "-m", "bridge.distribute.launch", "--nproc", "2", "--backend", backend]
    command += ["--timeout", "240", str(WORKER), str(out), *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def saved(out: Path, name: str, agree: bool = True) -> list[dict[str, np.ndarray]]:
    """What each of the two workers saved as ``name``; with ``agree``, they must agree exactly."""
    workers = [dict(np.load(f"{out}-{rank}-{name}.npz", allow_pickle=False)) for rank in range(2)]
    assert workers[0].keys() == workers[1].keys()
    for key in workers[0] if agree else ():
        np.testing.assert_array_equal(workers[0][key], workers[1][key], err_msg=f"{name}: {key}")
    assert int(workers[0]["workers"]) == 2
    return workers


def assert_close(found: dict[str, np.ndarray], weights: list[np.ndarray], history: dict[str, list[float]]):
    for i, expected in enumerate(weights):
        np.testing.assert_allclose(found[f"weight{i}"], expected, rtol=1e-5, atol=1e-6)
    for name, values in history.items():  # a resumed fit's history has the epochs it ran
        np.testing.assert_allclose(found[name], values[-len(found[name]) :], rtol=1e-5, atol=1e-6)


# Two launches of two worker processes each (slow: left out of CI's one-plugin legs, run in its
# full suite): everything the workers do, checked against one process on the global batches
@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "loops"),
    [
        pytest.param("torch", "eager+jit", marks=pytest.mark.needs("torch")),
        pytest.param("tensorflow", "jit", marks=pytest.mark.needs("tensorflow")),
    ],
)
def test_two_workers_train_as_one_process_on_the_global_batch_resume_and_refuse_mismatches(
    backend, loops, tmp_path
):
    out = tmp_path / "worker"
    killed = launch_two(backend, out, "train", loops)
    assert killed.returncode == 7, killed.stdout[-3000:] + killed.stderr[-3000:]  # the second worker died
    resumed = launch_two(backend, out, "resume")
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 1, output[-3000:]  # a Python exception, not gloo's abort or a hang
    with br.use_backend(backend):
        weights, losses = distribute_worker.train(distribute_worker.global_batches())
        for loop in loops.split("+"):  # the custom loop, on even shards
            found = saved(out, loop)[0]
            assert_close(found, weights, {"losses": losses})
        # fit, the last batch of one row (the second worker steps without rows), validated on 7
        assert_close(saved(out, "fit")[0], *distribute_worker.fit_model(21))
        # batches of 1 row: the second worker never has rows
        assert_close(saved(out, "fit-rows1")[0], *distribute_worker.fit_model(5, batch_size=1, epochs=1))
        # a callback of the second worker stops training in the first epoch: both stop there
        assert_close(saved(out, "fit-stop")[0], *distribute_worker.fit_model(21, stop_at=1))
        # BatchNormalization: the workers' moving statistics are rank 0's as an epoch ends (DDP's)
        normalized = saved(out, "fit-bn")[0]
        assert not np.array_equal(normalized["weight4"], np.zeros(8))  # the moving mean moved
        # killed mid-epoch, resumed from the backup: as an uninterrupted fit (last batch 3 + 2 rows)
        resumed_fit = saved(out, "resumed")[0]
        assert len(resumed_fit["loss"]) == 2  # the epochs from the one it was killed in
        assert_close(resumed_fit, *distribute_worker.fit_model(25, epochs=3))
    for rank, found in enumerate(saved(out, "batch-sizes", agree=False)):
        error = str(found["error"])
        assert f"the workers were given different fit calls (rank {rank} of 2" in error
        assert f"batch_size={10 + rank}" in error
    assert "WorkersError" in output  # what ended the processes
    for rank, found in enumerate(saved(out, "models", agree=False)):
        error = str(found["error"])
        assert f"the workers hold different tensors (rank {rank} of 2 holds [float32[4, {8 + rank}]" in error


@pytest.mark.parametrize(
    "backend", [pytest.param(b, marks=pytest.mark.needs(b)) for b in ("torch", "tensorflow")]
)
def test_without_workers_around_a_process_works_alone(backend, monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    with br.use_backend(backend):
        workers = br.distribute.DataParallel()
        assert (workers.rank, workers.num_workers, workers.num_replicas_in_sync) == (0, 1, 1)
        x = br.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert workers.reduce("mean", x) is x
        (batch,) = workers.distribute([(x, np.arange(2))])
        np.testing.assert_array_equal(batch[0].numpy(), x.numpy())
        with workers.scope():
            assert br.distribute.current() is workers
        assert br.distribute.current() is None


def test_a_global_batch_must_split_evenly_and_reductions_are_sum_or_mean(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    workers = br.distribute.DataParallel()
    workers.num_workers, workers.rank = 3, 1  # as the second of three workers sees its shards
    (shard,) = workers.distribute([np.arange(6)])
    np.testing.assert_array_equal(shard, [2, 3])
    with pytest.raises(
        br.InvalidArgumentError, match="batch 0 of 7 rows does not split evenly over 3 workers"
    ):
        list(workers.distribute([np.arange(7)]))
    with pytest.raises(br.InvalidArgumentError, match="op must be one of"):
        workers.all_reduce([br.tensor([1.0])], "max")


@given(rows=st.integers(1, 40), workers=st.integers(1, 6))
def test_the_shards_of_a_global_batch_cover_it_in_order_as_evenly_as_rows_allow(rows, workers, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    group = br.distribute.DataParallel()
    batch = (np.arange(rows), np.arange(rows) * 10)
    shards, shares = [], []
    for rank in range(workers):  # as each worker of ``workers`` sees its shard
        group.num_workers, group.rank = workers, rank
        (x, y), share = group.shard(batch)
        assert np.array_equal(y, x * 10)
        shards.append(x)
        shares.append(share)
    np.testing.assert_array_equal(np.concatenate(shards), np.arange(rows))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    np.testing.assert_allclose(shares, [len(x) / rows for x in shards])  # the gradients' weights


def test_each_worker_on_a_machine_of_gpus_takes_the_gpu_of_its_local_rank(monkeypatch):
    from bridge.distribute.data_parallel import worker_gpu

    devices = ["cpu", "gpu:0", "gpu:1"]
    for local_rank, gpu in [(0, "gpu:0"), (1, "gpu:1"), (3, "gpu:1")]:  # two GPUs, four workers
        monkeypatch.setenv("LOCAL_RANK", str(local_rank))
        assert worker_gpu(devices) == gpu
    assert worker_gpu(["cpu"]) is None
    backend = load_backend(br.get_backend())
    monkeypatch.setattr(backend, "_devices", devices, raising=False)
    monkeypatch.setattr(backend, "worker_device", "gpu:1")  # as DataParallel sets it
    assert resolve_device(backend, None) == "gpu:1"  # where the worker's tensors go


def test_a_model_compiled_outside_the_scope_of_several_workers_is_warned_of(monkeypatch):
    from bridge.distribute import data_parallel

    for name in ("WORLD_SIZE", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    group = br.distribute.DataParallel()
    group.num_workers = 2  # as a process of two workers has it
    monkeypatch.setattr(data_parallel, "_JOINED", [group])
    model = br.nn.Sequential([br.nn.Input((4,)), br.nn.Dense(2)])
    model.compile("sgd", "mse")  # outside group.scope()
    with pytest.warns(UserWarning, match="one of 2 data-parallel workers, but the model was not compiled in"):
        model.fit(np.zeros((4, 4), np.float32), np.zeros((4, 2), np.float32), verbose=0)
