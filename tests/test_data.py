"""br.data: batches and splits, identical on every backend for a seed."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.data import adapters
from bridge.data.adapters import adapter_for

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10)


def test_batches_in_order_and_with_remainder(backend):
    got = list(br.data.batches(X, Y, batch_size=4))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    assert all(xb.backend == backend and isinstance(xb, br.Tensor) for xb, _ in got)
    np.testing.assert_array_equal(np.concatenate([yb.numpy() for _, yb in got]), Y)
    assert [len(xb) for xb in br.data.batches(X, batch_size=4, drop_remainder=True)] == [4, 4]


@pytest.mark.needs("torch", "tensorflow")
def test_shuffled_batches_are_the_same_on_every_backend_for_a_seed():
    orders = {}
    for backend in ("torch", "tensorflow", "numpy"):
        with br.use_backend(backend):
            orders[backend] = [
                yb.numpy() for _, yb in br.data.batches(X, Y, batch_size=3, shuffle=True, seed=4)
            ]
    flat = np.concatenate(orders["torch"])
    assert sorted(flat.tolist()) == list(range(10)) and flat.tolist() != list(range(10))
    for backend in ("tensorflow", "numpy"):
        np.testing.assert_array_equal(np.concatenate(orders[backend]), flat)
    again = np.concatenate(
        [yb.numpy() for _, yb in br.data.batches(X, Y, batch_size=3, shuffle=True, seed=5)]
    )
    assert again.tolist() != flat.tolist()


def test_batches_of_tensors_keep_rows_together(backend):
    x, y = br.tensor(X), br.tensor(Y)
    for xb, yb in br.data.batches(x, y, batch_size=4, shuffle=True, seed=0):
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy() * 2)


def test_train_test_split(backend):
    x_train, x_test, y_train, y_test = br.data.train_test_split(X, Y, test_size=0.3, seed=1)
    assert len(x_test) == 3 and len(x_train) == 7
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    np.testing.assert_array_equal(x_train[:, 0], y_train * 2)
    again = br.data.train_test_split(X, Y, test_size=0.3, seed=1)
    np.testing.assert_array_equal(again[3], y_test)
    tensors = br.data.train_test_split(br.tensor(X), test_size=2, shuffle=False)
    assert isinstance(tensors[0], br.Tensor) and tensors[1].numpy().tolist() == X[-2:].tolist()


def test_data_errors():
    with pytest.raises(br.InvalidArgumentError, match=r"different numbers of samples \(\(10, 2\), \(9,\)\)"):
        list(br.data.batches(X, Y[:9]))
    with pytest.raises(br.InvalidArgumentError, match="batch_size"):
        list(br.data.batches(X, batch_size=0))
    with pytest.raises(br.InvalidArgumentError, match="test_size"):
        br.data.train_test_split(X, test_size=0.0)


# --- the adapters fit, evaluate and predict read their data through ---------------------------
def epochs_of(adapter, count=2):
    """Each epoch's batches as NumPy, leaf by leaf."""
    return [[[leaf.numpy() for leaf in batch] for batch in adapter.epoch(e)] for e in range(count)]


def test_arrays_and_tensors_get_their_own_adapters(backend):
    from_numpy = adapter_for("fit", X, Y, batch_size=4, shuffle=True, seed=3)
    from_tensors = adapter_for("fit", br.tensor(X), br.tensor(Y), batch_size=4, shuffle=True, seed=3)
    assert type(from_numpy) is adapters.ArrayAdapter and type(from_tensors) is adapters.TensorAdapter
    assert from_numpy.num_batches == from_tensors.num_batches == 3
    first, second = epochs_of(from_numpy)
    assert [len(yb) for _, yb in first] == [4, 4, 2]
    np.testing.assert_array_equal(
        np.concatenate([xb[:, 0] for xb, _ in first]), np.concatenate([yb for _, yb in first]) * 2
    )
    assert not np.array_equal(
        np.concatenate([yb for _, yb in first]), np.concatenate([yb for _, yb in second])
    )
    for got, want in zip(epochs_of(from_tensors), epochs_of(from_numpy)):  # the same order for a seed
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a[1], b[1])


def test_iterables_of_batches_replay_every_epoch(backend):
    made = list(br.data.batches(X, Y, batch_size=4))
    for source in (made, iter(made), (batch for batch in made)):
        adapter = adapter_for("fit", source)
        assert type(adapter) is adapters.IterableAdapter
        first, second = epochs_of(adapter)
        assert [len(yb) for _, yb in first] == [4, 4, 2]
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a[1], b[1])
    numpy_batches = adapter_for("fit", [(X[:5], Y[:5]), (X[5:], Y[5:])])
    assert numpy_batches.num_batches == 2
    assert all(leaf.backend == backend for batch in numpy_batches.epoch(0) for leaf in batch)


@pytest.mark.needs("torch", "tensorflow")
def test_framework_pipelines_are_recognised_by_their_plugins():
    import tensorflow as tf
    import torch

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)), batch_size=4
    )
    dataset = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4)
    for source, claimed_by in ((loader, "torch"), (dataset, "tensorflow")):
        for backend in ("torch", "tensorflow"):
            with br.use_backend(backend):
                adapter = adapter_for("fit", source)
                assert type(adapter) is adapters.PipelineAdapter and adapter.source_backend == claimed_by
                assert adapter.num_batches == 3
                first, second = epochs_of(adapter)  # read afresh each epoch
                np.testing.assert_array_equal(first[0][0], X[:4])
                np.testing.assert_array_equal(second[2][1], Y[8:])
                assert all(leaf.backend == backend for batch in adapter.epoch(0) for leaf in batch)
        with pytest.raises(br.InvalidArgumentError, match="fit: x is an iterable of batches"):
            adapter_for("fit", source, Y)


def test_adapter_errors(backend):
    with pytest.raises(br.InvalidArgumentError, match=r"fit: arrays need their targets"):
        adapter_for("fit", X)
    with pytest.raises(br.InvalidArgumentError, match=r"evaluate: x has 10 samples but y has 9"):
        adapter_for("evaluate", X, Y[:9])
    with pytest.raises(br.InvalidArgumentError, match=r"fit: sample_weight has 3 values but x has 10"):
        adapter_for("fit", X, Y, np.ones(3))
    assert [len(b[0]) for b in adapter_for("predict", X, batch_size=6).epoch(0)] == [6, 4]
