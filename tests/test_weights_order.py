"""``weights`` / ``get_weights`` order: as Keras 3 (each layer's own weights, those created
trainable first, then its sublayers'), and unchanged by freezing, so ``set_weights`` still loads
each array into its own weight."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import bridge as br
from bridge import nn

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("variables")

_KERAS = """
import json
import keras

class Block(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.inner = keras.layers.Dense(2)

    def build(self, shape):
        self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)
        self.scale = self.add_weight(name="scale", shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return self.inner(x * self.scale)

layers = [keras.layers.Dense(3), keras.layers.BatchNormalization(), Block()]
model = keras.Sequential([keras.Input((4,)), *layers])
names = lambda ws: [[w.name, list(w.shape)] for w in ws]
states = []
for frozen in [None, 0, 1, 2]:
    if frozen is not None:
        model.layers[frozen].trainable = False
    states.append([names(model.weights), names(model.trainable_weights), names(model.non_trainable_weights)])
print(json.dumps(states))
"""


@functools.cache
def keras_orders() -> list:
    """Keras 3's weights / trainable / non-trainable names and shapes, as layers get frozen."""
    return keras_json(_KERAS)


class Block(nn.Layer):
    def __init__(self):
        super().__init__()
        self.inner = nn.Dense(2)

    def build(self, shape):
        self.count = self.add_weight("count", (), "zeros", trainable=False)
        self.scale = self.add_weight("scale", (shape[-1],), "ones")

    def call(self, x):
        return self.inner(x * self.scale)


def _names(weights) -> list:
    return [[w.name.rsplit("/", 1)[-1], list(w.shape)] for w in weights]


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_weights_order_matches_keras_and_survives_freezing(backend) -> None:
    model = nn.Sequential([nn.Dense(3), nn.BatchNormalization(), Block()])
    model(br.ones((2, 4)))
    before = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.weights)]
    model.set_weights(before)
    for frozen, expected in zip([None, 0, 1, 2], keras_orders(), strict=True):
        if frozen is not None:
            model.layers[frozen].trainable = False
        states = [model.weights, model.trainable_weights, model.non_trainable_weights]
        assert [_names(ws) for ws in states] == expected, f"after freezing layer {frozen}"
        # the arrays taken before freezing go back to the weights they came from
        model.set_weights(before)
        for got, want in zip(model.get_weights(), before, strict=True):
            np.testing.assert_array_equal(got, want)


_KERAS_DICT = """
import json
import keras

class Heads(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.heads = {"b": keras.layers.Dense(2), "a": keras.layers.Dense(3)}

    def call(self, x):
        return [self.heads["a"](x), self.heads["b"](x)]

heads = Heads()
heads(keras.ops.ones((1, 4)))
print(json.dumps([list(w.shape) for w in heads.weights]))
"""


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_sublayers_held_in_a_dict_come_in_insertion_order_as_keras(backend) -> None:
    class Heads(nn.Layer):
        def __init__(self):
            super().__init__()
            self.heads = {"b": nn.Dense(2), "a": nn.Dense(3)}  # not in sorted-key order

        def call(self, x):
            return [self.heads["a"](x), self.heads["b"](x)]

    heads = Heads()
    heads(br.ones((1, 4)))
    assert [list(w.shape) for w in heads.weights] == keras_json(_KERAS_DICT)
