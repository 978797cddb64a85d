"""Saving and loading a 100 MB model: bridge's files against native code, and their size.

    python benchmarks/saving.py [--rounds 5] [--model-rounds 2]

The model is a float32 MLP 1024-4096-4096-1024 (25.2M parameters, 100.7 MB of weights), built
from ``nn.Input``. On each backend:

- weights: ``model.save_weights`` / ``model.load_weights`` against the same weights written and
  read natively: ``safetensors.torch.save_file`` of a torch module's state dict and
  ``safetensors.torch.load_file`` + ``load_state_dict``, or ``torch.save`` / ``torch.load``
  (``weights_only=True``); on TensorFlow ``safetensors.numpy`` of the variables' arrays + ``assign``,
  or ``np.savez`` / ``np.load``;
- whole model: ``model.save`` / ``nn.load_model`` (architecture, weights and Adam state after one
  step, about 300 MB) against the native module or variables with their Adam state written the
  same two ways, the native load building the model and optimizer anew as ``load_model`` does.

Contenders run in interleaved rounds (every contender once per round, the order rotated each
round), each writing a file under a temporary folder and reading it back; the files are deleted.
Prints the min and median ms, the spread ((max - min) / median) and bridge's ratio to the first
native reference (safetensors) of the same run; then each file's size against the raw bytes of
the arrays it holds. Loads read files just written, from the page cache: the format's CPU cost
(and bridge's fsyncs when writing), not the disk's. bridge also checksums (SHA-256) what it writes
and reads, and fsyncs; the native references do neither. About 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402

SIZES = (1024, 4096, 4096, 1024)
BATCH = 8  # the one training step that gives the optimizer its state

#: A contender: a label, and a function of the file's path that writes it and returns a function
#: that reads it back into a model.
Contender = tuple[str, Callable[[str], Callable[[], object]]]


def bridge_model(backend: str) -> br.nn.Model:
    """The model on ``backend``, compiled with Adam and trained one step (so it has Adam's state)."""
    from bridge import nn, optim

    with br.use_backend(backend):
        br.random.seed(0)
        model = nn.Sequential([nn.Input((SIZES[0],)), *(nn.Dense(n) for n in SIZES[1:])])
        model.compile(optimizer=optim.Adam(1e-3), loss="mse")
        x, y = np.ones((BATCH, SIZES[0]), np.float32), np.ones((BATCH, SIZES[-1]), np.float32)
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    return model


def bridge_contenders(model: br.nn.Model, backend: str, whole: bool) -> list[Contender]:
    """bridge's contender; its load returns a check (run untimed) that it loaded the weights."""
    from bridge import nn

    kernel = model.weights[0].numpy()

    def weights(path: str) -> Callable[[], object]:
        model.save_weights(path)

        def load() -> Callable[[], None]:
            model.load_weights(path)
            return lambda: _same(model, kernel)

        return load

    def whole_model(path: str) -> Callable[[], object]:
        model.save(path)

        def load() -> Callable[[], None]:
            with br.use_backend(backend):
                loaded = nn.load_model(path)
            return lambda: _same(loaded, kernel)

        return load

    if whole:
        return [("bridge Model.save / nn.load_model", whole_model)]
    return [("bridge save_weights / load_weights", weights)]


def _same(model: br.nn.Model, kernel: np.ndarray) -> None:
    if not np.array_equal(model.weights[0].numpy(), kernel):
        raise AssertionError("the loaded model's first kernel is not the saved one")


def torch_contenders(whole: bool) -> list[Contender]:
    import torch
    from safetensors.torch import load_file, save_file

    def module() -> torch.nn.Module:
        return torch.nn.Sequential(*(torch.nn.Linear(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])))

    net = module()
    adam = torch.optim.Adam(net.parameters(), 1e-3)
    if whole:
        loss = torch.nn.functional.mse_loss(net(torch.ones(BATCH, SIZES[0])), torch.ones(BATCH, SIZES[-1]))
        loss.backward()
        adam.step()

    def flat(net: torch.nn.Module, adam: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        tensors = dict(net.state_dict())
        if whole:
            for index, state in adam.state_dict()["state"].items():
                tensors.update({f"optimizer/{index}/{key}": value for key, value in state.items()})
        return tensors

    def unflat(tensors: dict[str, torch.Tensor]) -> None:
        target = module() if whole else net  # load_model builds the model and optimizer anew
        target.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("optimizer/")})
        if whole:
            optimizer = torch.optim.Adam(target.parameters(), 1e-3)
            state: dict[int, dict[str, torch.Tensor]] = {}
            for name, value in tensors.items():
                if name.startswith("optimizer/"):
                    _, index, key = name.split("/")
                    state.setdefault(int(index), {})[key] = value
            optimizer.load_state_dict({"state": state, "param_groups": adam.state_dict()["param_groups"]})

    def with_safetensors(path: str) -> Callable[[], object]:
        save_file(flat(net, adam), path)
        return lambda: unflat(load_file(path))

    def with_torch_save(path: str) -> Callable[[], object]:
        torch.save(
            {"model": net.state_dict(), "optimizer": adam.state_dict()} if whole else net.state_dict(), path
        )

        def load() -> None:
            saved = torch.load(path, weights_only=True)
            if not whole:
                net.load_state_dict(saved)
                return
            target = module()
            target.load_state_dict(saved["model"])
            torch.optim.Adam(target.parameters(), 1e-3).load_state_dict(saved["optimizer"])

        return load

    return [
        ("native safetensors.torch", with_safetensors),
        ("native torch.save / torch.load", with_torch_save),
    ]


def tensorflow_contenders(whole: bool) -> list[Contender]:
    import tensorflow as tf
    from safetensors.numpy import load_file, save_file

    def shapes() -> dict[str, tuple[int, ...]]:
        found = {}
        for index, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            found[f"dense_{index}_kernel"], found[f"dense_{index}_bias"] = (a, b), (b,)
        if whole:
            found.update({f"{name}_{slot}": shape for name, shape in found.items() for slot in ("m", "v")})
            found["iterations"] = ()
        return found

    def variables() -> dict[str, tf.Variable]:
        return {
            name: tf.Variable(tf.random.uniform(shape) if name.endswith("kernel") else tf.zeros(shape))
            for name, shape in shapes().items()
        }

    native = variables()

    def assigned(arrays: dict[str, np.ndarray]) -> None:
        targets = variables() if whole else native  # load_model builds the model and optimizer anew
        for name, variable in targets.items():
            variable.assign(arrays[name])

    def with_safetensors(path: str) -> Callable[[], object]:
        save_file({name: np.asarray(variable.numpy()) for name, variable in native.items()}, path)
        return lambda: assigned(load_file(path))

    def with_savez(path: str) -> Callable[[], object]:
        path += ".npz"  # or np.savez adds it
        np.savez(path, **{name: variable.numpy() for name, variable in native.items()})

        def load() -> None:
            with np.load(path) as arrays:  # allow_pickle=False
                assigned({name: arrays[name] for name in arrays.files})

        return load

    return [("native safetensors.numpy", with_safetensors), ("native np.savez / np.load", with_savez)]


def timed(fn: Callable[..., object], *args: object) -> tuple[float, object]:
    """Seconds ``fn(*args)`` takes, and what it returns; garbage collected and the written files
    synced to disk first, so that no contender pays for another's leftovers."""
    gc.collect()
    os.sync()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def tensor_bytes(path: str) -> int | None:
    """The raw bytes of the arrays in a safetensors file; None for another kind of file."""
    from safetensors.numpy import load_file

    try:
        return sum(array.nbytes for array in load_file(path).values())
    except Exception:  # torch.save's zip or np.savez's
        return None


def run_rounds(
    contenders: list[Contender], rounds: int, folder: str, warm_up: bool
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, tuple[int, int | None]]]:
    """Save and load seconds of each contender over ``rounds`` interleaved rounds, and the size
    of each contender's file (and of the arrays in it, for safetensors files)."""
    saves: dict[str, list[float]] = {label: [] for label, _ in contenders}
    loads: dict[str, list[float]] = {label: [] for label, _ in contenders}
    sizes: dict[str, tuple[int, int | None]] = {}
    first = 0 if warm_up else 1
    for number in range(first, rounds + 1):  # round 0 warms up (imports, first allocations)
        shift = number % len(contenders)
        order = list(enumerate(contenders))
        for index, (label, save) in order[shift:] + order[:shift]:
            path = os.path.join(folder, f"{number}-{index}")
            seconds, load = timed(save, path)
            written = path if os.path.exists(path) else path + ".npz"
            load_seconds, check = timed(load)  # type: ignore[arg-type]
            if callable(check):
                check()
            if number:
                saves[label].append(seconds)
                loads[label].append(load_seconds)
            if label not in sizes:
                sizes[label] = (os.path.getsize(written), tensor_bytes(written))
            os.unlink(written)
    native_raw = sizes[contenders[0][0]][1]  # a file not safetensors holds the same arrays
    sizes = {label: (size, native_raw if raw is None else raw) for label, (size, raw) in sizes.items()}
    return saves, loads, {label: sizes[label] for label, _ in contenders}


def report(title: str, times: dict[str, list[float]]) -> None:
    native = next(label for label in times if label.startswith("native"))
    base_min, base_median = min(times[native]), statistics.median(times[native])
    print(f"  {title}")
    for label, seconds in times.items():
        low, median = min(seconds), statistics.median(seconds)
        spread = (max(seconds) - low) / median
        print(
            f"    {label:<36} {low * 1e3:>8.1f} {median * 1e3:>9.1f} {spread:>7.0%} "
            f"{low / base_min:>8.2f}x {median / base_median:>8.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the weights-only case")
    parser.add_argument("--model-rounds", type=int, default=2, help="rounds of the whole-model case")
    args = parser.parse_args()
    natives = {"torch": torch_contenders, "tensorflow": tensorflow_contenders}
    header = f"    {'':<36} {'min ms':>8} {'median ms':>9} {'spread':>7} {'min/nat':>9} {'med/nat':>9}"
    size_rows = []
    folder = tempfile.mkdtemp(prefix="bridge-saving-bench-")
    try:
        for backend, native in natives.items():
            if backend not in br.backends():
                continue
            model = bridge_model(backend)
            count = sum(int(np.prod(w.shape)) for w in model.weights)
            print(f"{backend}: {count:,} float32 parameters ({count * 4 / 1e6:.1f} MB)")
            for whole, rounds in ((False, args.rounds), (True, args.model_rounds)):
                kind = "whole model + Adam state" if whole else "weights"
                contenders = native(whole) + bridge_contenders(model, backend, whole)
                saves, loads, sizes = run_rounds(contenders, rounds, folder, warm_up=not whole)
                print(f"{backend}, {kind}, {rounds} rounds (ratios to the first native)")
                print(header)
                report("save", saves)
                report("load", loads)
                size_rows += [(f"{backend} {kind}: {label}", *size) for label, size in sizes.items()]
                del contenders
            del model
            gc.collect()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("file sizes (overhead: the bytes beyond the raw arrays the file holds)")
    print(f"    {'':<72} {'file bytes':>11} {'array bytes':>11} {'overhead':>9} {'':>8}")
    for label, size, raw in size_rows:
        if raw is None:
            print(f"    {label:<72} {size:>11}")
        else:
            print(f"    {label:<72} {size:>11} {raw:>11} {size - raw:>9} {(size - raw) / raw:>8.4%}")


if __name__ == "__main__":
    main()
