"""Ops and layers traced with an unknown batch size: a ``tf.function`` whose input signature has
batch None (what ``export(..., format="saved_model")`` traces), run on batches of 1 and 3.

The traced function must give what the same code gives eagerly (the layers' eager outputs are
proved against Keras elsewhere); the ops are checked against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
import bridge.nn as nn
from bridge import ops

pytestmark = pytest.mark.needs("tensorflow")


def _traced(fn, *sample_shapes, dtypes=None):
    """``fn`` (bridge Tensors in, one out) as a tf.function of inputs of batch None."""
    import tensorflow as tf

    from bridge._plugins import load_backend

    backend = load_backend("tensorflow")
    dtypes = dtypes or ["float32"] * len(sample_shapes)
    signature = [tf.TensorSpec((None, *s), d) for s, d in zip(sample_shapes, dtypes)]

    def native(*xs):
        return fn(*(br.Tensor(x, backend) for x in xs))._native

    return tf.function(native, input_signature=signature, autograph=False)


def _data(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_ops_of_a_traced_batch_give_numpys_results():
    def composite(x, y):
        zeros, ones = ops.zeros_like(x), ops.ones_like(x, dtype="int32")
        widened = ops.expand_dims(x, (1, 3))  # (batch, 1, 4, 1, 2)
        product = ops.einsum("bij,bkj->bik", x, y)
        return ops.concatenate(
            [
                ops.reshape(widened, (-1, 8)),
                ops.reshape(product, (-1, 4)),
                ops.reshape(zeros + ones, (-1, 8)),
            ],
            axis=1,
        )

    traced = _traced(composite, (4, 2), (1, 2))
    with br.use_backend("tensorflow"):
        for batch in (1, 3):
            x, y = _data(batch, 4, 2), _data(batch, 1, 2, seed=1)
            got = traced(x, y).numpy()
            x64, y64 = x.astype(np.float64), y.astype(np.float64)
            expected = np.concatenate(
                [
                    np.expand_dims(x64, (1, 3)).reshape(batch, 8),
                    np.einsum("bij,bkj->bik", x64, y64).reshape(batch, 4),
                    np.ones((batch, 8)),
                ],
                axis=1,
            )
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_the_size_of_a_traced_batch_is_unknown_and_says_so():
    def sizes(x):
        assert x.shape == (None, 3) and x.ndim == 2
        with pytest.raises(br.TracedValueError, match=r"size of a tensor of shape \(None, 3\): .*unknown"):
            x.size  # noqa: B018
        with pytest.raises(br.TracedValueError, match=r"len\(\) of a tensor of shape \(None, 3\)"):
            len(x)
        return x

    _traced(sizes, (3,)).get_concrete_function()


def _residual():
    image = nn.Input((6, 6, 4))
    left = nn.BatchNormalization()(nn.Conv2D(4, 3, padding="same")(image))
    model = nn.Model(image, nn.Add()([left, image]))
    for variable, value in zip(model.layers[2].weights, (1.5, 0.1, 0.2, 2.0)):
        variable.assign(np.full(variable.shape, value, np.float32))
    return model


def _broadcast_add():
    flat, wide = nn.Input((3,)), nn.Input((2, 3))
    return nn.Model([flat, wide], nn.Add()([flat, wide]))  # the lower rank gets an axis inserted


def _self_attention():
    sequence = nn.Input((5, 6))
    return nn.Model(sequence, nn.MultiHeadAttention(2, 4)(sequence, sequence))


#: name -> (make the layer or model, the sample shapes of its inputs)
LAYERS = {
    "residual": (_residual, [(6, 6, 4)]),
    "broadcast_add": (_broadcast_add, [(3,), (2, 3)]),
    "attention": (lambda: nn.MultiHeadAttention(2, 3, output_shape=(2, 3)), [(5, 6), (4, 6)]),
    "self_attention": (_self_attention, [(5, 6)]),
    "lstm": (lambda: nn.LSTM(4, return_sequences=True), [(5, 6)]),
    "gru": (lambda: nn.GRU(4), [(5, 6)]),
    "simple_rnn": (lambda: nn.SimpleRNN(4, return_state=True), [(5, 6)]),
    "group_norm": (lambda: nn.GroupNormalization(2), [(3, 4)]),
}


def _flat(out):
    """Every output leaf flattened per sample and joined: one (batch, n) tensor."""
    leaves = br.tree.leaves(out)
    return ops.concatenate([ops.reshape(y, (-1, int(np.prod(y.shape[1:])))) for y in leaves], axis=1)


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_layer_traced_with_an_unknown_batch_gives_its_eager_outputs(name):
    with br.use_backend("tensorflow"):
        make, shapes = LAYERS[name]
        layer = make()
        if isinstance(layer, nn.Model):
            call = lambda *xs: _flat(layer(list(xs) if len(xs) > 1 else xs[0], training=False))  # noqa: E731
        else:
            call = lambda *xs: _flat(layer(*xs))  # noqa: E731
        call(*(ops.tensor(_data(2, *shape)) for shape in shapes))  # built eagerly, as a port is
        traced = _traced(call, *shapes)
        for batch in (1, 3):
            inputs = [_data(batch, *s, seed=i) for i, s in enumerate(shapes)]
            expected = call(*(ops.tensor(x) for x in inputs)).numpy()
            np.testing.assert_allclose(traced(*inputs).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_dense_layer_on_sequences_is_one_matmul_on_tensorflow():
    """(batch, time, k) @ (k, n) runs as one MatMul of the rows, its gradient too (BatchMatMulV2
    broadcast the kernel and summed a product per batch: 1.6x native on a Transformer block)."""
    import tensorflow as tf

    x = _data(3, 5, 4)
    with br.use_backend("tensorflow"):
        layer = nn.Dense(6)
        layer.build((None, 5, 4))
        kernel, bias = (w.numpy().astype(np.float64) for w in layer.weights)
        traced = _traced(lambda t: layer(t), (5, 4))
        np.testing.assert_allclose(traced(x).numpy(), x @ kernel + bias, rtol=1e-5, atol=1e-6)

        @tf.function
        def gradient(x: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(br.tensor(x)).native ** 2)
            return tape.gradient(loss, x)

        graph = gradient.get_concrete_function(tf.constant(x)).graph
    kinds = {op.type for op in graph.get_operations()}
    assert "MatMul" in kinds and "BatchMatMulV2" not in kinds, sorted(kinds)
