"""Whole models and weights through files (issue 11): every built-in layer and optimizer saved on
one backend and loaded on either, with the same predictions and the same continued training;
custom layers, losses and metrics by registered name or ``custom_objects``; ``load_weights``'
mismatch errors and ``skip_mismatch``; what cannot be saved.

The references: a round trip's is the original model itself (its predictions, its weights, the
losses of its own continued training in the same process); nothing expected here is computed by
the saving code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bridge as br
from bridge import _registry, losses, metrics, nn, ops, optim, schedules
from bridge.saving import files
from bridge.saving.paths import seed_generator_paths, weight_paths
from bridge.serialization import serialize

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

BACKENDS = ("torch", "tensorflow")
#: Cross-backend predictions: float32 within rtol 1e-6 and an atol of 1e-6 times the outputs'
#: largest magnitude (they are O(1) here, so 1e-6 absolute, the issue's bound); float64 the
#: same with 1e-12. On the same backend every comparison is exact.
RTOL32, RTOL64 = 1e-6, 1e-12
#: Continued training across backends: the losses within rtol 1e-5 (exact on one backend).
LOSS_RTOL = 1e-5

RNG = np.random.default_rng(11)
FEATURES = RNG.normal(size=(16, 6)).astype(np.float32)
IMAGES = RNG.normal(size=(8, 5, 5, 2)).astype(np.float32)
IDS = RNG.integers(0, 10, size=(8, 5)).astype(np.int64)
TARGETS = RNG.normal(size=(32, 2)).astype(np.float32)
TRAIN_X = RNG.normal(size=(32, 6)).astype(np.float32)


# --- helpers -------------------------------------------------------------------------------
def _state_bytes(model: nn.Model) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Each weight by path: its dtype, shape and bytes (bit-exact comparison, -0.0 and NaN too)."""
    return {
        name: (v.dtype.name, v.shape, np.ascontiguousarray(v.numpy()).tobytes())
        for name, v in weight_paths(model).items()
    }


def _optimizer_bytes(model: nn.Model) -> dict[str, bytes]:
    assert model.optimizer is not None
    state = model.optimizer.named_state(weight_paths(model))
    return {name: np.ascontiguousarray(v.numpy()).tobytes() for name, v in state.items()}


def _randomize(model: nn.Model, seed: int = 0) -> None:
    """Weights far from their initial values (moving variances positive), so that every one
    of them matters to the predictions."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        dtype = weight.dtype.numpy
        if weight.name.endswith("variance"):  # BatchNormalization's moving, Normalization's
            values.append(rng.uniform(0.5, 1.5, weight.shape).astype(dtype))
        else:
            values.append((rng.normal(size=weight.shape) * 0.5).astype(dtype))
    model.set_weights(values)


def _assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, exact: bool) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if exact:
        np.testing.assert_array_equal(actual, expected)
    else:
        scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _saved_config(path: Path) -> tuple[dict[str, str], Any]:
    metadata, _ = files.read(path)
    return metadata, json.loads(metadata["config"])


# --- 1. every built-in layer, across backends ------------------------------------------------
def _layers(case: str, dtype: str) -> tuple[list[nn.Layer], np.ndarray]:
    """A small stack that holds the layer ``case``, and inputs for it."""
    d = {"dtype": dtype}
    dense_in = FEATURES.astype(dtype)
    images = IMAGES.astype(dtype)
    stacks: dict[str, tuple[list[nn.Layer], np.ndarray]] = {
        "Dense": ([nn.Dense(4, activation="relu", kernel_regularizer="l2", **d), nn.Dense(2, **d)], dense_in),
        "Dropout": ([nn.Dense(4, **d), nn.Dropout(0.5, seed=7, **d), nn.Dense(2, **d)], dense_in),
        "Activation": ([nn.Dense(4, **d), nn.Activation("tanh", **d), nn.Dense(2, **d)], dense_in),
        "Flatten": ([nn.Flatten(**d), nn.Dense(2, **d)], images),
        "Reshape": ([nn.Reshape((3, -1), **d), nn.Dense(2, **d), nn.Flatten(**d)], dense_in),
        "Embedding": ([nn.Embedding(10, 3, **d), nn.Flatten(**d), nn.Dense(2, **d)], IDS),
        "Conv2D": (
            [
                nn.Conv2D(3, (3, 2), strides=(1, 2), padding="same", activation="relu", **d),
                nn.Conv2D(2, 2, dilation_rate=2, **d),
                nn.Flatten(**d),
            ],
            images,
        ),
        "MaxPool2D": ([nn.Conv2D(3, 2, **d), nn.MaxPool2D(2, padding="same", **d), nn.Flatten(**d)], images),
        "AvgPool2D": ([nn.Conv2D(3, 2, **d), nn.AvgPool2D((2, 1), strides=1, **d), nn.Flatten(**d)], images),
        "GlobalAveragePooling2D": ([nn.Conv2D(3, 2, **d), nn.GlobalAveragePooling2D(**d)], images),
        **_conv_stacks(d, dense_in, images),
        "BatchNormalization": (
            [nn.Dense(4, **d), nn.BatchNormalization(momentum=0.9, **d), nn.Dense(2, **d)],
            dense_in,
        ),
        "LayerNormalization": (
            [nn.Dense(4, **d), nn.LayerNormalization(epsilon=1e-5, **d), nn.Dense(2, **d)],
            dense_in,
        ),
        "SimpleRNN": (
            [
                nn.Reshape((3, 2), **d),
                nn.SimpleRNN(3, return_sequences=True, go_backwards=True, **d),
                nn.Flatten(**d),
            ],
            dense_in,
        ),
        "LSTM": ([nn.Reshape((3, 2), **d), nn.LSTM(3, recurrent_regularizer="l2", **d)], dense_in),
        "GRU": (
            [
                nn.Reshape((3, 2), **d),
                nn.GRU(2, reset_after=False, return_sequences=True, **d),
                nn.GRU(2, **d),
            ],
            dense_in,
        ),
        "Bidirectional": (
            [
                nn.Embedding(10, 3, mask_zero=True, **d),
                nn.Bidirectional(nn.LSTM(2, **d), merge_mode="sum", **d),
            ],
            IDS,
        ),
        "Masking": ([nn.Reshape((3, 2), **d), nn.Masking(0.5, **d), nn.LSTM(2, **d)], dense_in),
        **_attention_stacks(d, dense_in),
        **_preprocessing_stacks(d, dense_in, images),
        "Merging": (_merging_model(d), dense_in),
        "Reshaping": (
            [
                nn.Cropping2D(((1, 0), (0, 1)), **d),
                nn.ZeroPadding2D(1, **d),
                nn.UpSampling2D(2, interpolation="bilinear", **d),
                nn.Permute((2, 1, 3), **d),
                nn.Reshape((12, 24), **d),
                nn.Cropping1D((1, 2), **d),
                nn.ZeroPadding1D(1, **d),
                nn.UpSampling1D(2, **d),
                nn.TimeDistributed(nn.Dense(2, **d), **d),
                nn.Lambda(ops.tanh, **d),
                nn.Flatten(**d),
                nn.RepeatVector(2, **d),
                nn.Flatten(**d),
            ],
            images,
        ),
        "Sequential": (
            [
                nn.Sequential(
                    [
                        nn.Dense(4, activation="relu", **d),
                        nn.Sequential([nn.Dense(3, **d)], trainable=False, **d),  # frozen
                    ],
                    **d,
                ),
                nn.Dense(2, **d),
            ],
            dense_in,
        ),
    }
    return stacks[case]


def _merging_model(d: dict[str, str]) -> nn.Model:
    """The merge layers in one functional model (which covers Functional too)."""
    x = nn.Input((6,), dtype=d["dtype"], name="features")
    a, b = nn.Dense(3, **d)(x), nn.Dense(3, activation="relu", **d)(x)
    merged = [
        layer([a, b])
        for layer in (
            nn.Add(**d),
            nn.Subtract(**d),
            nn.Multiply(**d),
            nn.Average(**d),
            nn.Maximum(**d),
            nn.Minimum(**d),
            nn.Dot(axes=1, normalize=True, **d),
        )
    ]
    return nn.Model(x, nn.Dense(2, **d)(nn.Concatenate(**d)(merged)), name="merging")


def _conv_stacks(d: dict[str, str], dense_in: np.ndarray, images: np.ndarray) -> dict[str, Any]:
    """The convolution and pooling layers of issue 12, each in a small stack: 1-D on the
    features as (3, 2) sequences, 3-D on the images as (5, 5, 2) volumes of one channel."""
    seq, vol, flat = (lambda: nn.Reshape((3, 2), **d)), (lambda: nn.Reshape((5, 5, 2, 1), **d)), nn.Flatten
    stacks = {
        "Conv1D": [seq(), nn.Conv1D(4, 2, padding="causal", groups=2, **d), flat(**d)],
        "Conv3D": [vol(), nn.Conv3D(2, 2, padding="same", **d), flat(**d)],
        "Conv1DTranspose": [seq(), nn.Conv1DTranspose(2, 2, strides=2, **d), flat(**d)],
        "Conv2DTranspose": [nn.Conv2DTranspose(2, 3, 2, "same", output_padding=1, **d), flat(**d)],
        "Conv3DTranspose": [vol(), nn.Conv3DTranspose(2, 2, **d), flat(**d)],
        "DepthwiseConv1D": [seq(), nn.DepthwiseConv1D(2, depth_multiplier=2, **d), flat(**d)],
        "DepthwiseConv2D": [nn.DepthwiseConv2D(2, padding="same", **d), flat(**d)],
        "SeparableConv1D": [seq(), nn.SeparableConv1D(3, 2, **d), flat(**d)],
        "SeparableConv2D": [nn.SeparableConv2D(3, 2, depth_multiplier=2, **d), flat(**d)],
        "MaxPool1D": [seq(), nn.Conv1D(2, 1, **d), nn.MaxPool1D(2, padding="same", **d), flat(**d)],
        "AvgPool1D": [seq(), nn.Conv1D(2, 1, **d), nn.AvgPool1D(2, strides=1, **d), flat(**d)],
        "GlobalMaxPooling1D": [seq(), nn.Conv1D(2, 1, **d), nn.GlobalMaxPooling1D(**d)],
        "GlobalAveragePooling1D": [seq(), nn.Conv1D(2, 1, **d), nn.GlobalAveragePooling1D(**d)],
        "GlobalMaxPooling2D": [nn.Conv2D(2, 1, **d), nn.GlobalMaxPooling2D(keepdims=True, **d), flat(**d)],
        "MaxPool3D": [vol(), nn.Conv3D(2, 1, **d), nn.MaxPool3D(2, **d), flat(**d)],
        "AvgPool3D": [vol(), nn.Conv3D(2, 1, **d), nn.AvgPool3D(2, padding="same", **d), flat(**d)],
        "GlobalMaxPooling3D": [vol(), nn.Conv3D(2, 1, **d), nn.GlobalMaxPooling3D(**d)],
        "GlobalAveragePooling3D": [vol(), nn.Conv3D(2, 1, **d), nn.GlobalAveragePooling3D(**d)],
    }
    return {name: (layers, dense_in if "1D" in name else images) for name, layers in stacks.items()}


@_registry.register_serializable("tests")
class SelfAttention(nn.Layer):
    """A causal MultiHeadAttention (which takes two inputs) as a one-input layer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = nn.MultiHeadAttention(2, 2, value_dim=3, use_gate=True, dtype=self.dtype)

    def call(self, x: Any) -> Any:
        return self.attention(x, x, use_causal_mask=True)


def _attention_stacks(d: dict[str, str], dense_in: np.ndarray) -> dict[str, Any]:
    """The attention, normalization and position layers of issue 12, on the features as (3, 2)
    sequences."""
    seq, flat = (lambda: nn.Reshape((3, 2), **d)), nn.Flatten
    stacks = {
        "MultiHeadAttention": [seq(), SelfAttention(**d), flat(**d)],
        "GroupNormalization": [
            seq(),
            nn.GroupNormalization(1, axis=1, gamma_regularizer="l2", **d),
            flat(**d),
        ],
        "RMSNormalization": [seq(), nn.RMSNormalization(axis=[1, 2], epsilon=1e-4, **d), flat(**d)],
        "PositionEmbedding": [seq(), nn.PositionEmbedding(4, **d), flat(**d), nn.Dense(2, **d)],
        "SinePositionEncoding": [seq(), nn.SinePositionEncoding(10, **d), flat(**d), nn.Dense(2, **d)],
    }
    return {name: (layers, dense_in) for name, layers in stacks.items()}


def _preprocessing_stacks(d: dict[str, str], dense_in: np.ndarray, images: np.ndarray) -> dict[str, Any]:
    """The preprocessing and augmentation layers of issue 14 (augmentation is the identity in
    predict: the round trip keeps its configuration and seed state)."""
    return {
        "Rescaling": ([nn.Rescaling(0.5, offset=1.0, **d), nn.Dense(2, **d)], dense_in),
        "Normalization": ([nn.Normalization(**d), nn.Dense(2, **d)], dense_in),
        "CategoryEncoding": ([nn.CategoryEncoding(10, output_mode="count", **d), nn.Dense(2, **d)], IDS),
        "IntegerLookup": (
            [nn.IntegerLookup(vocabulary=[1, 3, 5, 7], output_mode="count", **d), nn.Dense(2, **d)],
            IDS,
        ),
        "Augmentation": (
            [
                nn.RandomFlip(seed=1, **d),
                nn.RandomRotation(0.1, seed=2, **d),
                nn.RandomZoom(0.1, seed=3, **d),
                nn.RandomTranslation(0.1, 0.1, seed=4, **d),
                nn.RandomContrast(0.2, seed=5, **d),
                nn.Conv2D(2, 2, **d),
                nn.Flatten(**d),
            ],
            images,
        ),
    }


PREPROCESSING_CASES = ["Rescaling", "Normalization", "CategoryEncoding", "IntegerLookup", "Augmentation"]


ATTENTION_CASES = [  # issue 12
    "MultiHeadAttention",
    "GroupNormalization",
    "RMSNormalization",
    "PositionEmbedding",
    "SinePositionEncoding",
]


CONV_CASES = [  # issue 12
    "Conv1D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "MaxPool1D",
    "AvgPool1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling2D",
    "MaxPool3D",
    "AvgPool3D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling3D",
]

LAYER_CASES = [
    "Dense",
    "Dropout",
    "Activation",
    "Flatten",
    "Reshape",
    "Embedding",
    "Conv2D",
    "MaxPool2D",
    "AvgPool2D",
    "GlobalAveragePooling2D",
    "BatchNormalization",
    "LayerNormalization",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "Masking",
    *ATTENTION_CASES,
    "Merging",
    "Reshaping",
    "Sequential",
    *CONV_CASES,
    *PREPROCESSING_CASES,
]


def _model(case: str, dtype: str) -> tuple[nn.Model, np.ndarray]:
    layers, x = _layers(case, dtype)
    return (layers if isinstance(layers, nn.Model) else nn.Sequential(layers, dtype=dtype)), x


def _classes(layer: nn.Layer) -> set[str]:
    return {type(layer).__name__}.union(*(_classes(inner) for inner in layer.layers))


def test_the_cases_cover_every_registered_layer(backend):
    """A layer added to bridge.nn later fails here until it gets a round-trip case."""
    from bridge.serialization import LAYERS

    covered = set().union(*(_classes(_model(case, "float32")[0]) for case in LAYER_CASES))
    assert set(LAYERS.known) - covered - ROUND_TRIPPED_ELSEWHERE == set()


# layers whose save/load round trip needs a framework in a subprocess, tested in their own file
ROUND_TRIPPED_ELSEWHERE = {
    "KerasLayer",  # tests/test_interop_keras.py (Keras, one process per backend)
    "StringLookup",  # strings stay on the host, outside models: tests/test_preprocessing_keras.py
}


def _round_trip(case: str, dtype: str, source: str, path: Path, rtol: float) -> None:
    with br.use_backend(source):
        model, x = _model(case, dtype)
        model(x[:1])
        _randomize(model)
        expected = model.predict(x)
        weights, config = _state_bytes(model), serialize(model)
        trainable = [w.name.rsplit("/", 1)[-1] for w in model.trainable_weights]
        penalties = np.array([float(loss.numpy()) for loss in model.losses])
        model.save(path)
    metadata, saved = _saved_config(path)
    assert (metadata["backend"], metadata["dtype"], metadata["format"]) == (source, dtype, "bridge.model")
    assert metadata["bridge_version"] == br.__version__
    assert metadata["format_version"].isdigit() and metadata["layout_version"].isdigit()
    assert saved == json.loads(json.dumps(config))
    for target in BACKENDS:
        with br.use_backend(target):
            loaded = nn.load_model(path)
            assert {w.backend for w in loaded.weights} == {target}
            assert json.dumps(serialize(loaded)) == json.dumps(config), f"{case}: config changed"
            assert _state_bytes(loaded) == weights, f"{case}: weights not bit-identical {source}->{target}"
            _assert_close(loaded.predict(x), expected, rtol, exact=target == source)
            assert [w.name.rsplit("/", 1)[-1] for w in loaded.trainable_weights] == trainable
            regularization = np.array([float(loss.numpy()) for loss in loaded.losses])
            _assert_close(regularization, penalties, rtol, exact=target == source)


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", BACKENDS)
@pytest.mark.parametrize("case", LAYER_CASES)
def test_every_layer_round_trips_across_backends(case, source, tmp_path):
    _round_trip(case, "float32", source, tmp_path / "model.bridge", RTOL32)


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", BACKENDS)
@pytest.mark.parametrize("case", ["Conv2D", "BatchNormalization", "LayerNormalization", "Embedding"])
def test_float64_models_round_trip_within_1e_12(case, source, tmp_path):
    _round_trip(case, "float64", source, tmp_path / "model.bridge", RTOL64)


def test_every_layers_config_round_trips_with_its_arguments(backend):
    """Non-default arguments survive config -> JSON -> layer -> config, for every layer."""
    from bridge.serialization import deserialize

    layers = [
        nn.Dense(3, activation="relu", use_bias=False, kernel_initializer="he_normal", bias_regularizer="l1"),
        nn.Dropout(0.25, seed=4),
        nn.Activation("softmax"),
        nn.Flatten(trainable=False),
        nn.Reshape((2, -1)),
        nn.Embedding(5, 3, embeddings_initializer="random_normal", embeddings_regularizer="l2"),
        nn.Conv2D(2, (3, 1), strides=(1, 2), padding="same", data_format="channels_first", dilation_rate=2),
        nn.MaxPool2D(3, 2, "same"),
        nn.AvgPool2D((2, 1), data_format="channels_first"),
        nn.GlobalAveragePooling2D("channels_first", keepdims=True),
        nn.BatchNormalization(
            axis=1, momentum=0.9, epsilon=1e-5, center=False, moving_variance_initializer="zeros"
        ),
        nn.LayerNormalization(axis=[1, 2], epsilon=1e-5, scale=False, dtype="float64"),
        nn.Sequential([nn.Input((4,)), nn.Dense(2)], name="inner"),
    ]
    for layer in layers:
        text = json.dumps(serialize(layer))
        again = deserialize(json.loads(text))
        assert type(again) is type(layer)
        assert json.dumps(serialize(again)) == text, type(layer).__name__


# --- 2. every built-in optimizer: continued training across backends --------------------------
OPTIMIZERS: dict[str, Callable[[], optim.Optimizer]] = {
    "sgd": lambda: optim.SGD(0.05),
    "sgd_nesterov": lambda: optim.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optim.Adam(0.01),
    "adam_amsgrad": lambda: optim.Adam(0.01, amsgrad=True),
    "adamw": lambda: optim.AdamW(0.01, weight_decay=0.1),
    "rmsprop_centered": lambda: optim.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optim.Adagrad(0.1),
    "exponential_decay": lambda: optim.SGD(schedules.ExponentialDecay(0.1, 3, 0.5)),
    "cosine_decay": lambda: optim.Adam(schedules.CosineDecay(0.01, 10, alpha=0.1)),
    "piecewise_constant": lambda: optim.SGD(schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.05, 0.01])),
    "learning_rate_set_by_hand": lambda: optim.RMSprop(0.01),
}
FIT = {"epochs": 2, "batch_size": 16, "seed": 5, "shuffle": True, "verbose": 0}


def _trainable_model(optimizer: optim.Optimizer, jit: Any = False) -> nn.Sequential:
    """A Dropout (random state), a BatchNormalization (non-trainable weights updated by training).
    Eager by default: tracing TensorFlow's step for each of the many tiny models here would cost
    most of this file's time (the custom-layer and subclass tests train with jit="auto")."""
    model = nn.Sequential(
        [nn.Dense(8, activation="relu"), nn.Dropout(0.3), nn.BatchNormalization(), nn.Dense(2)]
    )
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"], jit=jit)
    return model


def _slots(model: nn.Model) -> list[list[bytes]]:
    """Each trainable weight's slots, in order, through the public ``slot`` (independent of the
    names the file gives them)."""
    optimizer = model.optimizer
    assert optimizer is not None
    return [
        [optimizer.slot(v, name).numpy().tobytes() for name in optimizer.slot_names]
        for v in model.trainable_weights
    ]


def _trained_and_saved(name: str, source: str, path: Path) -> tuple[nn.Model, dict[str, Any]]:
    """A model trained two epochs on ``source`` and saved, and what it held when saved."""
    with br.use_backend(source):
        model = _trainable_model(OPTIMIZERS[name]())
        model.fit(TRAIN_X, TARGETS, **{**FIT, "seed": 1})
        if name == "learning_rate_set_by_hand":
            model.optimizer.learning_rate = 0.003
        model.save(path)
        optimizer = model.optimizer
        saved = {
            "weights": _state_bytes(model),
            "optimizer": _optimizer_bytes(model),
            "slots": _slots(model),
            "iterations": int(optimizer.iterations.numpy()),
            "learning_rate": optimizer.learning_rate,
            "config": optim.serialize(optimizer),
            "random": {k: g.get_state().tolist() for k, g in seed_generator_paths(model).items()},
        }
    return model, saved


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", BACKENDS)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_continues_training_across_backends(name, source, tmp_path):
    path = tmp_path / "model.bridge"
    model, saved = _trained_and_saved(name, source, path)
    assert saved["iterations"] == 4 and saved["random"], "two epochs of two steps, and a seed generator"
    with br.use_backend(source):
        reference = model.fit(TRAIN_X, TARGETS, **FIT).history
    for target in BACKENDS:
        with br.use_backend(target):
            loaded = nn.load_model(path)
            optimizer = loaded.optimizer
            assert type(optimizer) is type(model.optimizer) and optim.serialize(optimizer) == saved["config"]
            assert int(optimizer.iterations.numpy()) == saved["iterations"]
            assert _optimizer_bytes(loaded) == saved["optimizer"], "slots not restored bit-exactly"
            assert _slots(loaded) == saved["slots"]
            assert _state_bytes(loaded) == saved["weights"]
            random = {k: g.get_state().tolist() for k, g in seed_generator_paths(loaded).items()}
            assert random == saved["random"]
            if name == "learning_rate_set_by_hand":
                assert optimizer.learning_rate == 0.003
            if target == source:
                assert optimizer.learning_rate == saved["learning_rate"]
            else:
                assert optimizer.learning_rate == pytest.approx(saved["learning_rate"], rel=1e-6)
            history = loaded.fit(TRAIN_X, TARGETS, **FIT).history
        assert set(history) == set(reference) == {"loss", "mae"}
        for key in reference:
            if target == source:
                assert history[key] == reference[key], f"{name} {source}->{target} {key}"
            else:
                np.testing.assert_allclose(
                    history[key], reference[key], rtol=LOSS_RTOL, err_msg=f"{name} {key}"
                )


def test_random_state_and_optimizer_state_are_what_make_the_losses_match(backend, tmp_path):
    """Negative controls: the continued losses match only with both states restored; with the
    Dropout's generator one draw further, or a fresh optimizer, they differ."""
    path = tmp_path / "model.bridge"
    model, _ = _trained_and_saved("adam", backend, path)
    reference = model.fit(TRAIN_X, TARGETS, **FIT).history["loss"]
    assert nn.load_model(path).fit(TRAIN_X, TARGETS, **FIT).history["loss"] == reference

    moved = nn.load_model(path)
    (generator,) = seed_generator_paths(moved).values()
    generator.set_state(generator.get_state() + np.array([0, 0, 1]))
    assert moved.fit(TRAIN_X, TARGETS, **FIT).history["loss"] != reference

    fresh = nn.load_model(path, compile=False)
    fresh.compile(optimizer=optim.Adam(0.01), loss="mse", metrics=["mae"], jit=False)
    assert fresh.fit(TRAIN_X, TARGETS, **FIT).history["loss"] != reference


# --- 3. custom layers, losses and metrics -----------------------------------------------------
@nn.register_serializable(package="tests")
class MyLayer(nn.Layer):
    """A kernel and a non-trainable offset (random, so that restoring it matters)."""

    def __init__(self, units: int, scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.offset = self.add_weight("offset", (self.units,), "random_normal", trainable=False)

    def call(self, x: Any) -> Any:
        return x @ self.kernel * self.scale + self.offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "scale": self.scale}


@nn.register_serializable(package="tests")
def my_loss(y_true: Any, y_pred: Any) -> Any:
    return ops.mean(ops.abs(y_true - y_pred) * 0.5 + ops.square(y_true - y_pred), axis=-1)


@nn.register_serializable(package="tests")
def my_metric(y_true: Any, y_pred: Any) -> Any:
    return ops.max(ops.abs(y_true - y_pred), axis=-1)


class PlainLayer(MyLayer):
    """As MyLayer, not registered: found only through custom_objects."""


class PlainLoss(losses.Loss):
    def __init__(self, power: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.power = power

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return ops.mean(ops.abs(y_true - y_pred) ** self.power, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "power": self.power}


class PlainMetric(metrics.MeanMetricWrapper):
    def __init__(self, name: str | None = "plain_metric") -> None:
        super().__init__(lambda t, p: ops.max(ops.abs(t - p), axis=-1), name)


def _custom_model(layer: type, loss: Any, metric: Any, jit: Any = "auto") -> nn.Sequential:
    model = nn.Sequential([layer(4, scale=0.5), nn.Dropout(0.2), nn.Dense(2)])
    model.compile(optimizer=optim.Adam(0.01), loss=loss, metrics=[metric], jit=jit)
    return model


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", BACKENDS)
def test_registered_custom_layer_loss_and_metric_round_trip_across_backends(source, tmp_path):
    path = tmp_path / "custom.bridge"
    with br.use_backend(source):
        model = _custom_model(MyLayer, my_loss, my_metric)
        model.fit(TRAIN_X, TARGETS, **FIT)
        model.save(path)
        expected, weights = model.predict(TRAIN_X), _state_bytes(model)
        reference = model.fit(TRAIN_X, TARGETS, **FIT).history
    metadata, config = _saved_config(path)
    layer = config["config"]["layers"][0]
    assert (layer["class_name"], layer["registered_name"]) == ("MyLayer", "tests>MyLayer")
    compiled = json.loads(metadata["compile_config"])
    assert (compiled["loss"], compiled["metrics"]) == ("tests>my_loss", ["tests>my_metric"])
    assert set(reference) == {"loss", "my_metric"}
    for target in BACKENDS:
        with br.use_backend(target):
            loaded = nn.load_model(path)
            assert isinstance(loaded.layers[0], MyLayer) and loaded.layers[0].scale == 0.5
            assert _state_bytes(loaded) == weights and "my_layer/offset" in weights
            _assert_close(loaded.predict(TRAIN_X), expected, RTOL32, exact=target == source)
            history = loaded.fit(TRAIN_X, TARGETS, **FIT).history
        for key in reference:
            if target == source:
                assert history[key] == reference[key]
            else:
                np.testing.assert_allclose(history[key], reference[key], rtol=LOSS_RTOL)


def test_custom_classes_load_through_custom_objects(backend, tmp_path):
    path = tmp_path / "plain.bridge"
    model = _custom_model(PlainLayer, PlainLoss(power=1.5), PlainMetric(), jit=False)
    model.fit(TRAIN_X, TARGETS, **FIT)
    model.save(path)
    expected, weights = model.predict(TRAIN_X), _state_bytes(model)
    reference = model.fit(TRAIN_X, TARGETS, **FIT).history
    _, config = _saved_config(path)
    assert "registered_name" not in config["config"]["layers"][0]

    with pytest.raises(br.FileFormatError, match="PlainLayer") as error:
        nn.load_model(path)
    assert str(path) in str(error.value) and isinstance(error.value, ValueError)

    custom = {"PlainLayer": PlainLayer, "PlainLoss": PlainLoss, "PlainMetric": PlainMetric}
    loaded = nn.load_model(path, custom_objects=custom)
    assert isinstance(loaded.layers[0], PlainLayer) and loaded.loss.power == 1.5
    assert _state_bytes(loaded) == weights
    np.testing.assert_array_equal(loaded.predict(TRAIN_X), expected)
    assert loaded.fit(TRAIN_X, TARGETS, **FIT).history == reference


def test_a_metric_function_given_by_name_is_named_by_the_function(backend):
    """``metrics=["tests>my_metric"]`` (as a loaded compile config gives it): the function,
    averaged under its own name; the value against NumPy's over the predictions."""
    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["tests>my_metric"], jit=False)
    logs = model.evaluate(TRAIN_X, TARGETS, batch_size=32, return_dict=True)
    assert set(logs) == {"loss", "my_metric"}
    predictions = model.predict(TRAIN_X).astype(np.float64)
    expected = np.abs(TARGETS - predictions).max(axis=-1).mean()
    assert logs["my_metric"] == pytest.approx(expected, rel=1e-6)


def test_a_registered_name_missing_at_load_is_named_and_custom_objects_stand_in(
    backend, tmp_path, monkeypatch
):
    """A file that names ``tests>MyLayer`` read where it is not registered (another process):
    a FileFormatError naming it and the file; ``custom_objects={"MyLayer": ...}`` finds it."""
    path = tmp_path / "model.bridge"
    model = nn.Sequential([MyLayer(3), nn.Dense(2)])
    model(FEATURES)
    model.save(path)
    monkeypatch.delitem(_registry._REGISTERED, "tests>MyLayer")
    with pytest.raises(br.FileFormatError, match="tests>MyLayer") as error:
        nn.load_model(path)
    assert str(path) in str(error.value)
    loaded = nn.load_model(path, custom_objects={"MyLayer": MyLayer})
    np.testing.assert_array_equal(loaded.predict(FEATURES), model.predict(FEATURES))


def test_an_unknown_layer_class_in_a_file_is_named(backend, tmp_path):
    path = tmp_path / "model.bridge"
    model = nn.Sequential([nn.Dense(2)])
    model(FEATURES)
    model.save(path)
    metadata, tensors = files.read(path)
    config = metadata["config"].replace('"class_name": "Dense"', '"class_name": "NoSuchLayer"')
    assert config != metadata["config"]
    files.write_atomically(path, files.encode(tensors, {**metadata, "config": config}))
    with pytest.raises(br.FileFormatError, match="NoSuchLayer") as error:
        nn.load_model(path)
    assert str(path) in str(error.value)


def test_a_config_naming_a_module_imports_nothing(backend, tmp_path):
    """A file whose config names a class by module (``antigravity.Fly``, Keras' ``module`` key,
    ``antigravity>Fly``) is an unknown class: nothing is imported."""
    import sys

    path = tmp_path / "model.bridge"
    model = nn.Sequential([nn.Dense(2)])
    model(FEATURES)
    model.save(path)
    metadata, tensors = files.read(path)
    for name in ("antigravity.Fly", "antigravity>Fly"):
        config = json.loads(metadata["config"])
        config["config"]["layers"][0].update(class_name=name, module="antigravity", registered_name=name)
        files.write_atomically(path, files.encode(tensors, {**metadata, "config": json.dumps(config)}))
        with pytest.raises(br.FileFormatError, match=name):
            nn.load_model(path)
        assert "antigravity" not in sys.modules


# --- 4. load_weights ---------------------------------------------------------------------------
def _dense_model(*units: int, dtype: str = "float32") -> nn.Sequential:
    model = nn.Sequential([nn.Dense(n, dtype=dtype) for n in units], dtype=dtype)
    model(FEATURES[:1])
    return model


@pytest.mark.parametrize(
    ("units", "dtype", "named"),
    [
        ((4, 2, 1), "float32", ["missing from the file", "dense_2/kernel", "dense_2/bias"]),
        ((4,), "float32", ["in the file that the model lacks", "dense_1/kernel", "dense_1/bias"]),
        (
            (3, 2),
            "float32",
            [
                "do not fit",
                "dense/kernel (shape (6, 4) float32 in the file, shape (6, 3) float32 in the model)",
                "dense/bias",
                "dense_1/kernel",
            ],
        ),
        ((4, 2), "float64", ["do not fit", "dense/kernel (shape (6, 4) float32 in the file", "float64"]),
    ],
    ids=["missing", "unexpected", "wrong_shape", "wrong_dtype"],
)
def test_load_weights_mismatch_names_each_and_assigns_nothing(backend, tmp_path, units, dtype, named):
    path = tmp_path / "weights.safetensors"
    _dense_model(4, 2).save_weights(path)
    model = _dense_model(*units, dtype=dtype)
    before = _state_bytes(model)
    with pytest.raises(br.WeightsMismatchError) as error:
        model.load_weights(path)
    message = str(error.value)
    assert isinstance(error.value, ValueError) and isinstance(error.value, br.BridgeError)
    assert str(path) in message and "Nothing was assigned" in message
    for text in named:
        assert text in message
    assert _state_bytes(model) == before


def test_load_weights_skip_mismatch_loads_those_that_fit_and_warns(backend, tmp_path):
    path = tmp_path / "weights.safetensors"
    source = _dense_model(4, 2)
    _randomize(source)
    source.save_weights(path)
    model = _dense_model(4, 3, 1)  # dense fits; dense_1 has another shape; dense_2 is missing
    before = _state_bytes(model)
    with pytest.warns(UserWarning, match="dense_1/kernel") as caught:
        model.load_weights(path, skip_mismatch=True)
    assert "dense_2/kernel" in str(caught[0].message)
    after, saved = _state_bytes(model), _state_bytes(source)
    assert after["dense/kernel"] == saved["dense/kernel"] and after["dense/bias"] == saved["dense/bias"]
    for name in ("dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias"):
        assert after[name] == before[name]


def test_load_weights_reads_a_model_file_and_matches_by_structure_not_names(backend, tmp_path):
    first = _dense_model(4, 2)
    _randomize(first)
    first.save(tmp_path / "model.bridge")
    first.save_weights(tmp_path / "weights.safetensors")
    for file in ("model.bridge", "weights.safetensors"):
        second = _dense_model(4, 2)  # built later in the process: its layers are dense_2, dense_3, ...
        assert [layer.name for layer in second.layers] != [layer.name for layer in first.layers]
        second.load_weights(tmp_path / file)
        assert _state_bytes(second) == _state_bytes(first)
        np.testing.assert_array_equal(second.predict(FEATURES), first.predict(FEATURES))


@pytest.mark.needs("torch", "tensorflow")
def test_load_weights_across_backends_is_bit_identical(tmp_path):
    with br.use_backend("torch"):
        source = _dense_model(4, 2)
        _randomize(source)
        source.save_weights(tmp_path / "weights.safetensors")
    with br.use_backend("tensorflow"):
        target = _dense_model(4, 2)
        target.load_weights(tmp_path / "weights.safetensors")
        assert {w.backend for w in target.weights} == {"tensorflow"}
    assert _state_bytes(target) == _state_bytes(source)


# --- 5. compile=False, what cannot be saved -----------------------------------------------------
def test_load_model_without_compiling(backend, tmp_path):
    path = tmp_path / "model.bridge"
    model = _trainable_model(optim.Adam(0.01))
    model.fit(TRAIN_X, TARGETS, **FIT)
    model.save(path)
    loaded = nn.load_model(path, compile=False)
    assert not loaded.compiled and loaded.optimizer is None
    assert _state_bytes(loaded) == _state_bytes(model)
    np.testing.assert_array_equal(loaded.predict(TRAIN_X), model.predict(TRAIN_X))
    with pytest.raises(nn.NotCompiledError):
        loaded.fit(TRAIN_X, TARGETS, **FIT)
    uncompiled = nn.Sequential([nn.Dense(2)])
    uncompiled(FEATURES)
    uncompiled.save(path)
    assert "compile_config" not in files.read(path)[0]
    assert not nn.load_model(path).compiled


def test_a_lambda_loss_cannot_be_saved_and_the_error_says_where(backend, tmp_path):
    path = tmp_path / "model.bridge"
    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer="adam", loss=lambda t, p: ops.mean(ops.square(t - p)))
    model.fit(TRAIN_X, TARGETS, **FIT)
    with pytest.raises(
        br.SerializationError, match=r"compile config holds <function .*<lambda>.* at loss"
    ) as error:
        model.save(path)
    assert isinstance(error.value, TypeError) and "register_serializable" in str(error.value)
    assert not path.exists()


def test_an_unbuilt_model_cannot_be_saved_nor_take_weights(backend, tmp_path):
    weights = tmp_path / "weights.safetensors"
    _dense_model(2).save_weights(weights)
    model = nn.Sequential([nn.Dense(2)])
    for action, path in ((model.save, "model.bridge"), (model.save_weights, "w.safetensors")):
        with pytest.raises(nn.NotBuiltError, match=r"^save.*not built") as error:
            action(tmp_path / path)
        assert isinstance(error.value, br.BridgeError)
    with pytest.raises(nn.NotBuiltError, match=r"^load_weights.*not built"):
        model.load_weights(weights)
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]


# --- 6. subclassed models, Input, Embedding first ---------------------------------------------
@nn.register_serializable(package="tests")
class TwoTowers(nn.Model):
    def __init__(self, hidden: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden = hidden
        self.left = nn.Dense(hidden, activation="relu")
        self.right = nn.Dense(hidden, activation="tanh")
        self.dropout = nn.Dropout(0.25)
        self.head = nn.Dense(2)

    def call(self, x: Any, training: bool = False) -> Any:
        return self.head(self.dropout(self.left(x) * self.right(x), training=training))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": self.hidden}


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", BACKENDS)
def test_a_registered_model_subclass_round_trips(source, tmp_path):
    path = tmp_path / "towers.bridge"
    with br.use_backend(source):
        model = TwoTowers(hidden=5)
        model.compile(optimizer=optim.SGD(0.05, momentum=0.9), loss="mse")
        model.fit(TRAIN_X, TARGETS, **FIT)
        model.save(path)
        expected, weights = model.predict(TRAIN_X), _state_bytes(model)
        reference = model.fit(TRAIN_X, TARGETS, **FIT).history["loss"]
    # paths by class among siblings (left, right, head: dense, dense_1, dense_2), not attributes
    assert set(weights) == {f"dense{n}/{w}" for n in ("", "_1", "_2") for w in ("kernel", "bias")}
    for target in BACKENDS:
        with br.use_backend(target):
            loaded = nn.load_model(path)
            assert isinstance(loaded, TwoTowers) and loaded.hidden == 5
            assert _state_bytes(loaded) == weights
            _assert_close(loaded.predict(TRAIN_X), expected, RTOL32, exact=target == source)
            losses_there = loaded.fit(TRAIN_X, TARGETS, **FIT).history["loss"]
        if target == source:
            assert losses_there == reference
        else:
            np.testing.assert_allclose(losses_there, reference, rtol=LOSS_RTOL)


@pytest.mark.parametrize("with_input", [True, False], ids=["with_input", "without_input"])
def test_sequential_with_and_without_input(backend, tmp_path, with_input):
    path = tmp_path / "model.bridge"
    layers: list[Any] = [nn.Dense(3, activation="relu"), nn.Dense(2)]
    model = nn.Sequential([nn.Input((6,)), *layers] if with_input else layers)
    if not with_input:
        model(FEATURES[:2])
    _randomize(model)
    model.save(path)
    _, config = _saved_config(path)
    kinds = [layer["class_name"] for layer in config["config"]["layers"]]
    assert kinds == (["InputLayer"] if with_input else []) + ["Dense", "Dense"]
    loaded = nn.load_model(path)
    assert loaded.built and _state_bytes(loaded) == _state_bytes(model)
    np.testing.assert_array_equal(loaded.predict(FEATURES), model.predict(FEATURES))


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize(("how", "source"), [("data", "torch"), ("build", "tensorflow"), ("input", "torch")])
def test_an_embedding_first_model_rebuilds_from_its_build_config(how, source, tmp_path):
    """Integer inputs: built on int64 ids (from data), by ``build((None, 5))`` (int32 ids), or
    by an int32 ``nn.Input``; loaded on the other backend."""
    path = tmp_path / "model.bridge"
    layers: list[Any] = [nn.Embedding(10, 3), nn.Flatten(), nn.Dense(2)]
    with br.use_backend(source):
        model = nn.Sequential([nn.Input((5,), dtype="int32"), *layers] if how == "input" else layers)
        if how == "data":
            model(IDS)
        elif how == "build":
            model.build((None, 5))
        model.save(path)
        expected = model.predict(IDS)
    build = json.loads(files.read(path)[0]["build_config"])
    assert build == {"input_shape": [None, 5], "input_dtype": "int64" if how == "data" else "int32"}
    target = "tensorflow" if source == "torch" else "torch"
    with br.use_backend(target):
        loaded = nn.load_model(path)
        assert loaded.built and _state_bytes(loaded) == _state_bytes(model)
        _assert_close(loaded.predict(IDS), expected, RTOL32, exact=False)


# --- functions of your own, saved by name as Keras saves them ------------------------------------
def absolute_error(y_true: Any, y_pred: Any) -> Any:
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def mse(y_true: Any, y_pred: Any) -> Any:  # a function of the user's that shares a built-in's name
    return ops.mean(ops.abs(y_true - y_pred), axis=-1) * 100.0


def test_unregistered_functions_are_saved_by_name_and_found_through_custom_objects(backend, tmp_path):
    path = tmp_path / "model.bridge"
    model = nn.Sequential([nn.Input((6,)), nn.Dense(2)])
    model.compile(optimizer="sgd", loss=absolute_error, metrics=[mse])
    model.fit(TRAIN_X, TARGETS, **FIT)
    model.save(path)
    compiled = json.loads(_saved_config(path)[0]["compile_config"])
    assert compiled["loss"] == {"class_name": "function", "config": "absolute_error"}
    assert compiled["metrics"] == [{"class_name": "function", "config": "mse"}]
    with pytest.raises(br.FileFormatError, match="unknown loss function 'absolute_error'") as error:
        nn.load_model(path)
    assert str(path) in str(error.value) and "custom_objects" in str(error.value)
    loaded = nn.load_model(path, custom_objects={"absolute_error": absolute_error, "mse": mse})
    assert loaded.loss.fn is absolute_error and loaded.compiled_metrics[0].fn is mse  # not the built-in
    expected = np.mean(np.abs(TARGETS - model.predict(TRAIN_X)), axis=-1)
    logs = loaded.evaluate(TRAIN_X, TARGETS, return_dict=True)
    np.testing.assert_allclose(
        [logs["loss"], logs["mse"]], [expected.mean(), 100 * expected.mean()], rtol=1e-5
    )


# --- a crafted config cannot make loading allocate more than the file holds ----------------------
@pytest.mark.parametrize("field", ["units", "input"])
def test_a_config_asking_for_more_than_the_file_holds_is_refused_before_allocating(backend, tmp_path, field):
    path, crafted = tmp_path / "model.bridge", tmp_path / "crafted.bridge"
    nn.Sequential([nn.Input((3,)), nn.Dense(2)]).save(path)
    metadata, tensors = files.read(path)
    config = json.loads(metadata["config"])
    if field == "units":
        config["config"]["layers"][1]["config"]["units"] = 10**12  # 12 TB of float32
    else:
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 10**12]
    rest = {key: value for key, value in metadata.items() if key != "checksum"}
    crafted.write_bytes(files.encode(tensors, {**rest, "config": json.dumps(config)}))
    with pytest.raises(br.FileFormatError, match="more than") as error:
        nn.load_model(crafted)
    assert str(crafted) in str(error.value)
    assert nn.load_model(path).count_params() == 8  # the file as saved still loads


# --- a layer of your own without get_config: its constructor's arguments, as Keras records them ----
class Scaled(nn.Layer):
    def __init__(self, factor: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape: Any) -> None:
        self.w = self.add_weight("w", (input_shape[-1],), "ones")

    def call(self, x: Any) -> Any:
        return x * self.w * self.factor


class Head(nn.Model):
    def __init__(self, units: int, hidden: int = 8) -> None:  # no **kwargs: no name to restore
        super().__init__()
        self.hidden, self.out = nn.Dense(hidden, activation="relu"), nn.Dense(units)

    def call(self, x: Any) -> Any:
        return self.out(self.hidden(x))


def test_layers_without_get_config_keep_their_constructor_arguments(backend, tmp_path):
    """Keras 3 records a layer's constructor arguments for a subclass without get_config; without
    that, Scaled(5.0) would load as Scaled(2.0) and predict otherwise, silently."""
    path = tmp_path / "model.bridge"
    model = nn.Sequential([nn.Input((6,)), Scaled(5.0, name="scaled"), nn.Dense(2)])
    assert model.layers[0].get_config() == {
        "name": "scaled",
        "trainable": True,
        "dtype": "float32",
        "factor": 5.0,
    }
    model.save(path)
    loaded = nn.load_model(path, custom_objects={"Scaled": Scaled})
    assert loaded.layers[0].factor == 5.0
    np.testing.assert_array_equal(loaded.predict(FEATURES), model.predict(FEATURES))
    head = Head(3, hidden=5)
    head(FEATURES)
    assert head.get_config() == {"units": 3, "hidden": 5}  # what its __init__ takes, only
    head.save(path)
    again = nn.load_model(path, custom_objects={"Head": Head})
    assert again.hidden.units == 5
    np.testing.assert_array_equal(again.predict(FEATURES), head.predict(FEATURES))


def test_a_layer_whose_arguments_cannot_be_named_needs_get_config(backend, tmp_path):
    class Stack(nn.Layer):
        def __init__(self, *sizes: int) -> None:
            super().__init__()
            self.parts = [nn.Dense(n) for n in sizes]

        def call(self, x: Any) -> Any:
            for part in self.parts:
                x = part(x)
            return x

    model = nn.Sequential([nn.Input((6,)), Stack(4, 2)])
    with pytest.raises(br.SerializationError, match=r"Stack: .*\*args.*define get_config"):
        model.save(tmp_path / "model.bridge")
    assert not (tmp_path / "model.bridge").exists()


# --- found in review: states that must be checked, models that must load -------------------------
def test_a_bad_seed_generator_state_is_refused_before_anything_is_assigned(backend, tmp_path):
    path = tmp_path / "model.bridge"
    model = _trainable_model(optim.Adam(0.01))
    model.fit(TRAIN_X, TARGETS, **FIT)
    model.save(path)
    metadata, tensors = files.read(path)
    rest = {key: value for key, value in metadata.items() if key != "checksum"}
    loaded = nn.load_model(path)
    before = _state_bytes(loaded)
    for bad in (
        np.arange(4, dtype=np.int64),
        np.array([1.5, 2.5, 3.5]),
        np.array([1, 2, -5], dtype=np.int64),
    ):
        crafted = tmp_path / "crafted.bridge"
        crafted.write_bytes(files.encode({**tensors, "random/dropout/seed_generator": bad}, rest))
        with pytest.raises(br.WeightsMismatchError, match="seed generator states") as error:
            nn.load_model(crafted)
        assert str(crafted) in str(error.value)
        tensors_now = files.read(crafted)[1]
        with pytest.raises(br.WeightsMismatchError):
            saving_restore(loaded, crafted, tensors_now)
        assert _state_bytes(loaded) == before  # nothing assigned


def saving_restore(model: nn.Model, path: Path, tensors: dict[str, np.ndarray]) -> None:
    from bridge.saving.model_file import restore_state

    restore_state(model, path, tensors)


def test_a_model_frozen_after_training_saves_a_file_that_loads(backend, tmp_path):
    """Its optimizer holds slots for weights frozen since (not recompiled): they load back, as
    they were, and training goes on as it would have."""
    path = tmp_path / "model.bridge"
    model = _trainable_model(optim.Adam(0.01))
    model.fit(TRAIN_X, TARGETS, **FIT)
    model.layers[0].trainable = False
    model.save(path)
    loaded = nn.load_model(path)
    assert _optimizer_bytes(loaded) == _optimizer_bytes(model)
    assert loaded.fit(TRAIN_X, TARGETS, **FIT).history == model.fit(TRAIN_X, TARGETS, **FIT).history


def test_a_deeply_nested_config_is_a_file_format_error(backend, tmp_path):
    path = tmp_path / "model.bridge"
    nn.Sequential([nn.Input((6,)), nn.Dense(2)]).save(path)
    metadata, tensors = files.read(path)
    depth = 300  # parses as JSON (Python's parser gives up at about 600 levels), overflows in building
    config = '{"class_name": "Sequential", "config": {"layers": [' * depth
    config += '{"class_name": "Dense", "config": {"units": 2}}' + "]}}" * depth
    rest = {key: value for key, value in metadata.items() if key not in ("checksum", "build_config")}
    crafted = tmp_path / "deep.bridge"
    crafted.write_bytes(files.encode(tensors, {**rest, "config": config}))
    with pytest.raises(br.FileFormatError) as error:
        nn.load_model(crafted)
    assert str(crafted) in str(error.value)


class TwoInputs(nn.Model):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.left, self.right = nn.Dense(2), nn.Dense(2)

    def call(self, inputs: Any) -> Any:
        pair = inputs["pair"] if isinstance(inputs, dict) else inputs
        return self.left(pair[0]) + self.right(pair[1])


def test_a_subclassed_model_of_several_inputs_is_rebuilt_from_their_structure(backend, tmp_path):
    path = tmp_path / "model.bridge"
    model = TwoInputs()
    ids = np.arange(FEATURES.shape[0] * 2).reshape(-1, 2) % 3
    inputs = {"pair": (FEATURES, FEATURES), "ids": ids}
    model(inputs)
    model.save(path)
    metadata, _ = _saved_config(path)
    assert json.loads(metadata["build_config"]) == {
        "input_spec": {
            "pair": [{"shape": [None, FEATURES.shape[1]], "dtype": "float32"}] * 2,
            "ids": {"shape": [None, 2], "dtype": "int64"},
        }
    }
    loaded = nn.load_model(path, custom_objects={"TwoInputs": TwoInputs})
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())


def test_a_file_without_its_build_config_says_the_model_cannot_be_rebuilt(backend, tmp_path):
    model = TwoInputs()
    model((FEATURES, FEATURES))
    model.save(tmp_path / "model.bridge")
    metadata, tensors = files.read(tmp_path / "model.bridge")
    rest = {key: value for key, value in metadata.items() if key not in ("checksum", "build_config")}
    path = tmp_path / "crafted.bridge"
    path.write_bytes(files.encode(tensors, rest))
    with pytest.raises(br.FileFormatError, match="cannot be built again.*load_weights") as error:
        nn.load_model(path, custom_objects={"TwoInputs": TwoInputs})
    assert str(path) in str(error.value)
