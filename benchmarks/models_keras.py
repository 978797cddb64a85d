"""Keras 3 contender: ``model.fit`` of the Keras-API model on the backend Keras was imported with
(``KERAS_BACKEND``; so one process per Keras backend, see ``keras_server``)."""

from __future__ import annotations

import types
from collections.abc import Callable

import keras
import models_layers
from workloads import LEARNING_RATE, Data, Workload


def keras_fit(workload: Workload, data: Data, device: str) -> Callable[[], None]:
    """A run of one ``fit`` epoch over ``data``, on Keras' default device (the caller hides the GPU
    from a CPU run)."""
    keras.utils.set_random_seed(0)
    layers = types.SimpleNamespace(**vars(keras.layers), Model=keras.Model)
    model = models_layers.build(layers, workload)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = data

    def run() -> None:
        model.fit(x, y, batch_size=workload.batch, epochs=1, shuffle=False, verbose=0)

    return run
