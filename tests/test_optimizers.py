"""Optimizers: a NumPy float64 reference of each rule, torch.optim and keras.optimizers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge as br
from bridge import optim
from bridge._plugins import load_backend
from bridge.testing import assert_parity
from bridge.testing.conformance.strategies import QUICK_JIT
from bridge.testing.conformance.test_fused_optimizers import WrittenOnceAdam, adam_run

from .keras_reference import keras_json

RNG = np.random.default_rng(11)
STEPS = 6
START = [RNG.standard_normal((3, 2)), RNG.standard_normal((2,))]
GRADS = [[RNG.standard_normal(w.shape) for w in START] for _ in range(STEPS)]


def run_bridge(make_optimizer, dtype="float32"):
    """Final weights after STEPS updates with the fixed gradients, on the current backend."""
    opt = make_optimizer()
    variables = [br.Variable(br.tensor(w, dtype=dtype)) for w in START]
    for grads in GRADS:
        opt.apply([br.tensor(g, dtype=dtype) for g in grads], variables)
    return [v.numpy() for v in variables]


# --- NumPy references, written from the published update rules ----------------------------
def numpy_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    ws = [w.copy() for w in START]
    ms = [np.zeros_like(w) for w in ws]
    for grads in GRADS:
        for w, m, g in zip(ws, ms, grads):
            w -= w * lr * weight_decay
            if momentum:
                m[...] = momentum * m - lr * g
                w += momentum * m - lr * g if nesterov else m
            else:
                w -= lr * g
    return ws


def numpy_adam(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, weight_decay=0.0):
    ws = [w.copy() for w in START]
    ms, vs, vmax = ([np.zeros_like(w) for w in ws] for _ in range(3))
    for t, grads in enumerate(GRADS, start=1):
        for w, m, v, vm, g in zip(ws, ms, vs, vmax, grads):
            w -= w * lr * weight_decay
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g * g
            vm[...] = np.maximum(vm, v)
            w -= lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(vm if amsgrad else v) + eps)
    return ws


def numpy_rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    ws = [w.copy() for w in START]
    vs, ms, gs = ([np.zeros_like(w) for w in ws] for _ in range(3))
    for grads in GRADS:
        for w, v, m, mg, g in zip(ws, vs, ms, gs, grads):
            v[...] = rho * v + (1 - rho) * g * g
            denominator = v + eps
            if centered:
                mg[...] = rho * mg + (1 - rho) * g
                denominator = denominator - mg * mg
            increment = lr * g / np.sqrt(denominator)
            if momentum:
                m[...] = momentum * m + increment
                w -= m
            else:
                w -= increment
    return ws


def numpy_adagrad(lr, initial=0.1, eps=1e-7):
    ws = [w.copy() for w in START]
    accs = [np.full_like(w, initial) for w in ws]
    for grads in GRADS:
        for w, a, g in zip(ws, accs, grads):
            a += g * g
            w -= lr * g / np.sqrt(a + eps)
    return ws


CASES = {
    "sgd": (lambda: optim.SGD(0.1), lambda: numpy_sgd(0.1)),
    "sgd_momentum": (lambda: optim.SGD(0.1, momentum=0.9), lambda: numpy_sgd(0.1, 0.9)),
    "sgd_nesterov": (lambda: optim.SGD(0.1, momentum=0.8, nesterov=True), lambda: numpy_sgd(0.1, 0.8, True)),
    "sgd_weight_decay": (
        lambda: optim.SGD(0.1, weight_decay=0.01),
        lambda: numpy_sgd(0.1, weight_decay=0.01),
    ),
    "adam": (lambda: optim.Adam(0.01), lambda: numpy_adam(0.01)),
    "adam_amsgrad": (
        lambda: optim.Adam(0.01, beta_1=0.8, amsgrad=True),
        lambda: numpy_adam(0.01, 0.8, amsgrad=True),
    ),
    "adamw": (lambda: optim.AdamW(0.01, weight_decay=0.1), lambda: numpy_adam(0.01, weight_decay=0.1)),
    "rmsprop": (lambda: optim.RMSprop(0.01), lambda: numpy_rmsprop(0.01)),
    "rmsprop_momentum_centered": (
        lambda: optim.RMSprop(0.01, momentum=0.9, centered=True),
        lambda: numpy_rmsprop(0.01, momentum=0.9, centered=True),
    ),
    "adagrad": (lambda: optim.Adagrad(0.1), lambda: numpy_adagrad(0.1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizers_match_a_numpy_reference(name):
    make, reference = CASES[name]
    assert_parity(
        lambda: run_bridge(make), reference=lambda: reference(), rtol=2e-6, atol=1e-6, requires=("variables",)
    )


# --- the frameworks' own optimizers ---------------------------------------------------------
def run_torch(make):
    import torch

    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in START]
    opt = make(params)
    for grads in GRADS:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in params]


TORCH = {
    # bridge follows Keras; these settings are where torch.optim defines the same update
    "sgd_momentum": (
        lambda: optim.SGD(0.1, momentum=0.9),
        lambda p: __import__("torch").optim.SGD(p, 0.1, 0.9),
    ),
    "sgd_nesterov": (
        lambda: optim.SGD(0.1, momentum=0.9, nesterov=True),
        lambda p: __import__("torch").optim.SGD(p, 0.1, 0.9, nesterov=True),
    ),
    "adam": (
        lambda: optim.Adam(0.01, epsilon=1e-12),
        lambda p: __import__("torch").optim.Adam(p, 0.01, eps=1e-12),
    ),
    "adamw": (
        lambda: optim.AdamW(0.01, weight_decay=0.1, epsilon=1e-12),
        lambda p: __import__("torch").optim.AdamW(p, 0.01, eps=1e-12, weight_decay=0.1),
    ),
    "adam_amsgrad": (
        lambda: optim.Adam(0.01, epsilon=1e-12, amsgrad=True),
        lambda p: __import__("torch").optim.Adam(p, 0.01, eps=1e-12, amsgrad=True),
    ),
    "rmsprop": (
        lambda: optim.RMSprop(0.01, rho=0.99, epsilon=1e-14),
        lambda p: __import__("torch").optim.RMSprop(p, 0.01, alpha=0.99, eps=1e-14),
    ),
    "rmsprop_centered_momentum": (
        lambda: optim.RMSprop(0.01, rho=0.9, momentum=0.5, centered=True, epsilon=1e-14),
        lambda p: __import__("torch").optim.RMSprop(
            p, 0.01, alpha=0.9, eps=1e-14, momentum=0.5, centered=True
        ),
    ),
    "adagrad": (
        lambda: optim.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=1e-14),
        lambda p: __import__("torch").optim.Adagrad(p, 0.1, initial_accumulator_value=0.1, eps=1e-14),
    ),
}


@pytest.mark.needs("torch")
@pytest.mark.parametrize("name", sorted(TORCH))
def test_optimizers_match_torch_optim(name):
    ours, theirs = TORCH[name]
    with br.use_backend("torch"):
        result = run_bridge(ours, dtype="float64")
    for a, b in zip(result, run_torch(theirs)):  # float64; epsilon placement differs by ~1e-8
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def run_keras(make):
    import keras

    variables = [keras.Variable(w.astype(np.float32)) for w in START]
    opt = make(keras)
    for grads in GRADS:
        opt.apply([g.astype(np.float32) for g in grads], variables)
    return [np.asarray(v.numpy()) for v in variables]


KERAS = {
    "sgd_nesterov": (
        lambda: optim.SGD(0.1, momentum=0.9, nesterov=True),
        lambda k: k.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    ),
    "adam_amsgrad": (lambda: optim.Adam(0.01, amsgrad=True), lambda k: k.optimizers.Adam(0.01, amsgrad=True)),
    "adamw": (
        lambda: optim.AdamW(0.01, weight_decay=0.1),
        lambda k: k.optimizers.AdamW(0.01, weight_decay=0.1),
    ),
    "rmsprop": (
        lambda: optim.RMSprop(0.01, momentum=0.5, centered=True),
        lambda k: k.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    ),
    "adagrad": (lambda: optim.Adagrad(0.1), lambda k: k.optimizers.Adagrad(0.1)),
    "sgd_clipnorm": (lambda: optim.SGD(0.1, clipnorm=0.5), lambda k: k.optimizers.SGD(0.1, clipnorm=0.5)),
    "adam_global_clipnorm": (
        lambda: optim.Adam(0.01, global_clipnorm=0.5),
        lambda k: k.optimizers.Adam(0.01, global_clipnorm=0.5),
    ),
    "sgd_clipvalue": (lambda: optim.SGD(0.1, clipvalue=0.3), lambda k: k.optimizers.SGD(0.1, clipvalue=0.3)),
}


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.parametrize("name", sorted(KERAS))
def test_optimizers_match_keras(name):
    ours, theirs = KERAS[name]
    with br.use_backend("tensorflow"):
        result = run_bridge(ours)
    for a, b in zip(result, run_keras(theirs)):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-7)


@pytest.mark.needs("keras", "torch", "tensorflow")
def test_schedules_match_keras():
    import keras

    pairs = [
        (optim.ExponentialDecay(0.1, 10, 0.5), keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
        (
            optim.ExponentialDecay(0.1, 3, 0.5, staircase=True),
            keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
        ),
        (optim.CosineDecay(0.1, 20, alpha=0.1), keras.optimizers.schedules.CosineDecay(0.1, 20, alpha=0.1)),
        (
            optim.PiecewiseConstantDecay([3, 7], [0.1, 0.01, 0.001]),
            keras.optimizers.schedules.PiecewiseConstantDecay([3, 7], [0.1, 0.01, 0.001]),
        ),
    ]
    for ours, theirs in pairs:
        for step in (0, 1, 3, 4, 7, 8, 25):
            for backend in ("torch", "tensorflow"):
                value = float(ours(br.tensor(step, backend=backend)))
                assert value == pytest.approx(float(theirs(step)), rel=1e-6), (type(ours).__name__, step)


@pytest.mark.bridge_requires("variables")
def test_schedule_and_callable_learning_rates_follow_iterations(backend):
    opt = optim.SGD(optim.PiecewiseConstantDecay([1], [1.0, 0.5]))
    w = br.Variable(br.tensor([0.0]))
    for _ in range(3):
        opt.apply([br.tensor([1.0])], [w])
    assert w.numpy()[0] == pytest.approx(-2.5) and int(opt.iterations.numpy()) == 3  # steps 0, 1: 1.0
    opt2 = optim.SGD(lambda step: 0.1 * (step.astype("float32") + 1))
    opt2.apply_gradients(zip([br.tensor([1.0])], [w]))
    assert w.numpy()[0] == pytest.approx(-2.6)


@pytest.mark.bridge_requires("variables")
def test_learning_rate_can_be_changed(backend):
    opt = optim.SGD(0.5)
    w = br.Variable(br.tensor([1.0]))
    opt.apply([br.tensor([1.0])], [w])
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25
    opt.apply([br.tensor([1.0])], [w])
    assert w.numpy()[0] == pytest.approx(0.25)
    assert len(opt.variables) == 2 and opt.get_config()["learning_rate"] == 0.25


@pytest.mark.bridge_requires("variables")
def test_optimizer_errors_leave_variables_unchanged(backend):
    opt = optim.Adam(0.1)
    w, b = br.Variable(br.tensor([1.0, 2.0]), name="w"), br.Variable(br.tensor([0.5]), name="b")
    with pytest.raises(br.InvalidArgumentError, match="1 gradients for 2 variables"):
        opt.apply([br.tensor([1.0, 1.0])], [w, b])
    opt.apply([br.tensor([1.0, 1.0]), br.tensor([1.0])], [w, b])
    before = [w.numpy(), b.numpy()]
    opt.apply([br.tensor([1.0, 1.0]), br.tensor([float("nan")])], [w, b])  # skipped, no raise
    np.testing.assert_array_equal(w.numpy(), before[0])
    np.testing.assert_array_equal(b.numpy(), before[1])
    assert int(opt.iterations.numpy()) == 1 and opt.nonfinite_step == 2
    with pytest.raises(br.NonFiniteError, match=r"step 2 produced non-finite gradients") as info:
        opt.raise_if_nonfinite()
    assert isinstance(info.value, FloatingPointError)
    with pytest.raises(br.InvalidArgumentError, match="unknown optimizer"):
        optim.get("adamm")


OPTIMIZERS_WITH_SLOTS = {
    "sgd": lambda: optim.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: optim.Adam(0.1, amsgrad=True),
    "adamw": lambda: optim.AdamW(0.1, clipnorm=1.0),
    "rmsprop": lambda: optim.RMSprop(0.1, momentum=0.5, centered=True),
    "adagrad": lambda: optim.Adagrad(0.1, global_clipnorm=1.0),
}


def optimizer_state(opt, variables):
    return [v.numpy().copy() for v in [*variables, *opt.variables]]


def assert_same_state(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.bridge_requires("variables")
@given(
    kind=st.sampled_from(sorted(OPTIMIZERS_WITH_SLOTS)),
    bad=st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    where=st.tuples(st.integers(0, 1), st.integers(0, 1)),
)
def test_a_nonfinite_step_changes_no_variable_slot_or_counter(backend, kind, bad, where):
    opt = OPTIMIZERS_WITH_SLOTS[kind]()
    variables = [br.Variable(br.tensor(w, dtype="float32")) for w in START]
    opt.apply([br.tensor(g, dtype="float32") for g in GRADS[0]], variables)
    before = optimizer_state(opt, variables)
    grads = [g.astype(np.float32) for g in GRADS[1]]
    grads[where[0]].flat[where[1]] = bad
    opt.apply([br.tensor(g) for g in grads], variables)
    assert_same_state(optimizer_state(opt, variables), before)
    assert opt.nonfinite_step == 2 and int(opt.iterations.numpy()) == 1
    opt.apply([br.tensor(g, dtype="float32") for g in GRADS[2]], variables)  # halted until reset
    assert_same_state(optimizer_state(opt, variables), before)
    opt.reset_nonfinite()
    opt.apply([br.tensor(g, dtype="float32") for g in GRADS[1]], variables)
    assert int(opt.iterations.numpy()) == 2 and opt.nonfinite_step is None
    expected = run_bridge_steps(OPTIMIZERS_WITH_SLOTS[kind], [GRADS[0], GRADS[1]])
    for got, want in zip(variables, expected):  # as if the bad step had never been given
        np.testing.assert_array_equal(got.numpy(), want)


def run_bridge_steps(make_optimizer, steps):
    opt = make_optimizer()
    variables = [br.Variable(br.tensor(w, dtype="float32")) for w in START]
    for grads in steps:
        opt.apply([br.tensor(g, dtype="float32") for g in grads], variables)
    return [v.numpy() for v in variables]


@pytest.mark.bridge_requires("jit", "variables")
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
@pytest.mark.slow
def test_a_nonfinite_step_under_jit_is_skipped_as_in_eager_code(backend, kind):
    def run(jit):
        opt = OPTIMIZERS_WITH_SLOTS[kind]()
        variables = [br.Variable(br.tensor(w, dtype="float32")) for w in START]
        step = br.jit(lambda *grads: opt.apply(list(grads), variables), enabled=jit, **QUICK_JIT)
        grads = [[br.tensor(g, dtype="float32") for g in GRADS[i]] for i in range(3)]
        grads[1][0] = grads[1][0] * float("nan")
        states = []
        for step_grads in [grads[0], *grads]:  # finite, finite, NaN, finite
            step(*step_grads)
            states.append(optimizer_state(opt, variables))
        return states, opt.nonfinite_step

    eager, compiled = run(False), run(True)
    assert eager[1] == compiled[1] == 3
    assert_same_state(eager[0][2], eager[0][1])  # the NaN step and the one after changed nothing
    assert_same_state(eager[0][3], eager[0][1])
    for got, want in zip(compiled[0], eager[0]):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    assert all(np.isfinite(a).all() for a in compiled[0][-1])


@pytest.mark.bridge_requires("jit", "variables", "autodiff")
@pytest.mark.slow
def test_optimizer_steps_under_jit_match_eager(backend):
    def train(jit):
        br.random.seed(0)
        w = br.Variable(br.random.normal((3,), seed=1))
        opt = optim.Adam(0.1)

        def step():
            loss, g = br.value_and_grad(lambda v: br.ops.sum(v**2))(w)
            opt.apply([g], [w])
            return loss

        step = br.jit(step, enabled=jit, **QUICK_JIT)
        return [float(step()) for _ in range(4)]

    np.testing.assert_allclose(train(True), train(False), rtol=1e-6)


# --- hyper-parameter checks: the reference framework raises ValueError for the same value -------
TORCH_REJECTS = [
    (lambda: optim.SGD(-0.1), "torch.optim.SGD(p, lr=-0.1)", "learning_rate must be >= 0"),
    (lambda: optim.Adam(float("nan")), "torch.optim.Adam(p, lr=float('nan'))", "learning_rate"),
    (
        lambda: optim.Adam(beta_1=1.0),
        "torch.optim.Adam(p, betas=(1.0, 0.999))",
        r"beta_1 must be in \[0.0, 1.0\)",
    ),
    (lambda: optim.Adam(beta_2=-0.1), "torch.optim.Adam(p, betas=(0.9, -0.1))", "beta_2"),
    (lambda: optim.Adam(epsilon=-1.0), "torch.optim.Adam(p, eps=-1.0)", "epsilon"),
    (lambda: optim.AdamW(weight_decay=-1.0), "torch.optim.AdamW(p, weight_decay=-1.0)", "weight_decay"),
    (lambda: optim.RMSprop(rho=-0.5), "torch.optim.RMSprop(p, alpha=-0.5)", r"rho must be in \[0.0, 1.0\)"),
    (lambda: optim.RMSprop(momentum=-1.0), "torch.optim.RMSprop(p, momentum=-1.0)", "momentum"),
    (
        lambda: optim.Adagrad(initial_accumulator_value=-1.0),
        "torch.optim.Adagrad(p, initial_accumulator_value=-1.0)",
        "initial_accumulator_value",
    ),
]
KERAS_REJECTS = [
    (
        lambda: optim.SGD(momentum=-1.0),
        "keras.optimizers.SGD(momentum=-1.0)",
        r"momentum must be in \[0.0, 1.0\]",
    ),
    (lambda: optim.SGD(momentum=1.5), "keras.optimizers.SGD(momentum=1.5)", "momentum"),
    (
        lambda: optim.AdamW(weight_decay=None),
        "keras.optimizers.AdamW(weight_decay=None)",
        "weight_decay must be a float",
    ),
    (
        lambda: optim.Adam(clipnorm=1.0, clipvalue=1.0),
        "keras.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)",
        "at most one",
    ),
]
ISSUE_REJECTS = [  # no reference rejects these; bridge does, rather than train on nonsense
    (lambda: optim.RMSprop(rho=1.0), "rho"),
    (lambda: optim.Adam(clipnorm=-1.0), "clipnorm must be >= 0"),
    (lambda: optim.SGD(clipvalue=-0.5), "clipvalue"),
    (lambda: optim.SGD(global_clipnorm=float("nan")), "global_clipnorm"),
    (lambda: optim.ExponentialDecay(0.1, 0, 0.5), "decay_steps must be > 0"),
    (lambda: optim.CosineDecay(0.1, -5), "decay_steps"),
]


@pytest.mark.needs("torch")
def test_bad_hyper_parameters_raise_where_torch_does():
    import torch

    p = [torch.nn.Parameter(torch.ones(2))]
    for make, reference, message in TORCH_REJECTS:
        with pytest.raises(ValueError):
            eval(reference, {"torch": torch, "p": p})
        with pytest.raises(br.InvalidArgumentError, match=message):
            make()


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_bad_hyper_parameters_raise_where_keras_does():
    program = (
        "import json, keras\n"
        "verdicts = []\n"
        "for source in {!r}:\n"
        "    try:\n"
        "        eval(source)\n"
        "        verdicts.append('accepted')\n"
        "    except ValueError:\n"
        "        verdicts.append('ValueError')\n"
        "print(json.dumps(verdicts))\n"
    )
    verdicts = keras_json(program.format([reference for _, reference, _ in KERAS_REJECTS]))
    assert verdicts == ["ValueError"] * len(KERAS_REJECTS)
    for make, _, message in KERAS_REJECTS:
        with pytest.raises(br.InvalidArgumentError, match=message):
            make()
    for make, message in ISSUE_REJECTS:
        with pytest.raises(br.InvalidArgumentError, match=message) as info:
            make()
        assert isinstance(info.value, ValueError)


@pytest.mark.bridge_requires("variables")
def test_a_negative_learning_rate_cannot_be_set(backend):
    opt = optim.SGD(0.1)
    with pytest.raises(br.InvalidArgumentError, match="learning_rate must be >= 0"):
        opt.learning_rate = -1.0
    assert opt.learning_rate == 0.1


def test_schedules_accept_a_python_int_step(backend):
    got = [
        float(optim.ExponentialDecay(0.1, 10, 0.5)(3)),
        float(optim.ExponentialDecay(0.1, 10, 0.5, staircase=True)(13)),
        float(optim.CosineDecay(0.1, 10, alpha=0.2)(4)),
        float(optim.PiecewiseConstantDecay([2], [1.0, 0.5])(3)),
    ]
    cosine = 0.5 * (1 + np.cos(np.pi * 0.4))
    expected = [0.1 * 0.5**0.3, 0.1 * 0.5, 0.1 * (cosine * 0.8 + 0.2), 0.5]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    with pytest.raises(br.InvalidArgumentError, match="step must be >= 0"):
        optim.ExponentialDecay(0.1, 10, 0.5)(-1)


# --- a rule of one's own: update_step ------------------------------------------------------
class SignMomentum(optim.Optimizer):
    """Sign SGD with momentum, written against the public override point only."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.05, beta=0.9, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta = beta

    def update_step(self, variable, gradient, learning_rate):
        m = self.slot(variable, "momentum")
        self.assign(m, m * self.beta + gradient * (1.0 - self.beta))
        self.assign_sub(variable, br.ops.sign(m) * learning_rate)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


def numpy_sign_momentum_step(ws, ms, grads, lr=0.05, beta=0.9):
    for w, m, g in zip(ws, ms, grads):
        m[...] = beta * m + (1.0 - beta) * g
        w -= lr * np.sign(m)


X = RNG.standard_normal((16, 3))
Y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
W0, B0 = RNG.standard_normal((3, 1)) * 0.1, np.zeros(1)


def numpy_mse_gradients(w, b):
    error = X @ w + b - Y
    return [2.0 * X.T @ error / error.size, 2.0 * error.sum(axis=0) / error.size]


def reference_trajectory(steps):
    """Weights after each step of sign-momentum on the MSE of a linear model, in float64."""
    ws, ms, out = [W0.copy(), B0.copy()], [np.zeros_like(W0), np.zeros_like(B0)], []
    for _ in range(steps):
        numpy_sign_momentum_step(ws, ms, numpy_mse_gradients(*ws))
        out.append([w.copy() for w in ws])
    return out


@pytest.mark.bridge_requires("variables", "autodiff")
def test_a_user_rule_trains_in_fit_step_by_step_as_numpy(backend):
    model = br.nn.Sequential([br.nn.Dense(1)])
    model.compile(optimizer=SignMomentum(), loss="mse")
    model(br.tensor(X[:1], dtype="float32"))
    model.set_weights([W0.astype(np.float32), B0.astype(np.float32)])
    for expected in reference_trajectory(5):
        model.fit(
            X.astype(np.float32), Y.astype(np.float32), batch_size=16, epochs=1, shuffle=False, verbose=0
        )
        for got, want in zip(model.get_weights(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.bridge_requires("variables", "autodiff")
def test_a_user_rule_trains_in_a_custom_loop_and_skips_a_nonfinite_step(backend):
    w, b = br.Variable(br.tensor(W0, dtype="float32")), br.Variable(br.tensor(B0, dtype="float32"))
    x, y = br.tensor(X, dtype="float32"), br.tensor(Y, dtype="float32")
    opt = SignMomentum()

    def loss(w, b):
        return br.ops.mean(br.ops.square(x @ w + b - y))

    for expected in reference_trajectory(3):
        opt.apply(list(br.grad(loss, argnums=(0, 1))(w, b)), [w, b])
        for got, want in zip([w, b], expected):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    before = optimizer_state(opt, [w, b])
    opt.apply([br.tensor(np.full((3, 1), np.nan), dtype="float32"), br.tensor([1.0])], [w, b])
    assert_same_state(optimizer_state(opt, [w, b]), before)
    assert opt.nonfinite_step == 4 and int(opt.iterations.numpy()) == 3


@pytest.mark.bridge_requires("variables")
def test_a_slot_that_was_never_declared_is_named_in_the_error(backend):
    class Forgetful(SignMomentum):
        slot_names = ()

    with pytest.raises(br.InvalidArgumentError, match="no slot 'momentum' for variable"):
        Forgetful().apply([br.tensor([1.0])], [br.Variable(br.tensor([0.0]))])


# --- configs ------------------------------------------------------------------------------------
CONFIGURED = {
    "SGD": lambda: optim.SGD(0.2, momentum=0.5, nesterov=True, clipnorm=1.0),
    "Adam": lambda: optim.Adam(0.01, beta_1=0.8, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda: optim.AdamW(0.01, weight_decay=0.02, global_clipnorm=2.0),
    "RMSprop": lambda: optim.RMSprop(0.01, rho=0.8, momentum=0.1, centered=True, clipvalue=0.5),
    "Adagrad": lambda: optim.Adagrad(0.01, initial_accumulator_value=0.2, epsilon=1e-6),
}
SCHEDULE_CONFIGS = {
    "ExponentialDecay": ({"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9}, {}),
    "CosineDecay": ({"initial_learning_rate": 0.1, "decay_steps": 10}, set()),
    "PiecewiseConstantDecay": ({"boundaries": [1, 2], "values": [0.1, 0.2, 0.3]}, {}),
}


@pytest.fixture(scope="module")
def keras_configs():
    program = f"""
import json, keras
optimizers = {{
    name: sorted(getattr(keras.optimizers, name)().get_config()) for name in {sorted(CONFIGURED)!r}
}}
schedules = {{
    name: getattr(keras.optimizers.schedules, name)(**kwargs).get_config()
    for name, kwargs in { ({k: v[0] for k, v in SCHEDULE_CONFIGS.items()})!r}.items()
}}
print(json.dumps({{"optimizers": optimizers, "schedules": schedules}}))
"""
    return keras_json(program)


# Keras options bridge has no counterpart of (moving averages, loss scaling, accumulation)
KERAS_ONLY = {"loss_scale_factor"}  # bridge scales losses with LossScaleOptimizer only


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGURED))
def test_optimizer_configs_round_trip_with_keras_keys(name, keras_configs):
    opt = CONFIGURED[name]()
    config = opt.get_config()
    assert set(keras_configs["optimizers"][name]) - KERAS_ONLY == set(config) - {"check_finite"}
    clone = type(opt).from_config(config)
    assert type(clone) is type(opt) and clone.get_config() == config
    assert optim.deserialize(optim.serialize(opt)).get_config() == config
    assert optim.get({"class_name": name, "config": config}).get_config() == config


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCHEDULE_CONFIGS))
def test_schedule_configs_round_trip_as_keras_writes_them(name, keras_configs, backend):
    theirs = keras_configs["schedules"][name]
    _, keras_only = SCHEDULE_CONFIGS[name]
    ours = getattr(optim, name).from_config({k: v for k, v in theirs.items() if k not in keras_only})
    assert ours.get_config() == {k: v for k, v in theirs.items() if k not in keras_only}
    opt = optim.SGD(ours)
    clone = optim.SGD.from_config(opt.get_config())
    assert type(clone._learning_rate) is type(ours)
    assert clone.get_config() == opt.get_config()
    assert float(clone._learning_rate(3)) == pytest.approx(float(ours(3)))


def test_a_user_optimizer_round_trips_through_custom_objects():
    config = optim.serialize(SignMomentum(0.5, beta=0.7))
    with pytest.raises(br.InvalidArgumentError, match="unknown optimizer 'SignMomentum'"):
        optim.deserialize(config)
    clone = optim.deserialize(config, custom_objects={"SignMomentum": SignMomentum})
    assert isinstance(clone, SignMomentum) and clone.beta == 0.7 and clone.learning_rate == 0.5
    with pytest.raises(
        br.ArgumentTypeError, match="optimizer: expected a name, a config or an instance of Optimizer"
    ):
        optim.get(lambda step: 0.1)


@pytest.mark.bridge_requires("variables")
def test_a_scheduled_learning_rate_reads_as_a_float_before_and_after_steps(backend):
    """The schedule's value at the current step (step 0 before the first), as a float; a
    float rate has no schedule."""
    schedule = optim.ExponentialDecay(0.1, 1, 0.5)
    opt = optim.SGD(schedule)
    assert opt.learning_rate_schedule is schedule
    assert type(opt.learning_rate) is float and opt.learning_rate == pytest.approx(0.1)
    w = br.Variable(br.tensor([0.0]))
    opt.apply([br.tensor([1.0])], [w])
    assert type(opt.learning_rate) is float and opt.learning_rate == pytest.approx(0.05)
    assert optim.SGD(0.1).learning_rate_schedule is None


# --- fused fast paths: the same bits as the rule written once ------------------------------
@pytest.mark.needs("torch")
@given(
    shapes=st.lists(st.sampled_from([(3, 2), (4,), (), (2, 3, 2)]), min_size=1, max_size=3),
    amsgrad=st.booleans(),
    check_finite=st.booleans(),
    weight_decay=st.sampled_from([None, 0.05]),
    nonfinite_at=st.sampled_from([None, 0, 2]),
)
def test_torchs_fused_adam_gives_the_written_once_rules_bits(
    shapes, amsgrad, check_finite, weight_decay, nonfinite_at
):
    assert "adam_update" in load_backend("torch").fast_paths
    if not check_finite:
        nonfinite_at = None  # (NaN then flows into the weights on both paths alike)
    kwargs = {"amsgrad": amsgrad, "check_finite": check_finite, "weight_decay": weight_decay}
    with br.use_backend("torch"):
        fused = adam_run(optim.Adam, shapes, 4, nonfinite_at, **kwargs)
        written_once = adam_run(WrittenOnceAdam, shapes, 4, nonfinite_at, **kwargs)
    assert len(fused) == len(written_once)
    for a, b in zip(fused, written_once):
        np.testing.assert_array_equal(a, b)  # bit for bit


@pytest.mark.needs("torch")
def test_a_subclass_with_its_own_adam_step_is_not_fused_away():
    class HalfAdam(optim.Adam):
        def update_step(self, variable, gradient, learning_rate):
            super().update_step(variable, gradient * 0.5, learning_rate)

    with br.use_backend("torch"):
        halved = adam_run(HalfAdam, [(3,)], 3, None)
        plain = adam_run(optim.Adam, [(3,)], 3, None)
    m = 3  # variable, iterations, learning rate, then the slots m and v
    np.testing.assert_allclose(halved[m], plain[m] * 0.5, rtol=1e-6)  # the subclass's rule ran


@pytest.mark.needs("tensorflow")
def test_tensorflow_keeps_the_written_once_adam():
    # TensorFlow's ResourceApplyAdam takes beta_1 and computes 1 - beta_1 in the variables' dtype:
    # not Keras' coefficient in float32 (a few ulps off), which drifted weights 2e-6 from torch's
    # over 160 steps of training. bridge keeps its rule there (docs/topics/performance.md).
    assert "adam_update" not in load_backend("tensorflow").fast_paths


@pytest.mark.needs("torch")
@pytest.mark.parametrize("amsgrad", [False, True])
def test_torchs_multi_tensor_adam_for_gpus_gives_its_per_tensor_adams_bits(amsgrad):
    import torch

    from bridge_torch.backend import _adam_foreach, _adam_one

    generator = torch.Generator().manual_seed(3)
    shapes = [(4, 3), (3,), ()]

    def state() -> list[list[torch.Tensor]]:  # variables, m, v, v_max: the same on both sides
        generator.manual_seed(3)
        return [[torch.randn(s, generator=generator).abs() for s in shapes] for _ in range(4)]

    grads = [torch.randn(s, generator=torch.Generator().manual_seed(4)) for s in shapes]
    rates = (torch.tensor(0.1), 0.001, torch.tensor(0.01), 1e-7)
    per_tensor, multi_tensor = state(), state()
    for _ in range(3):
        variables, m, v, v_max = per_tensor
        for i in range(len(shapes)):
            _adam_one(variables[i], grads[i], m[i], v[i], v_max[i] if amsgrad else None, *rates)
        variables, m, v, v_max = multi_tensor
        _adam_foreach(variables, grads, m, v, v_max if amsgrad else None, *rates)
    for ours, theirs in zip(per_tensor, multi_tensor):
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)


@pytest.mark.needs("torch")
def test_a_gradient_of_another_shape_gets_the_written_once_rules_broadcasting():
    results = []
    with br.use_backend("torch"):
        for cls in (optim.Adam, WrittenOnceAdam):
            variable = br.Variable(br.tensor([1.0, 2.0, 3.0]))
            cls(0.1).apply([br.tensor(0.5)], [variable])  # a scalar gradient for three weights
            results.append(variable.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], [0.9, 1.9, 2.9], rtol=1e-5)  # Adam's first step: lr * sign


@pytest.mark.parametrize("finite", [True, False])
def test_an_eager_cpu_step_zeroes_its_gradients_only_when_it_is_skipped(backend, monkeypatch, finite):
    """check_finite reads its answer on the host there (a read waits for nothing on a CPU): a
    finite step leaves out the pass that zeroes the gradients; a skipped one still zeroes them."""
    gradients = [br.tensor([1.0, 2.0 if finite else float("nan")]), br.tensor([3.0])]
    zeroed = []
    where = optim.ops.where

    def counting_where(condition, x, y):
        zeroed.extend(1 for g in gradients if x is g)
        return where(condition, x, y)

    monkeypatch.setattr(optim.ops, "where", counting_where)
    weights = [br.Variable(br.zeros((2,))), br.Variable(br.zeros((1,)))]
    optim.SGD(0.1).apply(gradients, weights)
    assert len(zeroed) == (0 if finite else 2)
    expected = [[-0.1, -0.2], [-0.3]] if finite else [[0.0, 0.0], [0.0]]
    for weight, values in zip(weights, expected):
        np.testing.assert_allclose(weight.numpy(), values, rtol=1e-6)
