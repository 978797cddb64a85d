"""``bridge.interop.export`` / ``Model.export``: a TensorFlow SavedModel and a ``torch.export``
program, each loaded back by its framework alone (in a ``python -I`` subprocess where importing
bridge fails) and run against the bridge model's own outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bridge as br
import bridge.nn as nn
from bridge.interop import export

F32 = 1e-5  # float32: the copy onto the other framework runs other kernels

# run in the subprocess first: importing bridge (or a backend plugin) fails there
_NO_BRIDGE = r"""
import json, sys
import numpy as np

class NoBridge:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("bridge", "bridge_torch", "bridge_tensorflow"):
            raise ImportError(f"{name}: bridge is not importable here")

sys.meta_path.insert(0, NoBridge())
results = {}
"""

_LOAD_AND_RUN = r"""
import tensorflow as tf
import torch

for job in json.loads(sys.stdin.read()):  # sent once the exports are written
    arrays = {name: np.load(file) for name, file in job["inputs"].items()}
    if job["format"] == "torch":
        module = torch.export.load(job["path"]).module()
        with torch.no_grad():
            outputs = module(*(torch.from_numpy(a) for a in arrays.values()))
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        outputs = {f"output_{i}": value.numpy() for i, value in enumerate(outputs)}
    else:
        loaded = tf.saved_model.load(job["path"])
        signature = loaded.signatures["serving_default"]
        outputs = signature(**{name: tf.constant(a) for name, a in arrays.items()})
        outputs = {name: value.numpy() for name, value in outputs.items()}
        served = loaded.serve(*arrays.values())  # the model's own output structure
        served = list(served) if isinstance(served, (list, tuple)) else [served]
        outputs.update({f"serve_{i}": value.numpy() for i, value in enumerate(served)})
    for name, value in outputs.items():
        np.save(f"{job['out']}.{name}.npy", value)
    results[job["out"]] = sorted(outputs)
results["bridge imported"] = "bridge" in sys.modules
print(json.dumps(results))
"""


def _start_native_run(program: str) -> subprocess.Popen:
    """Start ``program`` in a ``python -I`` process where bridge cannot be imported; it imports
    its frameworks while the exports are being written, then reads its jobs from stdin."""
    return subprocess.Popen(
        [sys.executable, "-I", "-c", _NO_BRIDGE + program],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
    )


def _results(process: subprocess.Popen, jobs: list[dict]) -> dict:
    out, err = process.communicate(json.dumps(jobs), timeout=300)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _sequential(x: np.ndarray) -> nn.Model:
    model = nn.Sequential(
        [nn.Dense(4, activation="relu"), nn.BatchNormalization(), nn.Dropout(0.5), nn.Dense(2)]
    )
    model(x)  # built on data: the inputs are (None, 5) float32
    model.layers[1].set_weights([np.full(4, v, np.float32) for v in (1.5, 0.1, 0.2, 2.0)])
    return model


def _residual_cnn() -> nn.Model:
    """Conv + BatchNorm (moving statistics not the identity's) + a residual Add, as a ResNet block."""
    image = nn.Input((6, 6, 3), name="images")
    x = nn.Conv2D(4, 3, padding="same")(image)
    norm = nn.BatchNormalization()
    y = norm(nn.Conv2D(4, 3, padding="same", activation="relu")(x))
    pooled = nn.GlobalAveragePooling2D()(nn.Add()([x, y]))
    norm.set_weights([np.full(4, v, np.float32) for v in (1.5, 0.1, 0.2, 2.0)])
    return nn.Model(image, nn.Dense(2, name="logits")(pooled))


def _attention() -> nn.Model:
    tokens = nn.Input((5, 6), name="tokens")
    attended = nn.MultiHeadAttention(2, 4)(tokens, tokens)
    return nn.Model(tokens, nn.Dense(2, name="logits")(nn.GlobalAveragePooling1D()(attended)))


def _lstm() -> nn.Model:
    steps = nn.Input((5, 3), name="steps")
    return nn.Model(steps, nn.Dense(2, name="logits")(nn.LSTM(4)(steps)))


def _two_in_two_out() -> nn.Model:
    a, b = nn.Input((5,), name="a"), nn.Input((3,), name="b")
    joined = nn.Concatenate()([nn.Dense(4, activation="tanh")(a), b])
    return nn.Model([a, b], [nn.Dense(2, name="score")(joined), nn.Dense(1, name="extra")(joined)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """Every export, its inputs (batch 3: the torch programs were traced on 2) and the bridge
    model's outputs, and what each framework alone computed from them."""
    native = _start_native_run(_LOAD_AND_RUN)
    folder = tmp_path_factory.mktemp("exported")
    x, a, b = _data(3, 5), _data(3, 5, seed=1), _data(3, 3, seed=2)
    cases: dict[str, dict] = {}

    def case(
        name: str, model: nn.Model, fmt: str, inputs: dict[str, np.ndarray], method: bool = False
    ) -> None:
        path = str(folder / (f"{name}.pt2" if fmt == "torch" else name))
        if method:
            model.export(path, format=fmt)
        else:
            export(model, path, format=fmt)
        run(name, model, path, fmt, inputs)

    def run(name: str, model: nn.Model, path: str, fmt: str, inputs: dict[str, np.ndarray]) -> None:
        out = str(folder / name)  # where the subprocess writes its outputs for these inputs
        files = {}
        for key, value in inputs.items():
            files[key] = f"{out}.in.{key}.npy"
            np.save(files[key], value)
        given = inputs["inputs"] if list(inputs) == ["inputs"] else list(inputs.values())
        expected = [y.numpy() for y in br.tree.leaves(model(given, training=False))]
        cases[name] = {"path": path, "out": out, "inputs": files, "expected": expected, "format": fmt}

    def batches(name: str, model: nn.Model, fmt: str, shape: tuple[int, ...]) -> None:
        """Export a model built on batches of 2, run it on batches of 1 and 3."""
        model(_data(2, *shape), training=False)
        key = model.input.name
        case(f"{name}_1", model, fmt, {key: _data(1, *shape, seed=3)})
        run(f"{name}_3", model, cases[f"{name}_1"]["path"], fmt, {key: _data(3, *shape, seed=4)})

    try:
        # each format from each backend once: a model on the other backend is copied first
        with br.use_backend("tensorflow"):
            case("seq_saved_model", _sequential(x), "saved_model", {"inputs": x})
            case("fn_torch", _two_in_two_out(), "torch", {"a": a, "b": b})
        with br.use_backend("torch"):
            case("seq_torch", _sequential(x), "torch", {"inputs": x}, method=True)
            case("fn_saved_model", _two_in_two_out(), "tf_saved_model", {"a": a, "b": b}, method=True)
            batches("cnn_torch", _residual_cnn(), "torch", (6, 6, 3))
            batches("attention_torch", _attention(), "torch", (5, 6))
            batches("lstm_torch", _lstm(), "torch", (5, 3))
        with br.use_backend("tensorflow"):  # layers that shape tensors from their inputs' batch
            batches("cnn_saved_model", _residual_cnn(), "saved_model", (6, 6, 3))
            batches("attention_saved_model", _attention(), "saved_model", (5, 6))
            batches("lstm_saved_model", _lstm(), "saved_model", (5, 3))
    except BaseException:
        native.kill()
        raise
    jobs = [{key: c[key] for key in ("path", "out", "inputs", "format")} for c in cases.values()]
    return {"cases": cases, "native": _results(native, jobs)}


def _differences(case: dict, names: list[str]) -> list[float]:
    got = [np.load(f"{case['out']}.{name}.npy") for name in names]
    assert [g.shape for g in got] == [e.shape for e in case["expected"]]
    return [float(np.max(np.abs(g - e))) for g, e in zip(got, case["expected"])]


@pytest.mark.slow
@pytest.mark.needs("tensorflow", "torch")
@pytest.mark.parametrize(
    "name, outputs",
    [
        ("seq_saved_model", ["output_0"]),  # the input is named "inputs"
        ("fn_saved_model", ["score", "extra"]),  # the inputs "a" and "b"
        ("seq_torch", ["output_0"]),
        ("fn_torch", ["output_0", "output_1"]),
        # batches of 1 and 3 through models built on 2: Add, BatchNorm, attention, LSTM states
        *((f"{model}_saved_model_{n}", ["logits"]) for model in ("cnn", "attention", "lstm") for n in (1, 3)),
        *((f"{model}_torch_{n}", ["output_0"]) for model in ("cnn", "attention", "lstm") for n in (1, 3)),
    ],
)
def test_an_export_runs_without_bridge_and_gives_the_models_outputs(exported, name, outputs):
    native = exported["native"]
    assert native["bridge imported"] is False
    case = exported["cases"][name]
    if case["format"] != "torch":
        served = [f"serve_{i}" for i in range(len(outputs))]
        assert native[case["out"]] == sorted(outputs + served)
        assert max(_differences(case, served)) < F32
    else:
        assert native[case["out"]] == sorted(outputs)
    assert max(_differences(case, outputs)) < F32


@pytest.mark.slow
@pytest.mark.needs("torch")
def test_a_torch_program_holds_the_weights_as_parameters_by_their_paths(exported):
    import torch

    program = torch.export.load(exported["cases"]["fn_torch"]["path"])
    assert list(program.state_dict) == [f"dense{n}.{w}" for n in ("", "_1", "_2") for w in ("kernel", "bias")]
    assert not program.constants  # read through the module, not baked in as constants


@pytest.mark.needs("tensorflow")
def test_a_failed_saved_model_export_leaves_the_old_one(tmp_path, monkeypatch):
    import tensorflow as tf

    target = tmp_path / "model"
    target.mkdir()
    (target / "old").write_text("old")
    with br.use_backend("tensorflow"):
        model = _sequential(_data(2, 5))

        def fail(*args, **kwargs):
            raise OSError("disk full")

        with monkeypatch.context() as patched:
            patched.setattr(tf.saved_model, "save", fail)
            with pytest.raises(OSError, match="disk full"):
                export(model, target)
        assert sorted(os.listdir(tmp_path)) == ["model"] and (target / "old").read_text() == "old"
        model.export(target)  # replaces the old folder whole
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert (target / "saved_model.pb").exists() and not (target / "old").exists()


@pytest.mark.needs("tensorflow")
def test_a_saved_model_that_cannot_be_moved_in_puts_the_old_one_back(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old").write_text("old")
    replace = os.replace

    def fail_moving_in(source, destination):
        if os.path.basename(str(source)).startswith(".model.") and str(destination) == str(target):
            raise OSError("cross-device link")
        replace(source, destination)

    with br.use_backend("tensorflow"):
        model = _sequential(_data(2, 5))
        monkeypatch.setattr(os, "replace", fail_moving_in)
        with pytest.raises(OSError, match="cross-device link"):
            export(model, target)
    assert sorted(os.listdir(tmp_path)) == ["model"] and (target / "old").read_text() == "old"


@pytest.mark.needs("torch")
def test_a_failed_torch_export_leaves_the_old_file(tmp_path, monkeypatch):
    import torch

    target = tmp_path / "model.pt2"
    target.write_bytes(b"old")
    with br.use_backend("torch"):
        model = _sequential(_data(2, 5))
        with monkeypatch.context() as patched:
            patched.setattr(
                torch.export, "save", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("full"))
            )
            with pytest.raises(OSError, match="full"):
                export(model, target, format="torch")
    assert sorted(os.listdir(tmp_path)) == ["model.pt2"] and target.read_bytes() == b"old"


@pytest.mark.needs("torch", "tensorflow")
def test_a_model_holding_a_torch_module_exports_as_a_torch_program_only(tmp_path):
    import torch

    with br.use_backend("torch"):
        model = nn.Sequential([nn.TorchModule(torch.nn.Linear(3, 2)), nn.Dense(1)])
        model(np.zeros((2, 3), np.float32))
        with pytest.raises(
            br.SerializationError, match=r"lives on torch; copying it onto tensorflow.*TorchModule"
        ):
            model.export(tmp_path / "saved")
        model.export(tmp_path / "model.pt2", format="torch")
    assert sorted(os.listdir(tmp_path)) == ["model.pt2"]


@pytest.mark.needs("torch")
def test_a_torch_program_whose_batch_axis_cannot_be_dynamic_is_exported_for_two_samples(tmp_path):
    import torch

    with br.use_backend("torch"):
        model = nn.Sequential([nn.Lambda(lambda x: x + 1.0 if x.shape[0] == 2 else x)])
        model(np.zeros((2, 3), np.float32))
        with pytest.warns(UserWarning, match="batch axis cannot be dynamic.*batches of 2 only"):
            model.export(tmp_path / "fixed.pt2", format="torch")
    module = torch.export.load(tmp_path / "fixed.pt2").module()
    assert torch.equal(module(torch.zeros(2, 3)), torch.ones(2, 3))
    with pytest.raises(Exception, match="size"):
        module(torch.zeros(3, 3))


def test_export_errors(tmp_path, backend):
    with pytest.raises(br.ArgumentTypeError, match="expected a bridge.nn.Model, got Dense"):
        export(nn.Dense(2), tmp_path / "m")
    model = nn.Sequential([nn.Dense(2)])
    with pytest.raises(
        br.InvalidArgumentError, match=r"unknown format 'onnx'.*\['saved_model', 'tf_saved_model', 'torch'\]"
    ):
        model.export(tmp_path / "m", format="onnx")
    with pytest.raises(nn.NotBuiltError, match="never built or called"):
        model.export(tmp_path / "m")
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(br.NoSuchFileError, match="no folder"):
        model.export(tmp_path / "absent" / "m")
    (tmp_path / "file").write_text("")
    with pytest.raises(br.FileFormatError, match="is a file"):
        model.export(tmp_path / "file")
    assert not list(Path(tmp_path).glob(".*"))
