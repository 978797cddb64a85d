"""nn.Model: fit / evaluate / predict / summary, parity across backends, inputs from either
ecosystem, callbacks and bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.datasets import load_iris

import bridge as br
from bridge import callbacks, losses, nn, optim
from bridge.testing import assert_training_parity

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")


def iris():
    """The course's lab problem: Iris, standardized and shuffled."""
    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)[order]
    return x, y[order]


def mlp(dropout=0.0, jit="auto", hidden=16):
    layers = [nn.Dense(hidden, activation="relu")]
    if dropout:
        layers.append(nn.Dropout(dropout, seed=3))
    model = nn.Sequential([*layers, nn.Dense(3)])
    model.compile(
        optimizer=optim.Adam(1e-2),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit=jit,
    )
    return model


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_training_is_identical_on_every_backend_over_20_epochs():
    x, y = iris()
    histories = assert_training_parity(mlp, x, y, epochs=20, batch_size=16, validation_split=0.2)
    history = histories["torch"].history
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 20
    assert history["loss"][-1] < 0.5 * history["loss"][0] and history["val_accuracy"][-1] > 0.85


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_jit_modes_give_the_same_history(jit):
    x, y = iris()
    reference = assert_training_parity(lambda: mlp(jit="auto"), x, y, epochs=3, batch_size=32)
    compiled = assert_training_parity(
        lambda: mlp(jit=jit if jit is False else {"torch": True}.get("torch")), x, y, epochs=3, batch_size=32
    )
    for name in reference:
        np.testing.assert_allclose(compiled[name].history["loss"], reference[name].history["loss"], rtol=1e-5)


@pytest.mark.slow
def test_dropout_training_repeats_with_the_same_seed(backend):
    x, y = iris()
    runs = []
    for _ in range(2):
        br.random.seed(1)
        runs.append(mlp(dropout=0.3).fit(x, y, epochs=3, seed=5, verbose=0).history["loss"])
    assert runs[0] == runs[1]


def test_evaluate_predict_and_summary(backend, capsys):
    x, y = iris()
    model = mlp()
    model.fit(x, y, epochs=15, verbose=0, seed=0)
    results = model.evaluate(x, y, return_dict=True)
    assert set(results) == {"loss", "accuracy"} and results["accuracy"] > 0.8
    predictions = model.predict(x, batch_size=50)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (150, 3)
    manual = np.mean(np.argmax(predictions, -1) == y)
    assert manual == pytest.approx(results["accuracy"], abs=1e-6)
    model.summary()
    out = capsys.readouterr().out
    assert "(None, 16)" in out and "Total params: 131" in out


def test_subclassed_model_with_custom_train_step(backend):
    class TwoTower(nn.Model):
        def __init__(self):
            super().__init__()
            self.left, self.right = nn.Dense(4, activation="tanh"), nn.Dense(4, activation="relu")
            self.head = nn.Dense(1)
            self.steps = 0

        def call(self, x, training=False):
            return self.head(br.ops.concat([self.left(x), self.right(x)], axis=-1))

        def train_step(self, data):
            self.steps += 1
            return super().train_step(data)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-1.0], [0.5]], np.float32)
    model = TwoTower()
    model.compile(optimizer="adam", loss="mse", jit=False)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, seed=0)
    assert model.steps == 16 and history.history["loss"][-1] < history.history["loss"][0]
    assert len(model.layers) == 3 and model.count_params() == 16 + 16 + 9


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_inputs_from_either_ecosystem():
    import tensorflow as tf
    import torch

    x, y = iris()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=32
    )
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    results = {}
    for backend, source in (
        ("torch", loader),
        ("tensorflow", dataset),
        ("torch", dataset),
        ("tensorflow", loader),
    ):
        with br.use_backend(backend):
            br.random.seed(0)
            model = mlp()
            history = model.fit(source, epochs=2, verbose=0, shuffle=False)
            assert model.weights[0].backend == backend  # the data joined the current backend
            results[(backend, type(source).__name__)] = history.history["loss"]
    losses_seen = list(results.values())
    for other in losses_seen[1:]:
        np.testing.assert_allclose(other, losses_seen[0], rtol=1e-4)
    with br.use_backend("torch"):
        br.random.seed(0)
        model = mlp()
        batches = list(br.data.batches(x, y, batch_size=32))
        assert model.fit(batches, epochs=1, verbose=0).history["loss"]
        assert model.fit(br.tensor(x), br.tensor(y), epochs=1, verbose=0, seed=0).history["loss"]
        assert model.evaluate(dataset)[0] > 0  # the loss, then the accuracy


def test_early_stopping_restores_the_best_weights(backend):
    x, y = iris()
    model = mlp(hidden=32)
    model.compile(optimizer=optim.Adam(0.3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    best = {}

    class Spy(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = (logs["val_loss"], self.model.get_weights())

    history = model.fit(x, y, epochs=40, validation_split=0.3, callbacks=[Spy(), stop], verbose=0, seed=0)
    assert len(history.history["loss"]) < 40 and stop.stopped_epoch == len(history.history["loss"]) - 1
    best_epoch = min(best, key=lambda e: best[e][0])
    assert stop.best_epoch == best_epoch
    for a, b in zip(model.get_weights(), best[best_epoch][1]):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_callbacks(backend):
    x, y = iris()
    model = mlp()
    seen = []

    class Rates(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(round(float(self.model.optimizer.learning_rate), 8))

    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5**epoch)
    history = model.fit(x, y, epochs=3, callbacks=[schedule, Rates()], verbose=0, seed=0)
    assert seen == [0.01, 0.005, 0.0025] and history.history["learning_rate"] == pytest.approx(seen)
    model = mlp()
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    history = model.fit(x, y, epochs=4, callbacks=[plateau], verbose=0, seed=0)
    # as Keras, each epoch logs the rate it trained with; a reduction applies from the next epoch
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])


def test_terminate_on_nan_keeps_the_last_finite_weights(backend):
    x, y = iris()
    x = x.copy()
    x[40:] = np.nan  # batches from the second on give a NaN loss
    model = mlp(jit=False)
    model.fit(x[:32], y[:32], epochs=1, verbose=0, shuffle=False)
    before = model.get_weights()
    history = model.fit(
        x, y, epochs=3, batch_size=32, shuffle=False, callbacks=[callbacks.TerminateOnNaN()], verbose=0
    )
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after) and len(history.history["loss"]) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))  # the first batch still trained
    with pytest.raises(br.NonFiniteError, match="non-finite gradients"):
        mlp(jit=False).fit(x[32:64], y[32:64], epochs=1, verbose=0)


def test_csv_logger_and_verbosity(backend, tmp_path, capsys):
    x, y = iris()
    path = tmp_path / "log.csv"
    mlp().fit(x, y, epochs=2, callbacks=[callbacks.CSVLogger(path)], verbose=2, seed=0)
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1"] and {"loss", "accuracy"} <= set(rows[0])
    out = capsys.readouterr()
    assert "Epoch 1/2 - loss:" in out.out and "Epoch 2/2" in out.out
    mlp().fit(x, y, epochs=1, verbose=0, seed=0)
    assert capsys.readouterr().out == ""
    mlp().fit(x, y, epochs=1, verbose=1, seed=0)
    assert "Epoch 1/1" in capsys.readouterr().err  # the progress bar


def test_bad_input_fails_before_any_weight_changes(backend):
    x, y = iris()
    model = mlp()
    model.fit(x[:16], y[:16], epochs=1, verbose=0)
    before = model.get_weights()
    with pytest.raises(br.InvalidArgumentError, match="x has 150 samples but y has 149"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(br.InvalidArgumentError, match="validation_split must be in"):
        model.fit(x, y, validation_split=1.0, verbose=0)
    with pytest.raises(
        br.ShapeError, match=r"class ids of shape \(32, 2\) do not fit scores of shape \(32, 3\)"
    ):
        model.fit(x, np.stack([y, y], 1), verbose=0)
    with pytest.raises(br.ShapeError, match="built for inputs with 4 features"):
        model.predict(x[:, :3])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(nn.NotCompiledError, match="compile"):
        nn.Sequential([nn.Dense(1)]).fit(x, y, verbose=0)
    with pytest.raises(br.InvalidArgumentError, match="unknown loss"):
        nn.Sequential([nn.Dense(1)]).compile(loss="squared")


def test_initial_epoch_and_sample_weight(backend):
    x, y = iris()
    history = mlp().fit(x, y, epochs=4, initial_epoch=2, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2 and history.epoch == [2, 3]
    zero = np.zeros(len(y), np.float32)
    model = nn.Sequential([nn.Dense(3)])
    model.compile(optimizer=optim.SGD(0.1), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:8], y[:8], epochs=1, verbose=0)  # build
    before = model.get_weights()
    weighted = model.fit(x, y, epochs=1, sample_weight=zero, verbose=0, seed=0)
    assert weighted.history["loss"] == [0.0]  # every sample weighs nothing: no loss, no gradient
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_build_makes_an_embedding_model_from_integer_ids(backend, capsys):
    """Keras 3 builds ``Sequential([Embedding(10, 4)])`` from ``(None, 5)``: bridge runs the
    build on int32 ids when the first layer is an Embedding."""
    model = nn.Sequential([nn.Embedding(10, 4)])
    model.build((None, 5))
    assert model.built and [w.shape for w in model.weights] == [(10, 4)]
    model.summary()
    assert "(None, 5, 4)" in capsys.readouterr().out


def test_a_failed_build_leaves_the_model_unbuilt(backend):
    model = nn.Sequential([nn.Embedding(10, 4)])
    with pytest.raises(br.InvalidArgumentError, match="Embedding needs integer ids, got float32"):
        model.build((None, 5), dtype="float32")
    assert not model.built
    model.build((None, 5), dtype="int64")
    assert model.built and model.predict(np.array([[1, 2]])).shape == (1, 2, 4)


def test_summary_of_an_unbuilt_model_keeps_within_80_columns(backend, capsys):
    nn.Sequential([nn.Dense(3)]).summary()
    lines = capsys.readouterr().out.splitlines()
    assert any("not built yet" in line for line in lines)
    assert max(len(line) for line in lines) <= 80
