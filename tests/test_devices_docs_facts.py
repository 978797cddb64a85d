"""Facts the devices guide (docs/guides/devices.md) states: every spelling of a device name it
lists, for tensors, layers and models; and one the callbacks page (docs/topics/callbacks.md)
states: fit gives callbacks Keras' ``params``."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import nn
from bridge._dispatch import canonical_device

SPELLINGS = {
    "cpu": "cpu",
    "CPU": "cpu",
    "CPU:0": "cpu",
    "/CPU:0": "cpu",
    "/device:CPU:0": "cpu",
    "/job:localhost/replica:0/task:0/device:CPU:0": "cpu",
    "gpu": "gpu:0",
    "cuda": "gpu:0",
    "cuda:0": "gpu:0",
    "GPU:0": "gpu:0",
    "/GPU:0": "gpu:0",
    "/device:GPU:0": "gpu:0",
    "cuda:1": "gpu:1",
    "/GPU:1": "gpu:1",
    "/job:localhost/replica:0/task:0/device:GPU:1": "gpu:1",
}


@pytest.mark.parametrize(("name", "canonical"), sorted(SPELLINGS.items()))
def test_device_spellings(name: str, canonical: str) -> None:
    assert canonical_device(name) == canonical


@pytest.mark.parametrize("name", ["tpu", "cpu:1", "gpu:x", "/job:localhost/device:TPU:0", ""])
def test_unknown_device_names_are_refused(name: str) -> None:
    with pytest.raises(br.DeviceError, match="unknown device"):
        canonical_device(name)


@pytest.mark.bridge_requires("autodiff", "variables")
@pytest.mark.parametrize("name", ["CPU:0", "/CPU:0", "/device:CPU:0", "cpu"])
def test_layers_and_models_move_to_every_cpu_spelling(backend: str, name: str) -> None:
    x = np.ones((4, 3), np.float32)
    layer = nn.Dense(2)
    layer(x)
    assert layer.to(name) is layer and {w.device for w in layer.weights} == {"cpu"}
    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.ones((4, 2), np.float32), verbose=0)
    assert model.to(name) is model
    model.fit(x, np.ones((4, 2), np.float32), verbose=0)  # the moved state still trains
    assert {w.device for w in model.weights + model.optimizer.variables} == {"cpu"}


@pytest.mark.bridge_requires("autodiff", "variables")
def test_fit_gives_callbacks_their_params_as_keras(backend: str) -> None:
    """docs/topics/callbacks.md: ``self.params`` holds verbose, epochs and steps per epoch."""
    seen: list[dict] = []

    class Record(br.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            seen.append(dict(self.params))

    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((10, 3), np.float32)
    model.fit(x, np.ones((10, 2), np.float32), epochs=2, batch_size=4, verbose=0, callbacks=[Record()])
    assert seen == [{"verbose": 0, "epochs": 2, "steps": 3}]
