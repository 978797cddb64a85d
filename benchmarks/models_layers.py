"""The four models written once against the Keras layer API, which ``bridge.nn`` and Keras 3 both
offer: ``build(layers, workload)`` takes ``bridge.nn`` or a namespace of ``keras.layers`` plus
``keras.Model``. Default initializers (Glorot uniform kernels, zero biases) on both."""

from __future__ import annotations

from typing import Any

from workloads import BN_EPSILON, CLASSES, CNN_FILTERS, LSTM_UNITS, MLP_UNITS, TRANSFORMER, Workload


def build(layers: Any, workload: Workload) -> Any:
    """A functional model of ``workload`` made of ``layers``' classes, outputting logits."""
    inputs = layers.Input(workload.input_shape)
    x = BODIES[workload.name](layers, inputs)
    return layers.Model(inputs, layers.Dense(CLASSES)(x))


def mlp(layers: Any, x: Any) -> Any:
    for units in MLP_UNITS:
        x = layers.Dense(units, activation="relu")(x)
    return x


def cnn(layers: Any, x: Any) -> Any:
    for filters in CNN_FILTERS:
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON)(x)
        x = layers.Activation("relu")(x)
    return layers.GlobalAveragePooling2D()(x)


def lstm(layers: Any, x: Any) -> Any:
    return layers.LSTM(LSTM_UNITS)(x)


def transformer(layers: Any, x: Any) -> Any:
    """Post-norm encoder block (as torch's ``TransformerEncoderLayer``, no dropout)."""
    width, heads, eps = TRANSFORMER["width"], TRANSFORMER["heads"], TRANSFORMER["epsilon"]
    attended = layers.MultiHeadAttention(heads, width // heads)(x, x)
    x = layers.LayerNormalization(epsilon=eps)(layers.Add()([x, attended]))
    fed = layers.Dense(width)(layers.Dense(TRANSFORMER["ffn"], activation="relu")(x))
    x = layers.LayerNormalization(epsilon=eps)(layers.Add()([x, fed]))
    return layers.GlobalAveragePooling1D()(x)


BODIES = {"mlp": mlp, "cnn": cnn, "lstm": lstm, "transformer": transformer}
