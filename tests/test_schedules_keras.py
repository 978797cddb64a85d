"""PolynomialDecay, InverseTimeDecay, CosineDecayRestarts and CosineDecay's warmup against Keras 3:
values at many steps (boundaries, past the end, restarts), configs, and the learning rate inside a
compiled ``fit``, all from one Keras program per Keras backend."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import losses, nn, optim, schedules

from .keras_reference import keras_json

CASES = [
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1}),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.0, "decay_steps": 10, "warmup_target": 0.1, "warmup_steps": 5},
    ),
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.01,
            "decay_steps": 10,
            "alpha": 0.1,
            "warmup_target": 0.2,
            "warmup_steps": 4,
        },
    ),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "warmup_target": 0.05, "warmup_steps": 0},
    ),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "warmup_steps": 5}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10}),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.01, "power": 0.5},
    ),
    (
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "end_learning_rate": 0.001,
            "power": 2.0,
            "cycle": True,
        },
    ),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "cycle": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}),
    (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5, "staircase": True},
    ),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 5}),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 5, "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.1},
    ),
    (
        "CosineDecayRestarts",
        # t_mul 1.7, not 1.5: 1.5's restarts fall on steps (10, 19) where float32 logs decide
        # them, and Keras on torch and on TensorFlow disagree there on some CPUs (AMD EPYC)
        {"initial_learning_rate": 0.1, "first_decay_steps": 4, "t_mul": 1.7, "m_mul": 0.8, "alpha": 0.05},
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.2, "first_decay_steps": 3, "t_mul": 3.0, "name": "sgdr"},
    ),
]
STEPS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 20, 21, 25, 30, 35, 39, 40, 46, 60, 100, 1000]
FIT_CASES = [2, 13]  # indices into CASES: a warmup, and restarts with t_mul and m_mul
FIT_STEPS = 24
BAD_DECAY_STEPS = [("PolynomialDecay", "decay_steps"), ("InverseTimeDecay", "decay_steps")]
BAD_DECAY_STEPS += [("CosineDecay", "decay_steps"), ("CosineDecayRestarts", "first_decay_steps")]
KERAS_BACKENDS = ("tensorflow", "torch")
KERAS_TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}  # Keras' assertAllClose for its schedule tests

_KERAS_PROGRAM = """
import json, sys
import numpy as np
import keras

cases, steps, fit_cases, fit_steps, bad = json.load(sys.stdin)
schedules = keras.optimizers.schedules


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        kernel = float(np.asarray(self.model.layers[0].kernel).reshape(()))
        self.rows.append([float(self.model.optimizer.learning_rate), kernel])


def fit(name, kwargs):
    dense = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
    model = keras.Sequential([keras.Input((1,)), dense])
    model.compile(keras.optimizers.SGD(getattr(schedules, name)(**kwargs)), "mse", jit_compile=False)
    record = Record()
    ones = np.ones((fit_steps, 1), np.float32)
    model.fit(ones, ones, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    return record.rows


def rejects(name, argument):
    kwargs = dict(cases[[n for n, _ in cases].index(name)][1], **{argument: 0})
    try:
        getattr(schedules, name)(**kwargs)
    except Exception as error:
        return [c.__name__ for c in type(error).__mro__]
    return None


made = [getattr(schedules, name)(**kwargs) for name, kwargs in cases]
print(json.dumps({
    "values": [[float(schedule(step)) for step in steps] for schedule in made],
    "configs": [schedule.get_config() for schedule in made],
    "fits": [fit(*cases[i]) for i in fit_cases],
    "bad": [rejects(name, argument) for name, argument in bad],
}))
"""


#: Keras itself, on both its backends (one process each)
NEEDS_KERAS = pytest.mark.needs("keras", "tensorflow", "torch")


@pytest.fixture(scope="module")
def keras_answers() -> dict[str, dict]:
    """Keras 3's values, configs, fit records and argument checks, per Keras backend (the two
    Keras processes run side by side)."""
    payload = json.dumps([CASES, STEPS, FIT_CASES, FIT_STEPS, BAD_DECAY_STEPS])
    with ThreadPoolExecutor(2) as pool:
        answers = pool.map(lambda b: keras_json(_KERAS_PROGRAM, backend=b, stdin=payload), KERAS_BACKENDS)
        return dict(zip(KERAS_BACKENDS, answers))


def make(index: int) -> schedules.LearningRateSchedule:
    name, kwargs = CASES[index]
    return getattr(schedules, name)(**kwargs)


def assert_values_match(label: str, values, keras_answers) -> None:
    for keras_backend, answers in keras_answers.items():
        for case, ours, expected in zip(CASES, values, answers["values"]):
            message = f"{case}, {label}, Keras on {keras_backend}"
            np.testing.assert_allclose(ours, expected, **KERAS_TOLERANCE, err_msg=message)
        worst = float(np.max(np.abs(np.subtract(values, answers["values"]))))
        print(f"{label}: max difference against Keras on {keras_backend}: {worst:.3g}")


@NEEDS_KERAS
def test_values_match_keras(backend, keras_answers):
    """At every step, as a step tensor (as the optimizer gives it) and as a Python int."""
    made = [make(index) for index in range(len(CASES))]
    tensors = [[float(s(br.tensor(step, dtype=br.int64))) for step in STEPS] for s in made]
    assert_values_match("tensor steps", tensors, keras_answers)
    assert_values_match("int steps", [[float(s(step)) for step in STEPS] for s in made], keras_answers)


@NEEDS_KERAS
@pytest.mark.slow
@pytest.mark.bridge_requires("jit")
def test_compiled_values_match_keras(backend, keras_answers):
    """All the schedules at once inside one compiled function of the step tensor: no Python
    branch on the step, and divisions exact at the boundaries (XLA divides by a constant by
    multiplying with its reciprocal)."""
    made = [make(index) for index in range(len(CASES))]
    compiled = br.jit(lambda step: br.ops.stack([schedule(step) for schedule in made]))
    values = np.transpose([compiled(br.tensor(step, dtype=br.int64)).numpy() for step in STEPS])
    assert_values_match("compiled", values, keras_answers)


@NEEDS_KERAS
@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_configs_match_keras_and_round_trip(backend, keras_answers, keras_backend):
    answers = keras_answers[keras_backend]
    for index, theirs in enumerate(answers["configs"]):
        schedule = make(index)
        assert schedule.get_config() == theirs, CASES[index]
        again = type(schedule).from_config(schedule.get_config())
        assert again.get_config() == theirs
        rebuilt = optim.SGD.from_config(optim.SGD(schedule).get_config()).learning_rate_schedule
        assert type(rebuilt) is type(schedule) and rebuilt.get_config() == theirs
        np.testing.assert_allclose(
            [float(rebuilt(step)) for step in STEPS], answers["values"][index], **KERAS_TOLERANCE
        )


class Record(br.callbacks.Callback):
    """The learning rate and the one weight after each batch, as the Keras program records them."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[float]] = []

    def on_train_batch_end(self, batch, logs=None):
        kernel = float(np.asarray(self.model.layers[0].get_weights()[0]).reshape(()))
        self.rows.append([float(self.model.optimizer.learning_rate), kernel])


@NEEDS_KERAS
@pytest.mark.slow
@pytest.mark.bridge_requires("autodiff", "variables")
def test_fit_learning_rates_match_keras(backend, keras_answers):
    """SGD on ``w * 1 -> 1`` from ``w = 0``: each step's update is 2 * lr * (1 - w), so the weights
    show the rate the compiled step used, and ``optimizer.learning_rate`` the rate after it."""
    ones = np.ones((FIT_STEPS, 1), np.float32)
    for number, index in enumerate(FIT_CASES):
        model = nn.Sequential([nn.Dense(1, use_bias=False, kernel_initializer="zeros")])
        model.compile(optimizer=optim.SGD(make(index)), loss=losses.MeanSquaredError(), jit=True)
        record = Record()
        model.fit(ones, ones, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[record])
        for keras_backend, answers in keras_answers.items():
            expected = answers["fits"][number]
            message = f"{CASES[index]}, Keras on {keras_backend}"
            np.testing.assert_allclose(record.rows, expected, rtol=1e-5, atol=1e-6, err_msg=message)
            worst = float(np.max(np.abs(np.subtract(record.rows, expected))))
            print(f"fit {CASES[index][0]}: max difference against Keras on {keras_backend}: {worst:.3g}")


BAD = [
    ("PolynomialDecay", {"decay_steps": 0}, "decay_steps must be > 0"),
    ("PolynomialDecay", {"decay_steps": -3}, "decay_steps must be > 0"),
    ("PolynomialDecay", {"power": -1.0}, "power must be >= 0"),
    ("PolynomialDecay", {"end_learning_rate": math.nan}, "end_learning_rate must be >= 0"),
    ("PolynomialDecay", {"initial_learning_rate": "x"}, "initial_learning_rate must be a number"),
    ("InverseTimeDecay", {"decay_steps": 0}, "decay_steps must be > 0"),
    ("InverseTimeDecay", {"decay_rate": -0.5}, "decay_rate must be >= 0"),
    ("CosineDecay", {"decay_steps": 0}, "decay_steps must be > 0"),
    ("CosineDecay", {"warmup_steps": -1}, "warmup_steps must be >= 0"),
    ("CosineDecay", {"warmup_target": -0.1}, "warmup_target must be >= 0"),
    ("CosineDecay", {"warmup_target": True}, "warmup_target must be a number"),
    ("CosineDecayRestarts", {"first_decay_steps": 0}, "first_decay_steps must be > 0"),
    ("CosineDecayRestarts", {"t_mul": 0.0}, "t_mul must be > 0"),
    ("CosineDecayRestarts", {"m_mul": -1.0}, "m_mul must be >= 0"),
    ("CosineDecayRestarts", {"alpha": math.inf}, "alpha must be >= 0"),
]


@pytest.mark.parametrize("name, change, message", BAD, ids=[f"{n}-{c}" for n, c, _ in BAD])
def test_bad_arguments(backend, name, change, message):
    kwargs = dict(next(kwargs for n, kwargs in CASES if n == name), **change)
    with pytest.raises(br.InvalidArgumentError, match=f"{name}: {message}") as caught:
        getattr(schedules, name)(**kwargs)
    assert isinstance(caught.value, ValueError)


@NEEDS_KERAS
def test_keras_rejects_zero_decay_steps_too(keras_answers):
    """Where Keras checks (only ``decay_steps``), it raises ValueError, as bridge does above."""
    for answers in keras_answers.values():
        assert all(mro is not None and "ValueError" in mro for mro in answers["bad"])
