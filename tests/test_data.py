"""br.data: batches and splits, identical on every backend for a seed."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10)


def test_batches_in_order_and_with_remainder(backend):
    got = list(br.data.batches(X, Y, batch_size=4))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    assert all(xb.backend == backend and isinstance(xb, br.Tensor) for xb, _ in got)
    np.testing.assert_array_equal(np.concatenate([yb.numpy() for _, yb in got]), Y)
    assert [len(xb) for xb in br.data.batches(X, batch_size=4, drop_remainder=True)] == [4, 4]


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
