"""The image augmentation layers (issue 14) against Keras 3 on both its backends.

Keras draws its own random numbers, so the transforms are compared: bridge draws a transformation
(``get_random_transformation``), Keras applies that same transformation with its own
``transform_images`` (the rotation matrix Keras computes from bridge's angles), and both images
agree at Keras' tolerances, for each layer, fill mode and interpolation. The draws themselves
are the same on both bridge backends for a seed, and lie where Keras' do (the factor ranges).
Also: ``bridge.ops.image.affine_transform`` against Keras', config round trips, the identity
outside training, single images, channels_first, fit on both backends, bad arguments."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import nn
from bridge.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from bridge.ops.image import affine_transform
from bridge.testing.conformance.strategies import QUICK_JIT
from tests.keras_reference import keras_json

KERAS_BACKENDS = ("tensorflow", "torch")
RNG = np.random.default_rng(14)
IMAGES = RNG.uniform(0, 255, (3, 7, 6, 2)).astype(np.float32)  # channels_last, height != width
IMAGES_CF = np.ascontiguousarray(IMAGES.transpose(0, 3, 1, 2))
UNIT_IMAGES = IMAGES / 255.0
# Keras' own tolerance for resampled 0-255 images (its affine_transform test: atol 1e-2), and
# its assertAllClose default for the arithmetic of flips and contrast
RESAMPLED_ATOL, RTOL, ATOL = 1e-2, 1e-6, 1e-4
SEED = 7

AFFINE = ("RandomRotation", "RandomZoom", "RandomTranslation")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")
_FACTORS = {
    "RandomRotation": {"factor": 0.2},
    "RandomZoom": {"height_factor": (-0.4, 0.5), "width_factor": 0.3},
    "RandomTranslation": {"height_factor": 0.3, "width_factor": (-0.4, 0.2)},
}

#: id -> (layer, arguments, images)
CASES: dict[str, tuple[str, dict, str]] = {
    "flip": ("RandomFlip", {}, "images"),
    "flip_horizontal": ("RandomFlip", {"mode": "horizontal"}, "images"),
    "flip_vertical": ("RandomFlip", {"mode": "vertical"}, "images"),
    "flip_channels_first": ("RandomFlip", {"data_format": "channels_first"}, "images_cf"),
    "contrast": ("RandomContrast", {"factor": 0.5}, "images"),
    "contrast_pair": ("RandomContrast", {"factor": (0.3, 0.9)}, "images"),
    "contrast_unit_range": ("RandomContrast", {"factor": (0.2, 0.8), "value_range": (0, 1)}, "unit"),
    "contrast_channels_first": (
        "RandomContrast",
        {"factor": 0.7, "data_format": "channels_first"},
        "images_cf",
    ),
    **{
        f"{name}_{fill}_{interpolation}": (
            name,
            {**_FACTORS[name], "fill_mode": fill, "interpolation": interpolation, "fill_value": 9.0},
            "images",
        )
        for name in AFFINE
        for fill in FILL_MODES
        for interpolation in INTERPOLATIONS
    },
    "zoom_same_aspect": ("RandomZoom", {"height_factor": 0.4}, "images"),
    "rotation_channels_first": (
        "RandomRotation",
        {"factor": (-0.3, 0.1), "data_format": "channels_first"},
        "images_cf",
    ),
    "zoom_channels_first": (
        "RandomZoom",
        {"height_factor": 0.3, "data_format": "channels_first"},
        "images_cf",
    ),
    "translation_channels_first": (
        "RandomTranslation",
        {"height_factor": 0.2, "width_factor": 0.2, "data_format": "channels_first", "fill_mode": "constant"},
        "images_cf",
    ),
}
INPUTS = {"images": IMAGES, "images_cf": IMAGES_CF, "unit": UNIT_IMAGES}

#: affine_transform cases: (transform rows, interpolation, fill_mode)
TRANSFORMS = np.pad(RNG.uniform(-1, 1, (3, 6)) * [1.3, 0.8, 4, 0.7, 1.2, 4], [(0, 0), (0, 2)]).astype(
    np.float32
)
TRANSFORMS[:, [0, 4]] += 0.5
OP_CASES = [(interpolation, fill) for interpolation in INTERPOLATIONS for fill in (*FILL_MODES, "mirror")]

#: the draws' ranges: id -> (layer, arguments, transformation key, Keras attribute giving the range)
DRAWS = 2000
RANGE_CASES = {
    "rotation": ("RandomRotation", {"factor": 0.2}, "angle"),
    "rotation_pair": ("RandomRotation", {"factor": (-0.1, 0.3)}, "angle"),
    "zoom": ("RandomZoom", {"height_factor": (-0.4, 0.5), "width_factor": 0.3}, "height_zoom"),
    "zoom_width": ("RandomZoom", {"height_factor": (-0.4, 0.5), "width_factor": 0.3}, "width_zoom"),
    "translation": ("RandomTranslation", {"height_factor": 0.3, "width_factor": (-0.4, 0.2)}, "translations"),
    "contrast": ("RandomContrast", {"factor": 0.5}, "contrast_factor"),
    "contrast_pair": ("RandomContrast", {"factor": (0.3, 0.9)}, "contrast_factor"),
    "flip": ("RandomFlip", {}, "flips"),
}
RANGE_SHAPE = (DRAWS, 4, 5, 1)

_PROGRAM = r"""
import json, sys
import numpy as np
import keras
from keras import ops

query = json.loads(sys.stdin.read())
inputs = {k: np.asarray(v, np.float32) for k, v in query["inputs"].items()}

def plain(x):
    return np.asarray(ops.convert_to_numpy(x), np.float64).tolist()

images_out, matrices = {}, {}
for case, (name, kwargs, which, drawn) in query["cases"].items():
    layer = getattr(keras.layers, name)(**kwargs)
    x = ops.convert_to_tensor(inputs[which])
    if name == "RandomFlip":
        flips = ops.convert_to_tensor(np.asarray(drawn["flips"], bool))
        transformation = {"flips": flips, "input_shape": x.shape}
    elif name == "RandomRotation":
        angle = ops.convert_to_tensor(np.asarray(drawn["angle"], np.float32))
        height, width = (x.shape[1], x.shape[2]) if layer.data_format == "channels_last" else x.shape[2:]
        n = x.shape[0]
        matrix = layer._compute_affine_matrix(
            center_x=0.5, center_y=0.5, angle=angle, translate_x=ops.zeros([n]), translate_y=ops.zeros([n]),
            scale=ops.ones([n]), shear_x=ops.zeros([n]), shear_y=ops.zeros([n]), height=height, width=width,
        )
        matrices[case] = plain(matrix)
        transformation = {"angle": angle, "rotation_matrix": matrix}
    else:
        transformation = {k: ops.convert_to_tensor(np.asarray(v, np.float32)) for k, v in drawn.items()}
        transformation["input_shape"] = x.shape
    images_out[case] = plain(layer.transform_images(x, transformation, training=True))

ops_out = []
for interpolation, fill_mode, transform in query["op_cases"]:
    if keras.backend.backend() == "tensorflow" and fill_mode == "mirror":
        ops_out.append(None)  # not supported there
        continue
    out = keras.ops.image.affine_transform(
        inputs["images"], np.asarray(transform, np.float32), interpolation=interpolation,
        fill_mode=fill_mode, fill_value=9.0,
    )
    ops_out.append(plain(out))

ranges = {}
for case, (name, kwargs, key) in query["range_cases"].items():
    layer = getattr(keras.layers, name)(**kwargs, seed=1)
    zeros = np.zeros(query["range_shape"], "float32")
    drawn = ops.convert_to_numpy(layer.get_random_transformation(zeros)[key])
    drawn = np.asarray(drawn, np.float64).reshape(len(drawn), -1)
    bounds = {
        "RandomRotation": lambda: [[360 * f for f in layer.factor]],
        "RandomContrast": lambda: [[1 - layer.factor[0], 1 + layer.factor[1]]],
        "RandomFlip": lambda: [[0, 1]],
        "RandomZoom": lambda: [[1 + layer.height_lower, 1 + layer.height_upper]]
        if key == "height_zoom" else [[1 + layer.width_lower, 1 + layer.width_upper]],
        "RandomTranslation": lambda: [
            [layer.width_lower * query["range_shape"][2], layer.width_upper * query["range_shape"][2]],
            [layer.height_lower * query["range_shape"][1], layer.height_upper * query["range_shape"][1]],
        ],
    }[name]()
    ranges[case] = {"bounds": bounds, "min": drawn.min(0).tolist(), "max": drawn.max(0).tolist(),
                    "mean": drawn.mean(0).tolist(), "config": layer.get_config()}

print(json.dumps({"images": images_out, "matrices": matrices, "ops": ops_out, "ranges": ranges}))
"""


def _layer(name: str, kwargs: dict, **more) -> nn.Layer:
    return getattr(nn, name)(**kwargs, **more)


def _draw(case: str) -> dict[str, np.ndarray]:
    """The transformation bridge draws for a case, as NumPy arrays (the arrays only)."""
    name, kwargs, which = CASES[case]
    transformation = _layer(name, kwargs, seed=SEED).get_random_transformation(INPUTS[which])
    return {k: v.numpy() for k, v in transformation.items() if isinstance(v, br.Tensor)}


@pytest.fixture(scope="module")
def reference_draws() -> dict[str, dict[str, np.ndarray]]:
    """Bridge's draws on its NumPy reference backend: the torch and TensorFlow backends must
    draw the same."""
    with br.use_backend("numpy"):
        return {case: _draw(case) for case in CASES}


@pytest.fixture(scope="module")
def keras_answers(reference_draws) -> dict[str, dict]:
    """Keras' images for bridge's transformations, affine_transform's outputs and Keras' own
    draws' ranges, per Keras backend (one process per Keras backend, both at once)."""
    query = json.dumps(
        {
            "inputs": {k: v.tolist() for k, v in INPUTS.items()},
            "cases": {
                case: [name, kwargs, which, {k: v.tolist() for k, v in reference_draws[case].items()}]
                for case, (name, kwargs, which) in CASES.items()
            },
            "op_cases": [[i, f, TRANSFORMS.tolist()] for i, f in OP_CASES],
            "range_cases": RANGE_CASES,
            "range_shape": RANGE_SHAPE,
        }
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        answers = pool.map(lambda b: keras_json(_PROGRAM, backend=b, stdin=query), KERAS_BACKENDS)
        return dict(zip(KERAS_BACKENDS, answers, strict=True))


def _inside(images: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Which output pixels (batch, height, width, 1) read a point inside the input image."""
    _, height, width, _ = images.shape
    y, x = np.mgrid[:height, :width].astype(np.float64)
    a0, a1, a2, b0, b1, b2 = (transforms[:, i, None, None].astype(np.float64) for i in range(6))
    x_in, y_in = a0 * x + a1 * y + a2, b0 * x + b1 * y + b2
    return ((x_in >= 0) & (x_in <= width - 1) & (y_in >= 0) & (y_in <= height - 1))[..., None]


def _keras_compares(case_fill_mode: str | None, keras_backend: str) -> bool:
    """Keras' TensorFlow backend wraps differently from its reference (its own affine_transform
    test skips fill_mode="wrap" there): wrap is compared with Keras' torch backend."""
    return not (case_fill_mode == "wrap" and keras_backend == "tensorflow")


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_transform_matches_keras(backend, keras_answers, reference_draws, case):
    """The same seed draws the same on every bridge backend; Keras applies those draws as bridge
    does; and a call is that draw applied (training is a call's default, as in Keras)."""
    name, kwargs, which = CASES[case]
    x = INPUTS[which]
    layer = _layer(name, kwargs, seed=SEED)
    transformation = layer.get_random_transformation(x, training=True)
    for key, expected in reference_draws[case].items():  # the matrix: cos and sin, within an ulp
        np.testing.assert_allclose(
            transformation[key].numpy(), expected, rtol=0 if key != "rotation_matrix" else 1e-6
        )
    got = layer.transform_images(x, transformation, training=True).numpy()
    np.testing.assert_array_equal(_layer(name, kwargs, seed=SEED)(x).numpy(), got)
    assert got.shape == x.shape and got.dtype == np.float32
    resampled = name in AFFINE
    for keras_backend, answer in keras_answers.items():
        if not _keras_compares(kwargs.get("fill_mode"), keras_backend):
            continue
        expected = np.asarray(answer["images"][case])
        atol = RESAMPLED_ATOL if resampled else ATOL
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=atol, err_msg=keras_backend)
        if name == "RandomRotation":
            np.testing.assert_allclose(
                transformation["rotation_matrix"].numpy(), answer["matrices"][case], rtol=1e-5, atol=1e-5
            )
    assert not np.allclose(got, x)  # the case does change the images


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow  # Keras started (once for the module)
@pytest.mark.parametrize("index", range(len(OP_CASES)), ids=["_".join(c) for c in OP_CASES])
def test_affine_transform_matches_keras(backend, keras_answers, index):
    interpolation, fill_mode = OP_CASES[index]
    got = affine_transform(IMAGES, TRANSFORMS, interpolation, fill_mode, fill_value=9.0).numpy()
    compared = 0
    for keras_backend, answer in keras_answers.items():
        expected = answer["ops"][index]
        if expected is None:
            continue
        ours, expected = got, np.asarray(expected)
        if not _keras_compares(fill_mode, keras_backend):  # wrap there: alike inside the image
            inside = np.broadcast_to(_inside(IMAGES, TRANSFORMS), got.shape)
            ours, expected = got[inside], expected[inside]
            assert inside.mean() > 0.2
        np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=RESAMPLED_ATOL, err_msg=keras_backend)
        compared += 1
    assert compared >= 1
    one = affine_transform(IMAGES[1], TRANSFORMS[1], interpolation, fill_mode, fill_value=9.0)
    np.testing.assert_allclose(one.numpy(), got[1], rtol=1e-6, atol=1e-4)
    first = affine_transform(IMAGES_CF, TRANSFORMS, interpolation, fill_mode, 9.0, "channels_first")
    np.testing.assert_allclose(first.numpy(), got.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-4)


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow  # Keras started (once for the module)
@pytest.mark.parametrize("case", list(RANGE_CASES))
def test_draws_cover_kerass_ranges(backend, keras_answers, case):
    """Bridge's draws lie in the range Keras draws from (Keras' factor semantics, read from its
    layer) and fill it uniformly, as Keras' own draws do."""
    name, kwargs, key = RANGE_CASES[case]
    layer = _layer(name, kwargs, seed=3)
    drawn = layer.get_random_transformation(np.zeros(RANGE_SHAPE, np.float32))[key].numpy()
    drawn = drawn.astype(np.float64).reshape(DRAWS, -1)
    for answer in keras_answers.values():
        keras = answer["ranges"][case]
        for column, (low, high) in enumerate(keras["bounds"]):
            values, span = drawn[:, column], high - low
            assert low <= values.min() and values.max() <= high
            for stat, ours in (("min", values.min()), ("max", values.max()), ("mean", values.mean())):
                assert abs(ours - keras[stat][column]) < 0.05 * span, (stat, ours, keras[stat][column])


@pytest.mark.parametrize(
    "case", ["flip", "contrast", "RandomRotation_constant_bilinear", "zoom_channels_first"]
)
def test_identity_outside_training_and_single_images(backend, case):
    """``training=False`` passes the images through; a single image is augmented as a batch of
    one with the same seed; the seed generator moves on from call to call."""
    name, kwargs, which = CASES[case]
    x = INPUTS[which]
    np.testing.assert_array_equal(_layer(name, kwargs)(x, training=False).numpy(), x)
    single = _layer(name, kwargs, seed=SEED)(x[0]).numpy()
    np.testing.assert_allclose(
        single, _layer(name, kwargs, seed=SEED)(x[:1]).numpy()[0], rtol=1e-6, atol=1e-4
    )
    layer = _layer(name, kwargs, seed=SEED)
    assert not np.array_equal(layer(x).numpy(), layer(x).numpy())


def test_integer_images_come_out_in_the_compute_dtype(backend):
    images = np.arange(2 * 4 * 4 * 1).reshape(2, 4, 4, 1).astype(np.uint8)
    for layer in (nn.RandomFlip(seed=1), nn.RandomTranslation(0.2, 0.2, seed=1)):
        assert layer(images).dtype == br.float32
        assert layer(images, training=False).dtype == br.float32
    assert affine_transform(images, TRANSFORMS[:1]).dtype == br.uint8


@pytest.mark.needs("tensorflow", "torch")
@pytest.mark.slow
def test_fit_trains_a_model_with_augmentation():
    """Augmentation inside a Sequential trained by fit, on both backends (compiled with
    tf.function on TensorFlow): the same seeds augment the same, so the losses agree; predict
    does not augment."""
    losses = {}
    for name in ("torch", "tensorflow"):
        with br.use_backend(name):
            model = nn.Sequential(
                [
                    nn.Input((7, 6, 2)),
                    nn.RandomFlip(seed=1),
                    nn.RandomRotation(0.1, seed=2),
                    nn.RandomZoom(0.2, seed=3),
                    nn.RandomTranslation(0.1, 0.1, seed=4),
                    nn.RandomContrast(0.3, value_range=(0, 1), seed=5),
                    nn.Flatten(),
                    nn.Dense(1, kernel_initializer="zeros"),
                ]
            )
            model.compile(optimizer="sgd", loss="mse")
            y = UNIT_IMAGES.mean(axis=(1, 2, 3))[:, None]
            losses[name] = model.fit(
                UNIT_IMAGES, y, epochs=3, batch_size=3, shuffle=False, verbose=0
            ).history["loss"]
            assert len(set(losses[name])) == 3 and np.all(np.isfinite(losses[name]))
            predicted = np.asarray(model.predict(UNIT_IMAGES, verbose=0))
            np.testing.assert_allclose(
                predicted, model(UNIT_IMAGES, training=False).numpy(), rtol=1e-5, atol=1e-6
            )
    np.testing.assert_allclose(losses["torch"], losses["tensorflow"], rtol=1e-4)


@pytest.mark.slow
@pytest.mark.bridge_requires("jit", "variables")
def test_under_jit_the_draws_change_from_call_to_call(backend):
    """Compiled, each call draws anew from the seed generator: the eager calls' images."""
    layer = nn.RandomRotation(0.3, seed=SEED)
    layer.build(IMAGES.shape)
    step = br.jit(lambda x: layer(x, training=True), **QUICK_JIT)
    eager = nn.RandomRotation(0.3, seed=SEED)
    for _ in range(3):
        np.testing.assert_allclose(step(IMAGES).numpy(), eager(IMAGES).numpy(), rtol=1e-5, atol=1e-3)


@pytest.mark.bridge_requires("variables")
def test_a_saved_model_continues_the_draws(backend, tmp_path):
    """The seed generators' state is saved with the model: the loaded one draws what the
    original draws next."""
    model = nn.Sequential(
        [nn.Input((7, 6, 2)), nn.RandomRotation(0.2, seed=3), nn.RandomContrast(0.3, seed=1)]
    )
    model(IMAGES, training=True)
    model.save(tmp_path / "augment.keras")
    loaded = nn.load_model(tmp_path / "augment.keras")
    np.testing.assert_array_equal(loaded(IMAGES, training=True).numpy(), model(IMAGES, training=True).numpy())
    np.testing.assert_array_equal(loaded(IMAGES).numpy(), IMAGES)  # a model call: not training


CONFIGURED = [
    nn.RandomFlip(mode="vertical", seed=3, data_format="channels_first"),
    nn.RandomRotation((-0.2, 0.1), fill_mode="constant", interpolation="nearest", fill_value=1.5, seed=2),
    nn.RandomZoom((0.1, 0.3), width_factor=-0.2, fill_mode="wrap"),
    nn.RandomTranslation(0.1, (-0.3, 0.2), fill_mode="nearest", seed=5),
    nn.RandomContrast((0.2, 0.4), value_range=(0, 1), seed=1),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    plain = json.loads(json.dumps(nn.serialize(layer)))  # through JSON, as in a saved model
    assert json.loads(json.dumps(nn.deserialize(plain).get_config())) == json.loads(json.dumps(config))


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow  # Keras started (once for the module)
def test_factors_and_configs_as_kerass(keras_answers):
    """Keras' factor semantics (a scalar contrast factor ``f`` is ``(0, f)``), and the config keys
    Keras writes."""
    for case, (name, kwargs, _) in RANGE_CASES.items():
        layer = _layer(name, kwargs, seed=1)
        for answer in keras_answers.values():
            keras_config = answer["ranges"][case]["config"]
            ours = layer.get_config()
            shared = set(keras_config) - {"name", "dtype", "trainable"}
            assert shared <= set(ours), shared - set(ours)
            for key in shared:
                assert json.loads(json.dumps(ours[key])) == keras_config[key], key


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: nn.RandomFlip(mode="diagonal"), InvalidArgumentError, ("RandomFlip", "mode")),
        (lambda: nn.RandomRotation(1.5), InvalidArgumentError, ("RandomRotation", "factor")),
        (lambda: nn.RandomRotation("big"), ArgumentTypeError, ("RandomRotation", "factor")),
        (lambda: nn.RandomRotation((0.1, 0.2, 0.3)), ArgumentTypeError, ("RandomRotation", "factor")),
        (
            lambda: nn.RandomRotation(0.1, fill_mode="mirror"),
            InvalidArgumentError,
            ("RandomRotation", "fill_mode"),
        ),
        (lambda: nn.RandomZoom(-1.0), InvalidArgumentError, ("RandomZoom", "height_factor")),
        (
            lambda: nn.RandomZoom(0.1, width_factor=(0.1, 2)),
            InvalidArgumentError,
            ("RandomZoom", "width_factor"),
        ),
        (
            lambda: nn.RandomZoom(0.1, interpolation="cubic"),
            InvalidArgumentError,
            ("RandomZoom", "interpolation"),
        ),
        (lambda: nn.RandomTranslation(0.1, 1.5), InvalidArgumentError, ("RandomTranslation", "width_factor")),
        (
            lambda: nn.RandomTranslation(0.1, 0.1, fill_value="red"),
            ArgumentTypeError,
            ("RandomTranslation", "fill_value"),
        ),
        (lambda: nn.RandomContrast(-0.2), InvalidArgumentError, ("RandomContrast", "factor")),
        (
            lambda: nn.RandomContrast(0.2, value_range=255),
            ArgumentTypeError,
            ("RandomContrast", "value_range"),
        ),
        (lambda: nn.RandomContrast(0.2, seed=1.5), ArgumentTypeError, ("RandomContrast", "seed")),
        (lambda: nn.RandomFlip(data_format="NHWC"), InvalidArgumentError, ("RandomFlip", "data_format")),
    ],
)
def test_bad_arguments(make, error, words):
    with pytest.raises(error) as raised:
        make()
    assert isinstance(raised.value, br.BridgeError) and isinstance(raised.value, (ValueError, TypeError))
    assert all(word in str(raised.value) for word in words)


def test_bad_inputs(backend):
    with pytest.raises(ShapeError, match="RandomFlip"):
        nn.RandomFlip()(np.zeros((2, 3), np.float32))
    with pytest.raises(ShapeError, match="affine_transform"):
        affine_transform(IMAGES, np.zeros((3, 6), np.float32))
    with pytest.raises(InvalidArgumentError, match="fill_mode"):
        affine_transform(IMAGES, TRANSFORMS, fill_mode="edge")
