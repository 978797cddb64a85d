"""Merge layers (Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot), shape
layers (Permute, RepeatVector, Cropping/ZeroPadding/UpSampling 1D and 2D), TimeDistributed and
Lambda: against NumPy float64 references (outputs and gradients), Keras 3's own layers (one
Keras program per Keras backend, masks included), torch's own modules, across backends through
saved files, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bridge as br
from bridge import nn
from bridge.testing import assert_layer_parity

from .keras_reference import keras_json

F64 = {"dtype": "float64"}
RNG = np.random.default_rng(12)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


@br.nn.register_serializable("tests")
class Pieces(nn.Layer):
    """Feeds ``merge`` the ``parts`` equal pieces of its input's last axis (one-input harness)."""

    def __init__(self, merge, parts=2, **kwargs):
        super().__init__(**kwargs)
        self.merge = nn.deserialize(merge) if isinstance(merge, dict) else merge
        self.parts = parts

    def call(self, x):
        return self.merge(br.ops.split(x, self.parts, axis=-1))

    def get_config(self):
        return {**super().get_config(), "merge": nn.serialize(self.merge), "parts": self.parts}


@br.nn.register_serializable("tests")
def cube_plus(x, shift=0.0):
    """A named function for Lambda: saved by its registered name."""
    return x * x * x + shift


def _pieces(x: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.split(x, parts, axis=-1)


def _bilinear_loop(x: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Half-pixel bilinear upsampling of (batch, h, w, c), one output pixel at a time."""
    n, h, w, c = x.shape
    out = np.zeros((n, h * factors[0], w * factors[1], c))
    for i in range(h * factors[0]):
        for j in range(w * factors[1]):
            si = min(max((i + 0.5) / factors[0] - 0.5, 0.0), h - 1)
            sj = min(max((j + 0.5) / factors[1] - 0.5, 0.0), w - 1)
            i0, j0 = int(np.floor(si)), int(np.floor(sj))
            i1, j1 = min(i0 + 1, h - 1), min(j0 + 1, w - 1)
            a, b = si - i0, sj - j0
            out[:, i, j] = (
                (1 - a) * (1 - b) * x[:, i0, j0]
                + (1 - a) * b * x[:, i0, j1]
                + a * (1 - b) * x[:, i1, j0]
                + a * b * x[:, i1, j1]
            )
    return out


def _cosine_dot(x, w, t):
    a, b = _pieces(x, 2)
    return (np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1))[:, None]


CASES = {
    "add": (lambda: Pieces(nn.Add(**F64), 3, **F64), _x(2, 3, 6), lambda x, w, t: sum(_pieces(x, 3))),
    "subtract_broadcast": (
        # (2, 3, 2) - (2, 1, 2): the second piece's axis 1 stretches
        lambda: nn.Sequential([nn.Lambda(lambda x: [x[..., :2], x[:, :1, 2:]], **F64), nn.Subtract(**F64)]),
        _x(2, 3, 4),
        lambda x, w, t: x[..., :2] - x[:, :1, 2:],
    ),
    "average_ranks": (
        # (2, 3, 2) and (2, 2): the lower rank gets an axis after the batch axis (as Keras)
        lambda: nn.Sequential([nn.Lambda(lambda x: [x[..., :2], x[:, 0, 2:]], **F64), nn.Average(**F64)]),
        _x(2, 3, 4),
        lambda x, w, t: (x[..., :2] + x[:, None, 0, 2:]) / 2,
    ),
    "multiply": (
        lambda: Pieces(nn.Multiply(**F64), 2, **F64),
        _x(2, 3, 4),
        lambda x, w, t: np.prod(_pieces(x, 2), 0),
    ),
    "maximum": (
        lambda: Pieces(nn.Maximum(**F64), 3, **F64),
        _x(3, 6),
        lambda x, w, t: np.max(_pieces(x, 3), 0),
    ),
    "minimum": (
        lambda: Pieces(nn.Minimum(**F64), 2, **F64),
        _x(3, 4),
        lambda x, w, t: np.min(_pieces(x, 2), 0),
    ),
    "concatenate_axis1": (
        lambda: nn.Sequential(
            [nn.Lambda(lambda x: [x[:, 2:], x[:, :2]], **F64), nn.Concatenate(axis=1, **F64)]
        ),
        _x(2, 5, 3),
        lambda x, w, t: np.concatenate([x[:, 2:], x[:, :2]], axis=1),
    ),
    "dot_axes_1_2": (
        lambda: nn.Sequential(
            [nn.Lambda(lambda x: [x[..., :5], x[..., 5:]], **F64), nn.Dot(axes=(1, 2), **F64)]
        ),
        _x(2, 3, 8),
        lambda x, w, t: np.einsum("nki,njk->nij", x[..., :5], x[..., 5:]),
    ),
    "dot_normalize": (
        lambda: Pieces(nn.Dot(axes=-1, normalize=True, **F64), 2, **F64),
        _x(3, 6),
        _cosine_dot,
    ),
    "permute": (
        lambda: nn.Permute((3, 1, 2), **F64),
        _x(2, 2, 3, 4),
        lambda x, w, t: x.transpose(0, 3, 1, 2),
    ),
    "repeat_vector": (lambda: nn.RepeatVector(3, **F64), _x(2, 4), lambda x, w, t: np.stack([x] * 3, axis=1)),
    "cropping1d": (lambda: nn.Cropping1D((1, 2), **F64), _x(2, 6, 3), lambda x, w, t: x[:, 1:4]),
    "cropping2d_channels_first": (
        lambda: nn.Cropping2D(((1, 0), (2, 1)), data_format="channels_first", **F64),
        _x(1, 2, 4, 5),
        lambda x, w, t: x[:, :, 1:, 2:4],
    ),
    "zero_padding1d": (
        lambda: nn.ZeroPadding1D((2, 1), **F64),
        _x(2, 3, 2),
        lambda x, w, t: np.pad(x, ((0, 0), (2, 1), (0, 0))),
    ),
    "zero_padding2d": (
        lambda: nn.ZeroPadding2D(((1, 2), (0, 1)), **F64),
        _x(1, 2, 3, 2),
        lambda x, w, t: np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0))),
    ),
    "up_sampling1d": (
        lambda: nn.UpSampling1D(3, **F64),
        _x(2, 3, 2),
        lambda x, w, t: np.repeat(x, 3, axis=1),
    ),
    "up_sampling2d_nearest": (
        lambda: nn.UpSampling2D((2, 3), **F64),
        _x(1, 2, 3, 2),
        lambda x, w, t: np.repeat(np.repeat(x, 2, axis=1), 3, axis=2),
    ),
    "up_sampling2d_bilinear_channels_first": (
        lambda: nn.UpSampling2D((3, 2), data_format="channels_first", interpolation="bilinear", **F64),
        _x(1, 2, 3, 4),
        lambda x, w, t: _bilinear_loop(x.transpose(0, 2, 3, 1), (3, 2)).transpose(0, 3, 1, 2),
    ),
    "time_distributed_dense": (
        lambda: nn.TimeDistributed(nn.Dense(3, activation="tanh", **F64), **F64),
        _x(2, 4, 5),
        lambda x, w, t: np.tanh(x @ w[0] + w[1]),
    ),
    "lambda_with_arguments": (
        lambda: nn.Lambda(cube_plus, arguments={"shift": 0.5}, **F64),
        _x(2, 3),
        lambda x, w, t: x**3 + 0.5,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_parity(name):
    make, x, reference = CASES[name]
    assert_layer_parity(make, x, reference=reference, rtol=1e-6, atol=1e-7)


# --- Keras 3's own layers, masks included (one program per Keras backend) -------------------------
M1 = np.array([[1, 0, 1, 1], [0, 0, 1, 0]], bool)
M2 = np.array([[0, 0, 1, 1], [1, 0, 0, 0]], bool)
SEQ = [_x(2, 4, 3).astype(np.float32) for _ in range(3)]
IMG = _x(2, 3, 4, 2).astype(np.float32)
DENSE = [_x(3, 2).astype(np.float32), _x(2).astype(np.float32)]

#: (layer, kwargs, inputs, masks: one per input or None); a list of inputs goes in as a list
KERAS_CASES = [
    ("Add", {}, SEQ, None),
    ("Add", {}, SEQ[:2], [M1, M2]),
    ("Subtract", {}, [SEQ[0], SEQ[1][:, :1]], None),
    ("Subtract", {}, SEQ[:2], [M1, None]),
    ("Average", {}, [SEQ[0], SEQ[1][:, 0]], None),
    ("Multiply", {}, SEQ, None),
    ("Multiply", {}, SEQ[:2], [M1, M2]),
    ("Multiply", {}, SEQ[:2], [None, M2]),
    ("Maximum", {}, SEQ, [M1, M2, M1 | M2]),
    ("Maximum", {}, SEQ[:2], [None, M2]),
    ("Minimum", {}, SEQ[:2], [M1, M2]),
    ("Minimum", {}, SEQ[:2], [M1, None]),
    ("Concatenate", {}, SEQ[:2], [M1, None]),
    ("Concatenate", {"axis": 1}, SEQ[:2], [M1, M2]),
    ("Concatenate", {"axis": -2}, [SEQ[0], SEQ[1][:, :2]], None),
    ("Concatenate", {"axis": 0}, [SEQ[0], SEQ[1][:1]], [M1, M2[:1]]),
    ("Dot", {"axes": 2}, [SEQ[0], SEQ[1]], [M1, M2]),
    ("Dot", {"axes": [1, 1], "normalize": True}, [SEQ[0], SEQ[1]], None),
    ("Dot", {"axes": -1, "normalize": True}, [SEQ[0][:, 0], SEQ[1][:, 0]], None),
    ("Permute", {"dims": [2, 1]}, SEQ[0], None),
    ("RepeatVector", {"n": 2}, SEQ[0][:, 0], None),
    ("Cropping1D", {"cropping": [0, 2]}, SEQ[0], None),
    ("Cropping2D", {"cropping": [[1, 0], [1, 2]]}, IMG, None),
    ("Cropping2D", {"cropping": [[1, 1], [0, 1]], "data_format": "channels_first"}, IMG, None),
    ("ZeroPadding1D", {"padding": [1, 2]}, SEQ[0], None),
    ("ZeroPadding1D", {"padding": 1, "data_format": "channels_first"}, SEQ[0], None),
    ("ZeroPadding2D", {"padding": [[0, 1], [2, 1]]}, IMG, None),
    ("ZeroPadding2D", {"padding": [1, 2], "data_format": "channels_first"}, IMG, None),
    ("UpSampling1D", {"size": 3}, SEQ[0], None),
    ("UpSampling2D", {"size": [2, 3]}, IMG, None),
    ("UpSampling2D", {"size": 3, "interpolation": "bilinear"}, IMG, None),
    (
        "UpSampling2D",
        {"size": [2, 3], "data_format": "channels_first", "interpolation": "bilinear"},
        IMG,
        None,
    ),
    ("TimeDistributed", {"units": 2}, SEQ[0], [M1]),
]

_KERAS_PROGRAM = r"""
import json, sys
import numpy as np
import keras
from keras.src import backend

results = []
for name, kwargs, inputs, masks, weights, many in json.load(sys.stdin):
    if name == "TimeDistributed":
        layer = keras.layers.TimeDistributed(keras.layers.Dense(**kwargs))
    else:
        layer = getattr(keras.layers, name)(**kwargs)
    xs = [keras.ops.convert_to_tensor(np.asarray(a, np.float32)) for a in (inputs if many else [inputs])]
    for x, m in zip(xs, masks or []):
        if m is not None:
            backend.set_keras_mask(x, keras.ops.convert_to_tensor(np.asarray(m, bool)))
    argument = xs if many else xs[0]
    if weights:
        layer(argument)
        layer.set_weights([np.asarray(w, np.float32) for w in weights])
    y = layer(argument)
    mask = backend.get_keras_mask(y)
    results.append({
        "y": keras.ops.convert_to_numpy(y).tolist(),
        "mask": None if mask is None else keras.ops.convert_to_numpy(mask).tolist(),
    })
print(json.dumps(results))
"""

MERGES = {"Add", "Subtract", "Average", "Multiply", "Maximum", "Minimum", "Concatenate", "Dot"}


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def keras_outcomes():
    payload = [
        [
            name,
            kwargs,
            _plain(inputs),
            _plain(masks),
            _plain(DENSE) if name == "TimeDistributed" else None,
            name in MERGES,
        ]
        for name, kwargs, inputs, masks in KERAS_CASES
    ]
    return keras_json(_KERAS_PROGRAM, "tensorflow", stdin=json.dumps(payload))


def _ours(name, kwargs, inputs, masks):
    """Our layer's output and output mask, masks given as Keras' are attached to the inputs."""
    if name == "TimeDistributed":
        layer = nn.TimeDistributed(nn.Dense(**kwargs))
        layer(inputs)
        layer.set_weights(DENSE)
    else:
        layer = getattr(nn, name)(**kwargs)
    tensors = [br.tensor(x) for x in (inputs if name in MERGES else [inputs])]
    for x, m in zip(tensors, masks or []):
        if m is not None:
            x._keras_mask = br.tensor(m)
    y = layer(tensors if name in MERGES else tensors[0])
    mask = getattr(y, "_keras_mask", None)
    return y.numpy(), None if mask is None else mask.numpy()


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_layers_match_keras(backend, keras_outcomes):
    """Outputs within float32 rounding of Keras' (same values, masks exactly), on every backend."""
    worst = {}
    for (name, kwargs, inputs, masks), expected in zip(KERAS_CASES, keras_outcomes):
        y, mask = _ours(name, kwargs, inputs, masks)
        want = np.asarray(expected["y"], np.float32)
        assert y.shape == want.shape, (name, kwargs)
        np.testing.assert_allclose(
            y, want, rtol=1e-6, atol=1e-6, err_msg=f"{name} {kwargs} {masks is not None}"
        )
        worst[name] = max(worst.get(name, 0.0), float(np.abs(y - want).max(initial=0.0)))
        if expected["mask"] is None:
            assert mask is None, (name, kwargs)
        else:
            np.testing.assert_array_equal(mask, np.asarray(expected["mask"], bool), err_msg=name)
    print(f"max |ours - Keras| on {backend}:", worst)


# --- torch's own modules ----------------------------------------------------------------------------
@pytest.mark.needs("torch")
def test_layers_match_torch_modules(backend):
    """UpSampling (nearest, bilinear), ZeroPadding, Permute, Concatenate, Dot(normalize) and
    TimeDistributed(Dense) against torch.nn modules and functions (copied weights)."""
    import torch

    images = IMG.transpose(0, 3, 1, 2)  # channels_first, as torch's
    t = torch.from_numpy
    kernel, bias = DENSE
    linear = torch.nn.Linear(3, 2)
    with torch.no_grad():
        linear.weight.copy_(t(kernel.T))
        linear.bias.copy_(t(bias))
    first = {"data_format": "channels_first"}
    pairs = {
        "UpSampling2D nearest": (
            nn.UpSampling2D((2, 3), **first)(images),
            torch.nn.Upsample(scale_factor=(2, 3), mode="nearest")(t(images)),
        ),
        "UpSampling2D bilinear": (
            nn.UpSampling2D((3, 2), interpolation="bilinear", **first)(images),
            torch.nn.Upsample(scale_factor=(3, 2), mode="bilinear", align_corners=False)(t(images)),
        ),
        "UpSampling1D": (
            nn.UpSampling1D(3)(SEQ[0]),
            torch.nn.Upsample(scale_factor=3, mode="nearest")(t(SEQ[0]).transpose(1, 2)).transpose(1, 2),
        ),
        "ZeroPadding2D": (
            nn.ZeroPadding2D(((1, 0), (2, 1)), **first)(images),
            torch.nn.ZeroPad2d((2, 1, 1, 0))(t(images)),
        ),
        "ZeroPadding1D": (
            nn.ZeroPadding1D((0, 2), **first)(SEQ[0]),
            torch.nn.ConstantPad1d((0, 2), 0.0)(t(SEQ[0])),
        ),
        "Permute": (nn.Permute((3, 1, 2))(IMG), t(IMG).permute(0, 3, 1, 2)),
        "Concatenate": (nn.Concatenate(axis=1)([SEQ[0], SEQ[1]]), torch.cat([t(SEQ[0]), t(SEQ[1])], dim=1)),
        "Dot normalize": (
            nn.Dot(axes=-1, normalize=True)([SEQ[0][:, 0], SEQ[1][:, 0]]),
            torch.nn.functional.cosine_similarity(t(SEQ[0][:, 0]), t(SEQ[1][:, 0]))[:, None],
        ),
        "RepeatVector": (nn.RepeatVector(2)(SEQ[0][:, 0]), t(SEQ[0][:, 0])[:, None].repeat(1, 2, 1)),
    }
    distributed = nn.TimeDistributed(nn.Dense(2))
    distributed(SEQ[0])
    distributed.set_weights(DENSE)
    pairs["TimeDistributed(Dense)"] = (distributed(SEQ[0]), linear(t(SEQ[0])))
    worst = {}
    for name, (ours, theirs) in pairs.items():
        theirs = theirs.detach().numpy()
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=1e-6, err_msg=name)
        worst[name] = float(np.abs(ours.numpy() - theirs).max())
    print(f"max |ours - torch| on {backend}:", worst)


# --- saved on one backend, loaded on the other -----------------------------------------------------
def _stacks() -> dict[str, tuple[list[nn.Layer], np.ndarray]]:
    """Every layer of this module in two small models (merges through ``Pieces``)."""
    sequences = [
        nn.Reshape((4, 3)),
        nn.ZeroPadding1D((1, 0)),
        nn.Cropping1D((0, 1)),
        nn.UpSampling1D(2),
        nn.TimeDistributed(nn.Dense(4, activation="tanh")),
        nn.Permute((2, 1)),
        nn.Lambda(cube_plus, arguments={"shift": 0.1}),
        Pieces(nn.Concatenate(axis=1)),
        Pieces(nn.Maximum()),
        Pieces(nn.Multiply()),
        nn.Flatten(),
        nn.RepeatVector(2),
        Pieces(nn.Dot(axes=1, normalize=True)),
        Pieces(nn.Add()),
        nn.Flatten(),
        nn.Dense(2),
    ]
    images = [
        nn.ZeroPadding2D(1),
        nn.Cropping2D(((1, 0), (0, 2))),
        nn.UpSampling2D((1, 2), interpolation="bilinear"),
        nn.UpSampling2D(2, data_format="channels_first"),
        Pieces(nn.Subtract()),
        Pieces(nn.Minimum()),
        Pieces(nn.Average(), parts=1),
        nn.Flatten(),
        nn.Dense(2),
    ]
    return {
        "sequences": (sequences, RNG.normal(size=(4, 12)).astype(np.float32)),
        "images": (images, RNG.normal(size=(3, 5, 5, 4)).astype(np.float32)),
    }


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("case", ["sequences", "images"])
@pytest.mark.parametrize("source, target", [("torch", "tensorflow"), ("tensorflow", "torch")])
def test_models_round_trip_across_backends(case, source, target, tmp_path):
    path = tmp_path / "model.bridge"
    with br.use_backend(source):
        layers, x = _stacks()[case]
        model = nn.Sequential(layers)
        expected = model.predict(x, verbose=0)
        config = json.dumps(nn.serialize(model))
        model.save(path)
    with br.use_backend(target):
        loaded = nn.load_model(path)
        assert json.dumps(nn.serialize(loaded)) == config
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.needs("torch", "tensorflow")
def test_functional_model_with_merges_round_trips_across_backends(tmp_path):
    """Two inputs merged four ways in a functional model: saved on torch, loaded on TensorFlow."""
    with br.use_backend("torch"):
        a, b = nn.Input((4, 3)), nn.Input((4, 3))
        frames = nn.TimeDistributed(nn.Dense(2))(nn.Concatenate()([a, b]))
        parts = [nn.Permute((2, 1))(frames), nn.Subtract()([a, b]), nn.Dot(axes=2, normalize=True)([a, b])]
        joined = nn.Concatenate()([nn.Flatten()(p) for p in parts] + [nn.Flatten()(nn.Maximum()([a, b]))])
        model = nn.Model([a, b], nn.Dense(1)(joined))
        x = [SEQ[0], SEQ[1]]
        expected = model.predict(x, verbose=0)
        model.save(tmp_path / "functional.bridge")
    with br.use_backend("tensorflow"):
        loaded = nn.load_model(tmp_path / "functional.bridge")
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_every_layers_config_round_trips_with_its_arguments(backend):
    """Non-default arguments survive config -> JSON -> layer -> config."""
    layers = [
        nn.Concatenate(axis=1),
        nn.Add(name="plus"),
        nn.Subtract(),
        nn.Multiply(),
        nn.Average(),
        nn.Maximum(),
        nn.Minimum(),
        nn.Dot(axes=(1, 2), normalize=True),
        nn.Dot(axes=-1),
        nn.Permute((2, 1)),
        nn.RepeatVector(4),
        nn.Cropping1D(2),
        nn.Cropping2D((1, 2), data_format="channels_first"),
        nn.ZeroPadding1D((0, 3), data_format="channels_first"),
        nn.ZeroPadding2D(((1, 2), (3, 4))),
        nn.UpSampling1D(3),
        nn.UpSampling2D((2, 1), interpolation="bilinear"),
        nn.TimeDistributed(nn.Conv2D(2, 3, padding="same"), name="frames"),
        nn.Lambda(br.ops.square, output_shape=(3,)),
        nn.Lambda(cube_plus, arguments={"shift": 2.0}),
    ]
    for layer in layers:
        text = json.dumps(nn.serialize(layer))
        again = nn.deserialize(json.loads(text))
        assert type(again) is type(layer)
        assert json.dumps(nn.serialize(again)) == text, type(layer).__name__
    assert nn.Cropping2D(1).get_config()["cropping"] == ((1, 1), (1, 1))
    assert nn.ZeroPadding1D().get_config()["padding"] == (1, 1)
    assert nn.Lambda(br.ops.square).get_config()["function"] == "square"


def test_lambda_saving_by_name_and_refusing_python_lambdas(backend, tmp_path):
    x = np.ones((2, 3), np.float32)

    def shifted(v):
        return v + 1.0

    model = nn.Sequential([nn.Lambda(shifted), nn.Dense(1)])
    model(x)
    model.save(tmp_path / "named.bridge")
    with pytest.raises(br.FileFormatError, match="unknown Lambda function 'shifted'.*custom_objects"):
        nn.load_model(tmp_path / "named.bridge")  # a function of your own is found by name only
    loaded = nn.load_model(tmp_path / "named.bridge", custom_objects={"shifted": shifted})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)

    anonymous = nn.Sequential([nn.Lambda(lambda v: v * 2.0), nn.Dense(1)])
    anonymous(x)
    with pytest.raises(br.SerializationError, match=r"<lambda>.*function"):
        anonymous.save(tmp_path / "anonymous.bridge")
    assert not (tmp_path / "anonymous.bridge").exists()


# --- masks -----------------------------------------------------------------------------------------
class MaskedScale(nn.Layer):
    """Doubles each sample, zeroed where its mask is false (records the masks it got)."""

    def call(self, x, mask=None):
        self.seen = mask
        return x * 2.0 if mask is None else x * 2.0 * br.ops.expand_dims(mask, -1).astype(x.dtype)


def test_time_distributed_passes_each_steps_mask_and_keeps_it(backend):
    x = SEQ[0][..., None]  # (2, 4, 3, 1)
    mask = br.tensor(M1[..., None].repeat(3, axis=2))  # (2, 4, 3): a mask per step of (2, 3)
    inputs = br.tensor(x)
    inputs._keras_mask = mask
    inner = MaskedScale()
    out = nn.TimeDistributed(inner)(inputs)
    assert inner.seen.shape == (2, 3)
    np.testing.assert_array_equal(out.numpy(), x * 2 * M1[..., None, None])
    np.testing.assert_array_equal(out._keras_mask.numpy(), mask.numpy())
    with pytest.raises(br.ShapeError, match=r"mask must start with the inputs' \(batch, time\) \(2, 4\)"):
        nn.TimeDistributed(MaskedScale())(x, mask=np.ones((2, 3), bool))


def test_lambda_masks_as_keras(backend):
    inputs = br.tensor(SEQ[0])
    inputs._keras_mask = br.tensor(M1)
    dropped = nn.Lambda(br.ops.tanh)(inputs)
    assert getattr(dropped, "_keras_mask", None) is None  # mask=None: the output has none
    kept = nn.Lambda(br.ops.tanh, mask=lambda x, previous: previous)(inputs)
    np.testing.assert_array_equal(kept._keras_mask.numpy(), M1)

    def zero_masked(x, mask=None):
        return x * br.ops.expand_dims(mask, -1).astype(x.dtype)

    np.testing.assert_array_equal(nn.Lambda(zero_masked)(inputs).numpy(), SEQ[0] * M1[..., None])


# --- errors ----------------------------------------------------------------------------------------
ERRORS = [  # (make and call, bridge error, builtin as Keras', message)
    (lambda: nn.Concatenate()([SEQ[0], IMG]), br.ShapeError, ValueError, r"\(2, 4, 3\), \(2, 3, 4, 2\)"),
    (lambda: nn.Concatenate(axis=1)([SEQ[0], SEQ[1][..., :2]]), br.ShapeError, ValueError, "except on that"),
    (lambda: nn.Concatenate(axis=3)([SEQ[0], SEQ[1]]), br.ShapeError, ValueError, r"axis=3\) needs"),
    (lambda: nn.Concatenate(axis=1.5), br.ArgumentTypeError, TypeError, "axis must be an int"),
    (
        lambda: nn.Add()([SEQ[0], SEQ[1][..., :2]]),
        br.ShapeError,
        ValueError,
        r"incompatible shapes \(2, 4, 3\)",
    ),
    (lambda: nn.Add()([SEQ[0], SEQ[1][:1]]), br.ShapeError, ValueError, "one batch size"),
    (lambda: nn.Add()(SEQ[0]), br.InvalidArgumentError, ValueError, "called on a list of tensors"),
    (lambda: nn.Add()([]), br.InvalidArgumentError, ValueError, "hold no tensor"),
    (lambda: nn.Subtract()(SEQ), br.InvalidArgumentError, ValueError, "exactly 2 inputs, got 3"),
    (lambda: nn.Maximum()(SEQ[:2], mask=[M1]), br.InvalidArgumentError, ValueError, "one mask"),
    (
        lambda: nn.Multiply()(SEQ[:2], mask=[M1[:, :2], None]),
        br.ShapeError,
        ValueError,
        r"\(2, 2\) does not fit",
    ),
    (lambda: nn.Dot(axes=2)([SEQ[0], IMG]), br.ShapeError, ValueError, r"\(2, 4, 3\) and \(2, 3, 4, 2\)"),
    (lambda: nn.Dot(axes=0)(SEQ[:2]), br.ShapeError, ValueError, "not the batch axis"),
    (lambda: nn.Dot(axes=(1, 2, 3)), br.InvalidArgumentError, ValueError, "an int or two ints"),
    (lambda: nn.Dot(axes="last"), br.ArgumentTypeError, TypeError, "axes must be an int"),
    (lambda: nn.Permute((1, 3)), br.InvalidArgumentError, ValueError, r"each of 1..2 once"),
    (lambda: nn.Permute(2), br.ArgumentTypeError, TypeError, "tuple of ints"),
    (lambda: nn.Permute((2, 1))(IMG), br.ShapeError, ValueError, r"rank 3, got shape \(2, 3, 4, 2\)"),
    (lambda: nn.RepeatVector(0), br.InvalidArgumentError, ValueError, "n must be >= 1"),
    (lambda: nn.RepeatVector(2.5), br.ArgumentTypeError, TypeError, "n must be an int"),
    (lambda: nn.RepeatVector(2)(SEQ[0]), br.ShapeError, ValueError, r"2-D inputs.*\(2, 4, 3\)"),
    (lambda: nn.Cropping1D(-1), br.InvalidArgumentError, ValueError, "cropping must be >= 0"),
    (lambda: nn.Cropping1D((2, 2))(SEQ[0]), br.ShapeError, ValueError, r"leaves nothing.*\(2, 4, 3\)"),
    (lambda: nn.Cropping2D(((1, 2), (3,))), br.InvalidArgumentError, ValueError, "cropping must be an int"),
    (lambda: nn.Cropping2D(1)(SEQ[0]), br.ShapeError, ValueError, r"4-D inputs \(batch, height"),
    (lambda: nn.ZeroPadding1D(data_format="nwc"), br.InvalidArgumentError, ValueError, "data_format"),
    (lambda: nn.ZeroPadding1D(1)(IMG), br.ShapeError, ValueError, r"3-D inputs \(batch, steps, features\)"),
    (lambda: nn.ZeroPadding2D((1, 2, 3)), br.InvalidArgumentError, ValueError, "padding must be an int"),
    (lambda: nn.UpSampling1D(0), br.InvalidArgumentError, ValueError, "size must be >= 1"),
    (lambda: nn.UpSampling2D(interpolation="bicubic"), br.InvalidArgumentError, ValueError, "'bilinear'"),
    (
        lambda: nn.UpSampling2D(data_format="channels_first")(SEQ[0]),
        br.ShapeError,
        ValueError,
        "channels, height",
    ),
    (lambda: nn.TimeDistributed("dense"), br.ArgumentTypeError, TypeError, "bridge.nn.Layer"),
    (
        lambda: nn.TimeDistributed(nn.Dense(2))(IMG[:, 0, 0]),
        br.ShapeError,
        ValueError,
        r"rank >= 3.*\(2, 2\)",
    ),
    (lambda: nn.Lambda(3), br.ArgumentTypeError, TypeError, "function must be callable"),
    (
        lambda: nn.Lambda(br.ops.tanh, arguments=[1]),
        br.ArgumentTypeError,
        TypeError,
        "arguments must be a dict",
    ),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors(backend, case):
    make, error, builtin, message = ERRORS[case]
    with pytest.raises(error, match=message) as caught:
        make()
    assert isinstance(caught.value, builtin)
