"""fit's Keras options (class_weight, steps_per_epoch, validation_steps / _batch_size / _freq),
evaluate's return, train_on_batch / test_on_batch / predict_on_batch, metrics_names, PyDataset
and generator inputs, use_ema at the end of fit, Sequential.pop and compute_metrics: on both
bridge backends, against Keras 3 on both Keras backends (one Keras process per Keras backend for
the module: the same initial weights, data, unshuffled batches and SGD)."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import callbacks, losses, metrics, nn, optim
from bridge.data import PyDataset
from bridge.errors import BridgeError, InvalidArgumentError

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

KERAS_BACKENDS = ("tensorflow", "torch")
NEEDS_KERAS = pytest.mark.needs("keras", "tensorflow", "torch")
#: float32 SGD over a few steps, summed in different orders by the frameworks
RTOL, ATOL = 1e-5, 1e-6

RNG = np.random.default_rng(14)
X = RNG.standard_normal((24, 4)).astype(np.float32)
Y = RNG.integers(0, 3, 24)
ONE_HOT = np.eye(3, dtype=np.float32)[Y]
XV, YV = X[:9] * 0.5, Y[:9]
WEIGHTS = [
    RNG.standard_normal((4, 3)).astype(np.float32) * 0.5,
    RNG.standard_normal(3).astype(np.float32) * 0.1,
    RNG.standard_normal((3, 3)).astype(np.float32) * 0.5,
    RNG.standard_normal(3).astype(np.float32) * 0.1,
]
CLASS_WEIGHT = {0: 1.0, 1: 2.5, 2: 0.5}

_PROGRAM = """
import json, sys, warnings
import numpy as np
import keras

warnings.simplefilter("ignore")
r = json.loads(sys.stdin.read())
x, y, onehot = (np.asarray(r[k], np.float32) for k in ("x", "y", "onehot"))
y = y.astype("int32")
xv, yv = np.asarray(r["xv"], np.float32), np.asarray(r["yv"], "int32")
start = [np.asarray(w, np.float32) for w in r["weights"]]
cw = {int(k): v for k, v in r["class_weight"].items()}

def model(loss="sparse_categorical_crossentropy", metrics=("accuracy",), **sgd):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(3)])
    m.set_weights(start)
    loss = {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "categorical_crossentropy": keras.losses.CategoricalCrossentropy(from_logits=True)}[loss]
    m.compile(keras.optimizers.SGD(0.1, **sgd), loss, metrics=list(metrics) if metrics is not None else None)
    return m

def plain(v):
    return np.asarray(v).tolist() if not isinstance(v, (list, dict)) else [np.asarray(i).tolist() for i in v]

def weights(m):
    return [w.tolist() for w in m.get_weights()]

out = {}
m = model()
h = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, class_weight=cw, verbose=0)
out["class_weight_sparse"] = {"history": h.history, "weights": weights(m)}
m = model("categorical_crossentropy")
h = m.fit(x, onehot, batch_size=8, epochs=3, shuffle=False, class_weight=cw, verbose=0)
out["class_weight_onehot"] = {"history": h.history, "weights": weights(m)}
m = model()
m.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
          metrics=["accuracy"],
          weighted_metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2)])
h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, class_weight=cw, verbose=0)
out["weighted_metrics"] = {"history": h.history, "weights": weights(m),
                           "evaluate": m.evaluate(x, y, sample_weight=np.linspace(0.1, 2, 24), verbose=0,
                                                  return_dict=True)}
m = model()
h = m.fit(x, y, batch_size=5, epochs=4, steps_per_epoch=2, validation_data=(xv, yv), validation_steps=1,
          validation_batch_size=4, validation_freq=2, shuffle=False, verbose=0)
out["steps"] = {"history": h.history, "weights": weights(m)}
m = model()
h = m.fit(x, y, batch_size=8, epochs=3, validation_data=(xv, yv), validation_freq=[1, 3], shuffle=False,
          verbose=0)
out["freq_list"] = {"history": h.history}

m = model()
out["evaluate"] = {"list": plain(m.evaluate(x, y, batch_size=7, verbose=0)),
                   "dict": m.evaluate(x, y, batch_size=7, verbose=0, return_dict=True),
                   "names": m.metrics_names}
m = model(metrics=("accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"), "accuracy"))
out["evaluate_twice"] = plain(m.evaluate(x, y, verbose=0))
m = model(metrics=None)
out["evaluate_loss_only"] = {"value": plain(m.evaluate(x, y, verbose=0)), "names": m.metrics_names}
m = model()
first = m.train_on_batch(x[:8], y[:8])
second = m.train_on_batch(x[8:16], y[8:16], class_weight=cw, return_dict=True)
test = m.test_on_batch(x[:8], y[:8])
test_dict = m.test_on_batch(x[:8], y[:8], return_dict=True)
out["on_batch"] = {"train": plain(first), "train_dict": second, "test": plain(test), "test_dict": test_dict,
                   "predict": m.predict_on_batch(x[:5]).tolist(), "weights": weights(m)}
m = model(metrics=None)
out["on_batch_loss_only"] = {"train": plain(m.train_on_batch(x[:8], y[:8])),
                             "test": plain(m.test_on_batch(x, y))}

inp = keras.Input((4,), name="i")
two = keras.Model(inp, [keras.layers.Dense(1, name="a")(inp), keras.layers.Dense(2, name="b")(inp)])
two.set_weights([np.asarray(w, np.float32) for w in r["two_weights"]])
two.compile("sgd", ["mse", "mae"], metrics=[["mae"], ["mse"]])
targets = [np.asarray(r["ya"], np.float32), np.asarray(r["yb"], np.float32)]
names_before = two.metrics_names
out["two_outputs"] = {"list": plain(two.evaluate(x, targets, verbose=0)), "names_before": names_before,
                      "names": two.metrics_names,
                      "dict": two.evaluate(x, targets, verbose=0, return_dict=True)}

class Batches(keras.utils.PyDataset):
    def __init__(self, size, count, **kwargs):
        super().__init__(**kwargs)
        self.size, self.count = size, count
    def __len__(self):
        return self.count
    def __getitem__(self, i):
        s = slice(i * self.size, (i + 1) * self.size)
        return x[s], y[s]

class Endless(keras.utils.PyDataset):
    @property
    def num_batches(self):
        return None
    def __getitem__(self, i):
        s = slice((i % 4) * 6, (i % 4 + 1) * 6)
        return x[s], y[s]

m = model()
h = m.fit(Batches(6, 4), epochs=2, shuffle=False, verbose=0)
out["pydataset"] = {"history": h.history, "weights": weights(m),
                    "evaluate": plain(m.evaluate(Batches(5, 4), verbose=0)),
                    "predict": m.predict(Batches(5, 4), verbose=0).tolist()}
m = model()
h = m.fit(Batches(6, 4), epochs=2, shuffle=False, class_weight=cw, verbose=0)
out["pydataset_class_weight"] = {"history": h.history, "weights": weights(m)}
m = model()
h = m.fit(Endless(), epochs=2, steps_per_epoch=3, shuffle=False, verbose=0)
out["pydataset_endless"] = {"history": h.history, "weights": weights(m)}

def endless():
    i = 0
    while True:
        s = slice((i % 4) * 6, (i % 4 + 1) * 6)
        yield x[s], y[s]
        i += 1

m = model()
h = m.fit(endless(), epochs=2, steps_per_epoch=3, verbose=0)
out["generator"] = {"history": h.history, "weights": weights(m)}
m = model(use_ema=True, ema_momentum=0.5)
h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
out["ema"] = {"history": h.history, "weights": weights(m)}

m = model(use_ema=True, ema_momentum=0.5)
h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, validation_data=(xv, yv), verbose=0,
          callbacks=[keras.callbacks.SwapEMAWeights()])
out["swap_ema"] = {"history": h.history, "weights": weights(m),
                   "evaluate": plain(m.evaluate(xv, yv, verbose=0))}
m = model(use_ema=True, ema_momentum=0.5)
h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, validation_data=(xv, yv), verbose=0,
          callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=True)])
out["swap_ema_epoch"] = {"history": h.history, "weights": weights(m)}

calls = []
def record(name):
    return lambda *args, **kwargs: calls.append([name, *[a for a in args if isinstance(a, int)]])
hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]
spy = keras.callbacks.LambdaCallback(**{name: record(name) for name in hooks})
m = model()
m.fit(x[:10], y[:10], batch_size=5, epochs=2, validation_data=(xv, yv), validation_batch_size=5, verbose=0,
      callbacks=[spy])
m.evaluate(xv, yv, batch_size=5, verbose=0, callbacks=[spy])
m.predict(xv, batch_size=5, verbose=0, callbacks=[spy])
out["hooks"] = calls

m = model()
popped = m.pop()
out["pop"] = {"popped_units": popped.units, "layers": len(m.layers),
              "output": m.predict(x[:3], verbose=0).tolist()}

import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    legacy = keras.Sequential([keras.layers.Dense(3, input_shape=(4,)), keras.layers.Dense(2, input_dim=9)])
inp = keras.Input((4,), name="i")
two_in = keras.Model([inp, keras.Input((2,))], [keras.layers.Dense(3)(inp), keras.layers.Dense(1)(inp)])
out["shapes"] = {"sequential": [list(legacy.input_shape), list(legacy.output_shape)],
                 "functional_in": [list(s) for s in two_in.input_shape],
                 "functional_out": [list(s) for s in two_in.output_shape],
                 "sequential_inputs": len(legacy.inputs),
                 "no_input": hasattr(keras.Sequential([keras.layers.Dense(2)]), "input_shape")}
out["input_shape"] = {"built": legacy.built, "shapes": [list(w.shape) for w in legacy.weights],
                      "warned": any("input_shape" in str(w.message) for w in caught),
                      "config_keys": sorted(legacy.layers[0].get_config())}
print(json.dumps(out))
"""

TWO_WEIGHTS = [
    RNG.standard_normal((4, 1)).astype(np.float32),
    np.zeros(1, np.float32),
    RNG.standard_normal((4, 2)).astype(np.float32),
    np.zeros(2, np.float32),
]
YA, YB = RNG.standard_normal((24, 1)).astype(np.float32), RNG.standard_normal((24, 2)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_by_backend() -> dict:
    """Every Keras reference, per Keras backend (the two processes run at once)."""
    query = json.dumps(
        {
            "x": X.tolist(),
            "y": Y.tolist(),
            "onehot": ONE_HOT.tolist(),
            "xv": XV.tolist(),
            "yv": YV.tolist(),
            "weights": [w.tolist() for w in WEIGHTS],
            "two_weights": [w.tolist() for w in TWO_WEIGHTS],
            "ya": YA.tolist(),
            "yb": YB.tolist(),
            "class_weight": CLASS_WEIGHT,
        }
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        answers = pool.map(lambda b: keras_json(_PROGRAM, backend=b, stdin=query), KERAS_BACKENDS)
        return dict(zip(KERAS_BACKENDS, answers, strict=True))


@pytest.fixture
def keras(keras_by_backend) -> list[dict]:
    """Keras' answers on each Keras backend: each test trains once and compares with both."""
    return list(keras_by_backend.values())


def model(loss: str = "sparse", metrics_: list | None = None, **sgd) -> nn.Sequential:
    """The Keras program's model, with its initial weights, on the current backend."""
    m = nn.Sequential([nn.Input((4,)), nn.Dense(3, activation="tanh"), nn.Dense(3)])
    m.set_weights(WEIGHTS)
    loss_fn = (
        losses.SparseCategoricalCrossentropy(from_logits=True)
        if loss == "sparse"
        else losses.CategoricalCrossentropy(from_logits=True)
    )
    m.compile(optim.SGD(0.1, **sgd), loss_fn, metrics=["accuracy"] if metrics_ is None else metrics_)
    return m


def close(ours, theirs, what: str = "") -> None:
    np.testing.assert_allclose(
        np.asarray(ours, np.float64), np.asarray(theirs, np.float64), rtol=RTOL, atol=ATOL, err_msg=what
    )


def same_history(ours: dict, theirs: dict, keys: tuple[str, ...] | None = None) -> None:
    """The same logs (``keys`` of them where given), each the same values."""
    assert sorted(ours) == sorted(theirs)
    for key in keys or theirs:
        assert np.shape(ours[key]) == np.shape(theirs[key]), key
        close(ours[key], theirs[key], key)


def same_weights(m: nn.Model, theirs: list) -> None:
    for i, (a, b) in enumerate(zip(m.get_weights(), theirs, strict=True)):
        close(a, b, f"weight {i}")


class Batches(PyDataset):
    def __init__(self, size: int, count: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size, self.count, self.ends = size, count, 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        s = slice(i * self.size, (i + 1) * self.size)
        return X[s], Y[s]

    def on_epoch_end(self) -> None:
        self.ends += 1


class Endless(PyDataset):
    @property
    def num_batches(self):
        return None

    def __getitem__(self, i: int):
        s = slice((i % 4) * 6, (i % 4 + 1) * 6)
        return X[s], Y[s]


def endless():
    i = 0
    while True:
        s = slice((i % 4) * 6, (i % 4 + 1) * 6)
        yield X[s], Y[s]
        i += 1


def fit(m: nn.Model, *args, **kwargs) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the epoch that ends early warns, as Keras
        return m.fit(*args, verbose=0, **kwargs).history


@NEEDS_KERAS
@pytest.mark.slow  # the first test pays for the Keras processes
def test_class_weight_matches_keras(keras, backend):
    sparse = model()
    sparse_history = fit(sparse, X, Y, batch_size=8, epochs=3, shuffle=False, class_weight=CLASS_WEIGHT)
    one_hot = model("categorical")
    one_hot_history = fit(
        one_hot, X, ONE_HOT, batch_size=8, epochs=3, shuffle=False, class_weight=CLASS_WEIGHT
    )
    unweighted = fit(model(), X, Y, batch_size=8, epochs=3, shuffle=False)["loss"]
    for theirs in keras:
        same_history(sparse_history, theirs["class_weight_sparse"]["history"])
        same_weights(sparse, theirs["class_weight_sparse"]["weights"])
        same_history(one_hot_history, theirs["class_weight_onehot"]["history"])
        same_weights(one_hot, theirs["class_weight_onehot"]["weights"])
        assert not np.allclose(
            unweighted, theirs["class_weight_sparse"]["history"]["loss"], rtol=RTOL, atol=ATOL
        )


@NEEDS_KERAS
def test_steps_and_validation_options_match_keras(keras, backend):
    m = model()
    history = fit(
        m,
        X,
        Y,
        batch_size=5,
        epochs=4,
        steps_per_epoch=2,
        validation_data=(XV, YV),
        validation_steps=1,
        validation_batch_size=4,
        validation_freq=2,
        shuffle=False,
    )
    assert len(history["loss"]) == 4 and len(history["val_loss"]) == 2
    listed = fit(
        model(), X, Y, batch_size=8, epochs=3, validation_data=(XV, YV), validation_freq=[1, 3], shuffle=False
    )
    for theirs in keras:
        same_history(history, theirs["steps"]["history"])
        same_weights(m, theirs["steps"]["weights"])
        same_history(listed, theirs["freq_list"]["history"])


@NEEDS_KERAS
def test_evaluate_returns_as_keras(keras, backend):
    m = model()
    loss, accuracy = m.evaluate(X, Y, batch_size=7)
    logs = m.evaluate(X, Y, batch_size=7, return_dict=True)
    alone = model(metrics_=[])
    value = alone.evaluate(X, Y)
    assert isinstance(value, float)
    # as Keras: "accuracy" and "accuracy_1" list "accuracy" twice, then "accuracy_1"
    twice = model(metrics_=["accuracy", metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"), "accuracy"])
    listed_twice = twice.evaluate(X, Y)
    for theirs in keras:
        close(listed_twice, theirs["evaluate_twice"])
        close([loss, accuracy], theirs["evaluate"]["list"])
        same_history(logs, theirs["evaluate"]["dict"])
        assert m.metrics_names == theirs["evaluate"]["names"]
        close(value, theirs["evaluate_loss_only"]["value"])
        assert alone.metrics_names == theirs["evaluate_loss_only"]["names"]


@NEEDS_KERAS
def test_two_outputs_evaluate_order_and_metrics_names(keras, backend):
    inp = nn.Input((4,), name="i")
    two = nn.Model(inp, [nn.Dense(1, name="a")(inp), nn.Dense(2, name="b")(inp)])
    two.set_weights(TWO_WEIGHTS)
    two.compile("sgd", ["mse", "mae"], metrics=[["mae"], ["mse"]])
    names_before = two.metrics_names
    listed = two.evaluate(X, [YA, YB])
    logs = two.evaluate(X, [YA, YB], return_dict=True)
    for theirs in keras:
        assert names_before == theirs["two_outputs"]["names_before"]
        close(listed, theirs["two_outputs"]["list"])
        assert two.metrics_names == theirs["two_outputs"]["names"]
        same_history(logs, theirs["two_outputs"]["dict"])


@NEEDS_KERAS
def test_on_batch_methods_match_keras(keras, backend):
    m = model()
    first = m.train_on_batch(X[:8], Y[:8])
    second = m.train_on_batch(X[8:16], Y[8:16], class_weight=CLASS_WEIGHT, return_dict=True)
    test, test_dict = m.test_on_batch(X[:8], Y[:8]), m.test_on_batch(X[:8], Y[:8], return_dict=True)
    predicted = m.predict_on_batch(X[:5])
    assert isinstance(predicted, np.ndarray)
    alone = model(metrics_=[])
    alone_train = alone.train_on_batch(X[:8], Y[:8])
    assert isinstance(alone_train, float)
    alone_test = alone.test_on_batch(X, Y)
    for theirs in keras:
        close(first, theirs["on_batch"]["train"])
        same_history(second, theirs["on_batch"]["train_dict"])
        close(test, theirs["on_batch"]["test"])
        same_history(test_dict, theirs["on_batch"]["test_dict"])
        close(predicted, theirs["on_batch"]["predict"])
        same_weights(m, theirs["on_batch"]["weights"])
        close(alone_train, theirs["on_batch_loss_only"]["train"])
        close(alone_test, theirs["on_batch_loss_only"]["test"])


@NEEDS_KERAS
def test_pydataset_matches_keras(keras, backend):
    m, data = model(), Batches(6, 4)
    history = fit(m, data, epochs=2, shuffle=False)
    assert data.ends >= 2  # on_epoch_end after each epoch
    evaluated, predicted = m.evaluate(Batches(5, 4)), m.predict(Batches(5, 4))
    weighted = model()
    weighted_history = fit(weighted, Batches(6, 4), epochs=2, shuffle=False, class_weight=CLASS_WEIGHT)
    endless_model = model()
    endless_history = fit(endless_model, Endless(), epochs=2, steps_per_epoch=3, shuffle=False)
    for theirs in keras:
        same_history(history, theirs["pydataset"]["history"])
        same_weights(m, theirs["pydataset"]["weights"])
        close(evaluated, theirs["pydataset"]["evaluate"])
        close(predicted, theirs["pydataset"]["predict"])
        same_history(weighted_history, theirs["pydataset_class_weight"]["history"])
        same_weights(weighted, theirs["pydataset_class_weight"]["weights"])
        same_history(endless_history, theirs["pydataset_endless"]["history"])
        same_weights(endless_model, theirs["pydataset_endless"]["weights"])


@NEEDS_KERAS
def test_generator_with_steps_per_epoch_matches_keras(keras, backend):
    m = model()
    history = fit(m, endless(), epochs=2, steps_per_epoch=3)
    for theirs in keras:
        same_history(history, theirs["generator"]["history"])
        same_weights(m, theirs["generator"]["weights"])


@NEEDS_KERAS
def test_use_ema_finalizes_at_the_end_of_fit(keras, backend):
    m = model(use_ema=True, ema_momentum=0.5)
    history = fit(m, X, Y, batch_size=8, epochs=2, shuffle=False)
    plain = model()
    fit(plain, X, Y, batch_size=8, epochs=2, shuffle=False)
    for theirs in keras:
        same_history(history, theirs["ema"]["history"])
        same_weights(m, theirs["ema"]["weights"])
        assert not np.allclose(plain.get_weights()[0], theirs["ema"]["weights"][0], rtol=RTOL, atol=ATOL)


@NEEDS_KERAS
def test_pop_matches_keras(keras, backend):
    m = model()
    m.fit(X, Y, epochs=1, verbose=0)  # compiled steps made on both layers: pop forgets them
    m.set_weights(WEIGHTS)
    popped = m.pop()
    output = m.predict(X[:3])
    assert m.built and len(m.weights) == 2
    for theirs in keras:
        assert popped.units == theirs["pop"]["popped_units"] and len(m.layers) == theirs["pop"]["layers"]
        close(output, theirs["pop"]["output"])
    m.fit(X, Y, epochs=1, verbose=0)  # trains on what is left


@NEEDS_KERAS
def test_weighted_metrics_match_keras(keras, backend):
    """``metrics`` see no class or sample weights, ``weighted_metrics`` do; a weighted metric
    beside an unweighted one of the same name logs as ``weighted_<name>``."""
    m = model()
    m.compile(
        optim.SGD(0.1),
        losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        weighted_metrics=["accuracy", metrics.SparseTopKCategoricalAccuracy(k=2)],
    )
    h = m.fit(X, Y, batch_size=8, epochs=2, shuffle=False, class_weight=CLASS_WEIGHT)
    logs = m.evaluate(X, Y, sample_weight=np.linspace(0.1, 2, 24).astype(np.float32), return_dict=True)
    for theirs in keras:
        same_history(h.history, theirs["weighted_metrics"]["history"])
        same_weights(m, theirs["weighted_metrics"]["weights"])
        same_history(
            {k: [v] for k, v in logs.items()},
            {k: [v] for k, v in theirs["weighted_metrics"]["evaluate"].items()},
        )


@NEEDS_KERAS
def test_hooks_of_fit_evaluate_and_predict_match_keras(keras, backend):
    """The hooks called, in Keras' order: fit's validation calls the ``on_test_*`` hooks;
    ``evaluate(callbacks=)`` and ``predict(callbacks=)`` theirs."""
    calls: list[list] = []

    def record(name):
        return lambda *args, **kwargs: calls.append([name, *[a for a in args if isinstance(a, int)]])

    hooks = [h for h in callbacks.HOOKS if h not in ("on_batch_begin", "on_batch_end")]
    spy = callbacks.LambdaCallback(**{name: record(name) for name in hooks})
    m = model()
    m.fit(
        X[:10],
        Y[:10],
        batch_size=5,
        epochs=2,
        validation_data=(XV, YV),
        validation_batch_size=5,
        callbacks=[spy],
    )
    m.evaluate(XV, YV, batch_size=5, callbacks=[spy])
    m.predict(XV, batch_size=5, callbacks=[spy])
    for theirs in keras:
        assert calls == theirs["hooks"]


@NEEDS_KERAS
@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_matches_keras(keras, backend, swap_on_epoch):
    """Validation on the moving averages (and, with swap_on_epoch, the averages in the model at
    each epoch's end); the model ends on the averages either way."""
    m = model(use_ema=True, ema_momentum=0.5)
    swap = callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)
    h = m.fit(X, Y, batch_size=8, epochs=2, shuffle=False, validation_data=(XV, YV), callbacks=[swap])
    case = "swap_ema_epoch" if swap_on_epoch else "swap_ema"
    for theirs in keras:
        same_history(h.history, theirs[case]["history"])
        same_weights(m, theirs[case]["weights"])
    if not swap_on_epoch:
        for theirs in keras:
            close(m.evaluate(XV, YV), theirs["swap_ema"]["evaluate"])
        before = m.get_weights()
        m.predict(XV, callbacks=[swap])  # swapped back after (Keras leaves the averages in)
        for a, b in zip(m.get_weights(), before, strict=True):
            np.testing.assert_array_equal(a, b)


def test_swap_ema_weights_needs_an_ema_optimizer(backend):
    m = model()
    with pytest.raises(InvalidArgumentError, match="SwapEMAWeights: .*use_ema=True"):
        m.evaluate(X, Y, callbacks=[callbacks.SwapEMAWeights()])


@NEEDS_KERAS
def test_input_shape_on_the_first_layer_builds_as_keras(keras, backend):
    """Keras' legacy ``Dense(3, input_shape=(4,))``: the Sequential gets that Input (built at
    once, with Keras' warning); on a later layer it is ignored; configs leave it out."""
    with pytest.warns(UserWarning, match="input_shape"):
        legacy = nn.Sequential([nn.Dense(3, input_shape=(4,)), nn.Dense(2, input_dim=9)])
    shapes = [list(w.shape) for w in legacy.weights]
    for theirs in keras:
        assert legacy.built == theirs["input_shape"]["built"] and theirs["input_shape"]["warned"]
        assert shapes == theirs["input_shape"]["shapes"]
        assert "input_shape" not in theirs["input_shape"]["config_keys"]
    assert "input_shape" not in legacy.layers[0].get_config()
    # the shapes, as Keras: with the batch axis (None); a Sequential without an Input has none
    inp = nn.Input((4,), name="i")
    two_in = nn.Model([inp, nn.Input((2,))], [nn.Dense(3)(inp), nn.Dense(1)(inp)])
    for theirs in keras:
        shapes = theirs["shapes"]
        assert [list(legacy.input_shape), list(legacy.output_shape)] == shapes["sequential"]
        assert [list(s) for s in two_in.input_shape] == shapes["functional_in"]
        assert [list(s) for s in two_in.output_shape] == shapes["functional_out"]
        assert len(legacy.inputs) == shapes["sequential_inputs"] and legacy.outputs[0] is legacy.output
        assert hasattr(nn.Sequential([nn.Dense(2)]), "input_shape") == shapes["no_input"]
    with pytest.raises(nn.NoSymbolicInputError, match="Sequential that begins with an nn.Input"):
        getattr(nn.Sequential([nn.Dense(2)]), "output_shape")  # noqa: B009
    with pytest.raises(br.errors.ArgumentTypeError, match="Dense: input_shape"):
        nn.Dense(3, input_shape=4)


def test_workers_read_the_same_batches(backend):
    """Threads (workers > 1, or use_multiprocessing) give the same batches in the same order."""
    one = fit(model(), Batches(6, 4), epochs=2, shuffle=False)
    threaded = fit(model(), Batches(6, 4, workers=3, max_queue_size=2), epochs=2, shuffle=False)
    processes = fit(model(), Batches(6, 4, use_multiprocessing=True), epochs=2, shuffle=False)
    assert one == threaded == processes


def test_shuffled_pydataset_reorders_batches_by_seed(backend):
    a = fit(model(), Batches(6, 4), epochs=2, seed=3)
    b = fit(model(), Batches(6, 4), epochs=2, seed=3)
    unshuffled = fit(model(), Batches(6, 4), epochs=2, shuffle=False)
    assert a == b and a != unshuffled


def test_compute_metrics_in_a_custom_train_step(backend):
    """The documented way: compute_loss, the loss tracker, compute_metrics; the same history as
    the default train_step."""

    class Custom(nn.Sequential):
        def train_step(self, data):
            x, y = data
            with br.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x, y, y_pred)
            self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
            self.loss_tracker.update_state(loss, sample_weight=y_pred.shape[0])
            return self.compute_metrics(x, y, y_pred)

    custom = Custom([nn.Input((4,)), nn.Dense(3, activation="tanh"), nn.Dense(3)])
    custom.set_weights(WEIGHTS)
    custom.compile(
        optim.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    ours = fit(custom, X, Y, batch_size=5, epochs=2, shuffle=False)
    expected = fit(model(), X, Y, batch_size=5, epochs=2, shuffle=False)
    assert ours.keys() == expected.keys()
    for key in expected:
        close(ours[key], expected[key], key)
    result = custom.get_metrics_result()
    assert list(result) == ["loss", "accuracy"]
    close(float(result["accuracy"].numpy()), expected["accuracy"][-1])


def test_bad_arguments_raise_clear_errors(backend):
    m = model()
    cases = [
        (dict(x=X, y=Y, class_weight={0: 1.0}, sample_weight=np.ones(24)), "class_weight or sample_weight"),
        (dict(x=X, y=Y, class_weight=[1.0, 2.0]), "class_weight must be a dict"),
        (dict(x=X, y=Y, class_weight={"a": 1.0}), "class_weight must be a dict"),
        (dict(x=X, y=[Y, Y], class_weight={0: 1.0}), "one output"),
        (dict(x=endless(), class_weight={0: 1.0}), "not supported for generator"),
        (dict(x=Endless()), "steps_per_epoch"),
        (dict(x=X, y=Y, steps_per_epoch=0), "steps_per_epoch"),
        (dict(x=X, y=Y, validation_freq=0), "validation_freq"),
        (dict(x=X, y=Y, validation_freq=[0]), "validation_freq"),
        (dict(x=X, y=Y, validation_batch_size=0), "validation_batch_size"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidArgumentError, match=message) as raised:
            m.fit(verbose=0, **kwargs)
        assert isinstance(raised.value, BridgeError) and isinstance(raised.value, ValueError)
    with pytest.raises(InvalidArgumentError, match="class_weight or sample_weight"):
        m.train_on_batch(X, Y, sample_weight=np.ones(24), class_weight={0: 1.0})
    with pytest.raises(InvalidArgumentError, match="steps"):
        m.evaluate(X, Y, steps=0)
    with pytest.raises(InvalidArgumentError, match="PyDataset: workers"):
        Batches(6, 4, workers=0)
    empty = nn.Sequential()
    with pytest.raises(InvalidArgumentError, match="no layer to remove"):
        empty.pop()


def test_a_generator_that_runs_out_stops_training(backend):
    def four():
        yield from ((X[i * 6 : (i + 1) * 6], Y[i * 6 : (i + 1) * 6]) for i in range(4))

    with pytest.warns(UserWarning, match="ran out"):
        history = model().fit(four(), epochs=5, steps_per_epoch=3, verbose=0).history
    assert len(history["loss"]) == 2  # 3 batches, then the fourth: the fifth epoch never starts


def test_evaluate_steps_takes_the_first_batches(backend):
    m = model()
    first_two = m.evaluate(X[:10], Y[:10], batch_size=5, return_dict=True)
    # the same batches, cut from other arrays: TensorFlow's kernels may round them an ulp apart
    assert m.evaluate(X, Y, batch_size=5, steps=2, return_dict=True) == pytest.approx(first_two, rel=1e-6)
    assert m.predict(endless(), steps=2).shape == (12, 3)


def test_get_layer_by_name_or_index(backend):
    m = model()
    assert m.get_layer(index=-1) is m.layers[-1] and m.get_layer(m.layers[0].name) is m.layers[0]
    with pytest.raises(InvalidArgumentError, match="one of them"):
        m.get_layer(m.layers[0].name, 0)
    with pytest.raises(InvalidArgumentError, match="out of range"):
        m.get_layer(index=2)
