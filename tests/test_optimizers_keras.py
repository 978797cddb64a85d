"""The optimizers of issue 14 (Nadam, Adamax, Lamb, Lion, Adadelta, Adafactor, Ftrl) against Keras 3's
own: the whole trajectory of fixed weights under a fixed gradient sequence, on both bridge backends and both
Keras backends (one Keras process per Keras backend for the module), at Keras' tolerance; their
configs, slot names, saving and bad arguments."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import constraints, nn, optim
from bridge.saving.paths import weight_paths

from .keras_reference import keras_json

KERAS_BACKENDS = ("tensorflow", "torch")
#: Keras' own tolerance in its optimizer tests (keras/src/optimizers/*_test.py)
RTOL = ATOL = 1e-4

RNG = np.random.default_rng(14)
STEPS = 8
START = [RNG.standard_normal((3, 2)), RNG.standard_normal((4,)), RNG.standard_normal((2, 3, 2))]
GRADS = [[RNG.standard_normal(w.shape) for w in START] for _ in range(STEPS)]

#: case -> (class name, arguments), the same for bridge and Keras
CASES: dict[str, tuple[str, dict]] = {
    "nadam": ("Nadam", {"learning_rate": 0.05}),
    "nadam_tuned": (
        "Nadam",
        {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5, "weight_decay": 0.1},
    ),
    "adamax": ("Adamax", {"learning_rate": 0.05}),
    "adamax_tuned": ("Adamax", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.9, "clipnorm": 0.8}),
    "lamb": ("Lamb", {"learning_rate": 0.05}),
    "lamb_tuned": ("Lamb", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "weight_decay": 0.1}),
    "lion": ("Lion", {"learning_rate": 0.01}),
    "lion_tuned": ("Lion", {"learning_rate": 0.03, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.2}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adadelta_tuned": (
        "Adadelta",
        {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-5, "global_clipnorm": 1.0},
    ),
    "adafactor": ("Adafactor", {"learning_rate": 0.5}),
    "adafactor_tuned": (
        "Adafactor",
        {
            "learning_rate": 0.05,
            "beta_2_decay": -0.5,
            "epsilon_2": 1e-2,
            "clip_threshold": 0.5,
            "relative_step": False,
            "weight_decay": 0.1,
        },
    ),
    "ftrl": ("Ftrl", {"learning_rate": 0.1}),
    "ftrl_tuned": (
        "Ftrl",
        {
            "learning_rate": 0.2,
            "learning_rate_power": -0.7,
            "initial_accumulator_value": 0.5,
            "l1_regularization_strength": 0.05,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.05,
            "beta": 0.3,
        },
    ),
}
#: case -> (indices of the variables and the names to spare from weight decay)
EXCLUDED = {"adamw_excluding": ([2], ["bia"])}
CASES["adamw_excluding"] = ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.5})
CASES["lion_excluding"] = ("Lion", {"learning_rate": 0.01, "weight_decay": 0.5})
EXCLUDED["lion_excluding"] = ([0, 1], [])
#: moving averages: the trajectory ends with the weights finalize_variable_values sets
CASES["adam_ema"] = ("Adam", {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.8})
CASES["nadam_ema_overwriting"] = (
    "Nadam",
    {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 3},
)
#: gradient accumulation: a step every n-th call, with the mean of the n gradients
CASES["adam_accumulating"] = ("Adam", {"learning_rate": 0.05, "gradient_accumulation_steps": 3})
CASES["sgd_accumulating"] = (
    "SGD",
    {"learning_rate": 0.1, "momentum": 0.9, "clipnorm": 0.5, "gradient_accumulation_steps": 2},
)
NAMES = ("kernel", "bias", "gamma")
#: constraint case -> (class name, arguments), applied to START[2] (shape (2, 3, 2))
CONSTRAINTS = {
    "non_neg": ("NonNeg", {}),
    "max_norm": ("MaxNorm", {}),
    "max_norm_axes": ("MaxNorm", {"max_value": 0.8, "axis": [0, 1]}),
    "unit_norm": ("UnitNorm", {"axis": 2}),
    "min_max_norm": ("MinMaxNorm", {}),
    "min_max_norm_rate": ("MinMaxNorm", {"min_value": 1.2, "max_value": 1.5, "rate": 0.5, "axis": 1}),
}
#: the optimizers of issue 14 (AdamW is here for exclude_from_weight_decay)
CLASSES = ["Adadelta", "Adafactor", "Adamax", "Ftrl", "Lamb", "Lion", "Nadam"]
#: slots Keras names after the weight alone (bridge after Keras' attributes ``_r`` and ``_c``)
UNNAMED_SLOTS = {"Adafactor": ("r", "c")}
#: Keras rejects these too (ValueError); bridge names the class and the argument
KERAS_REJECTS = [
    ("Lion", {"beta_1": 0.0}, "lion: beta_1 must be in \\(0, 1\\]"),
    ("Lion", {"beta_1": 1.5}, "lion: beta_1 must be in \\[0.0, 1.0\\]"),
    ("Ftrl", {"initial_accumulator_value": -0.1}, "ftrl: initial_accumulator_value must be >= 0.0"),
    ("Ftrl", {"learning_rate_power": 0.5}, "ftrl: learning_rate_power must be in \\[-inf, 0.0\\]"),
    ("Ftrl", {"l1_regularization_strength": -1.0}, "ftrl: l1_regularization_strength"),
    ("Ftrl", {"l2_regularization_strength": -1.0}, "ftrl: l2_regularization_strength"),
    ("Ftrl", {"l2_shrinkage_regularization_strength": -1.0}, "ftrl: l2_shrinkage_regularization"),
]
#: Keras accepts these and trains on nonsense; bridge refuses
BRIDGE_REJECTS = [
    ("Nadam", {"beta_1": 1.0}, "nadam: beta_1 must be in \\[0.0, 1.0\\)"),
    ("Nadam", {"epsilon": -1e-7}, "nadam: epsilon must be >= 0.0"),
    ("Adamax", {"beta_2": -0.5}, "adamax: beta_2"),
    ("Adamax", {"learning_rate": "fast"}, "adamax: learning_rate must be a number"),
    ("Lion", {"beta_2": 1.0}, "lion: beta_2"),
    ("Lamb", {"beta_1": -0.1}, "lamb: beta_1"),
    ("Adadelta", {"rho": 1.5}, "adadelta: rho must be in \\[0.0, 1.0\\]"),
    ("Adadelta", {"epsilon": float("nan")}, "adadelta: epsilon"),
    ("Adafactor", {"clip_threshold": 0.0}, "adafactor: clip_threshold must be > 0"),
    ("Adafactor", {"beta_2_decay": 0.5}, "adafactor: beta_2_decay must be in \\[-inf, 0.0\\]"),
    ("Ftrl", {"beta": -1.0}, "ftrl: beta must be >= 0.0"),
]
#: Keras rejects these too (ValueError)
KERAS_REJECTS += [
    ("Adam", {"use_ema": True, "ema_momentum": 1.5}, "adam: ema_momentum must be in \\[0.0, 1.0\\]"),
    ("Lion", {"use_ema": True, "ema_overwrite_frequency": -2}, "lion: ema_overwrite_frequency must be"),
    ("Lion", {"use_ema": True, "ema_overwrite_frequency": 2.5}, "lion: ema_overwrite_frequency must be"),
    ("Adam", {"gradient_accumulation_steps": 1}, "adam: gradient_accumulation_steps must be an int >= 2"),
]

_PROGRAM = """
import json, sys
import numpy as np
import keras

request = json.loads(sys.stdin.read())
start = [np.asarray(w, np.float32) for w in request["start"]]
trajectories = {}
for case, (name, kwargs) in request["cases"].items():
    variables = [keras.Variable(w, name=n) for w, n in zip(start, request["names"])]
    opt = getattr(keras.optimizers, name)(**kwargs)
    if case in request["excluded"]:
        indices, names = request["excluded"][case]
        opt.exclude_from_weight_decay([variables[i] for i in indices], names)
    steps = []
    for grads in request["grads"]:
        opt.apply([keras.ops.convert_to_tensor(np.asarray(g, np.float32)) for g in grads], variables)
        steps.append([np.asarray(v.numpy()).tolist() for v in variables])
    if kwargs.get("use_ema"):
        opt.finalize_variable_values(variables)
        steps.append([np.asarray(v.numpy()).tolist() for v in variables])
    trajectories[case] = steps
slots, configs = {}, {}
for name in request["classes"]:
    opt = getattr(keras.optimizers, name)()
    opt.build([keras.Variable(np.zeros((2, 2), np.float32), name="w0")])
    paths = [v.path.removeprefix(f"{opt.name}/") for v in opt.variables]
    slots[name] = ["?" if p == "w0" else p.removeprefix("w0_") for p in paths if p.startswith("w0")]
    configs[name] = sorted(opt.get_config())
projected = {}
weight = np.asarray(request["weight"], np.float32)
for case, (name, kwargs) in request["constraints"].items():
    constraint = getattr(keras.constraints, name)(**kwargs)
    projected[case] = [np.asarray(constraint(weight)).tolist(), constraint.get_config()]
verdicts = []
for name, kwargs in request["rejects"]:
    try:
        getattr(keras.optimizers, name)(**kwargs)
        verdicts.append("accepted")
    except ValueError:
        verdicts.append("ValueError")
answer = {"trajectories": trajectories, "slots": slots, "configs": configs, "rejects": verdicts}
print(json.dumps({**answer, "constraints": projected}))
"""

# Keras options bridge has no counterpart of (loss scaling is LossScaleOptimizer's)
KERAS_ONLY = {"loss_scale_factor"}


#: Keras itself, on both its backends (one process each)
NEEDS_KERAS = pytest.mark.needs("keras", "tensorflow", "torch")


@pytest.fixture(scope="module")
def keras_by_backend() -> dict:
    """Keras' trajectories, slot names, config keys and verdicts per Keras backend (the two
    processes run at once: most of their time is importing Keras)."""
    query = json.dumps(
        {
            "start": [w.tolist() for w in START],
            "grads": [[g.tolist() for g in step] for step in GRADS],
            "cases": CASES,
            "excluded": EXCLUDED,
            "names": NAMES,
            "constraints": CONSTRAINTS,
            "weight": START[2].tolist(),
            "classes": CLASSES,
            "rejects": [[name, kwargs] for name, kwargs, _ in KERAS_REJECTS],
        }
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        answers = pool.map(lambda b: keras_json(_PROGRAM, backend=b, stdin=query), KERAS_BACKENDS)
        return dict(zip(KERAS_BACKENDS, answers, strict=True))


@pytest.fixture(params=KERAS_BACKENDS)
def keras_answers(request, keras_by_backend):
    """The answers of Keras on one Keras backend."""
    return keras_by_backend[request.param]


def bridge_trajectory(name: str, kwargs: dict, excluded=None) -> list[list[np.ndarray]]:
    """The weights after each step, on the current bridge backend, in float32."""
    opt = getattr(optim, name)(**kwargs)
    variables = [br.Variable(br.tensor(w, dtype="float32"), name=n) for w, n in zip(START, NAMES)]
    if excluded is not None:
        indices, names = excluded
        opt.exclude_from_weight_decay([variables[i] for i in indices], names)
    steps = []
    for grads in GRADS:
        opt.apply([br.tensor(g, dtype="float32") for g in grads], variables)
        steps.append([v.numpy() for v in variables])
    if kwargs.get("use_ema"):
        opt.finalize_variable_values(variables)
        steps.append([v.numpy() for v in variables])
    return steps


@NEEDS_KERAS
@pytest.mark.slow  # the first test pays for the Keras processes
@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_keras(case, keras_answers, backend):
    name, kwargs = CASES[case]
    ours = bridge_trajectory(name, kwargs, EXCLUDED.get(case))
    theirs = keras_answers["trajectories"][case]
    for step, (mine, keras_step) in enumerate(zip(ours, theirs, strict=True)):
        for a, b in zip(mine, keras_step, strict=True):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{case}, step {step + 1}")


@NEEDS_KERAS
def test_a_different_rule_fails_the_comparison(keras_answers, backend):
    """The comparison can fail: Adam's trajectory is not Nadam's."""
    ours = bridge_trajectory("Adam", CASES["nadam"][1])[-1][0]
    assert not np.allclose(ours, keras_answers["trajectories"]["nadam"][-1][0], rtol=RTOL, atol=ATOL)
    decayed = bridge_trajectory(*CASES["adamw_excluding"])[-1]
    spared = keras_answers["trajectories"]["adamw_excluding"][-1]
    for i in (1, 2):  # the weights spared from decay
        assert not np.allclose(decayed[i], spared[i], rtol=RTOL, atol=ATOL)


def test_exclude_from_weight_decay_comes_before_the_first_step(backend):
    opt = optim.AdamW(0.1)
    w = br.Variable(br.ones((2,)))
    opt.apply([br.ones((2,))], [w])
    with pytest.raises(br.InvalidArgumentError, match="adamw: call exclude_from_weight_decay"):
        opt.exclude_from_weight_decay([w])


@NEEDS_KERAS
@pytest.mark.parametrize("name", CLASSES)
def test_slot_names_and_config_keys_are_keras(name, keras_answers, backend):
    opt = getattr(optim, name)()
    unnamed = UNNAMED_SLOTS.get(name, ())
    assert ["?" if s in unnamed else s for s in opt.slot_names] == keras_answers["slots"][name]
    config = opt.get_config()
    assert set(keras_answers["configs"][name]) - KERAS_ONLY == set(config) - {"check_finite"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_round_trip(case, backend):
    name, kwargs = CASES[case]
    opt = getattr(optim, name)(**kwargs, name="mine")
    config = opt.get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    clone = type(opt).from_config(config)
    assert type(clone) is type(opt) and clone.get_config() == config
    assert optim.deserialize(optim.serialize(opt)).get_config() == config
    assert type(optim.get(name.lower())) is type(opt)


@NEEDS_KERAS
def test_bad_arguments_raise_naming_class_and_argument(keras_answers):
    assert keras_answers["rejects"] == ["ValueError"] * len(KERAS_REJECTS)
    for name, kwargs, message in KERAS_REJECTS + BRIDGE_REJECTS:
        with pytest.raises(br.InvalidArgumentError, match=message) as info:
            getattr(optim, name)(**kwargs)
        assert isinstance(info.value, ValueError | TypeError)


@pytest.mark.bridge_requires("autodiff", "variables")
@pytest.mark.parametrize("name", CLASSES)
def test_state_is_saved_and_training_continues(name, backend, tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    model = nn.Sequential([nn.Dense(4, activation="tanh"), nn.Dense(2)])
    model.compile(optimizer=getattr(optim, name)(0.01), loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "model.bridge")
    loaded = nn.load_model(tmp_path / "model.bridge")
    before = model.optimizer.named_state(weight_paths(model))
    after = loaded.optimizer.named_state(weight_paths(loaded))
    assert set(before) == set(after) and len(before) > 3
    for key in before:
        np.testing.assert_array_equal(after[key].numpy(), before[key].numpy(), err_msg=key)
    expected = model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False).history["loss"]
    assert loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False).history["loss"] == expected


def test_skipped_step_changes_nothing(backend):
    """A step with a NaN gradient leaves weights, slots and Nadam's u_product alone."""
    for name in CLASSES:
        opt = getattr(optim, name)(0.1)
        w = br.Variable(br.tensor([1.0, 2.0]))
        opt.apply([br.tensor([0.5, -0.5])], [w])
        state = [v.numpy().copy() for v in (w, *opt.variables)]
        opt.apply([br.tensor([float("nan"), 1.0])], [w])
        assert opt.nonfinite_step == 2
        for before, v in zip(state, (w, *opt.variables), strict=True):
            np.testing.assert_array_equal(v.numpy(), before, err_msg=f"{name} {v.name}")


@NEEDS_KERAS
@pytest.mark.parametrize("case", sorted(CONSTRAINTS))
def test_constraints_match_keras(case, keras_answers, backend):
    name, kwargs = CONSTRAINTS[case]
    constraint = getattr(constraints, name)(**kwargs)
    projected, config = keras_answers["constraints"][case]
    result = constraint(br.tensor(START[2], dtype="float32")).numpy()
    np.testing.assert_allclose(result, projected, rtol=RTOL, atol=ATOL)
    assert not np.allclose(result, START[2], rtol=RTOL, atol=ATOL), "the case projects nothing"
    assert constraint.get_config() == config
    again = constraints.deserialize(constraints.serialize(constraint))
    assert type(again) is type(constraint) and again.get_config() == config


def test_constraints_reject_bad_arguments():
    for make, message in [
        (lambda: constraints.MaxNorm(-1.0), "MaxNorm: max_value must be >= 0.0"),
        (lambda: constraints.MinMaxNorm(1.0, 0.5), "MinMaxNorm: max_value must be >= 1.0"),
        (lambda: constraints.MinMaxNorm(rate=2.0), "MinMaxNorm: rate must be in"),
    ]:
        with pytest.raises(br.InvalidArgumentError, match=message):
            make()
