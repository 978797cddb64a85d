"""Native TensorFlow contenders, written on ``tf`` ops alone (no Keras): the four models as
functions of ``tf.Variable``s, trained by a ``tf.function`` step (optionally ``jit_compile=True``,
XLA) with TensorFlow's fused Adam op, ``ResourceApplyAdam``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from workloads import (
    BN_EPSILON,
    CLASSES,
    CNN_FILTERS,
    LEARNING_RATE,
    LSTM_UNITS,
    MLP_UNITS,
    TRANSFORMER,
    Data,
    Workload,
)

Forward = Callable[[tf.Tensor], tf.Tensor]

for _gpu in tf.config.list_physical_devices("GPU"):  # leave the GPU's memory to the other contenders too
    try:
        tf.config.experimental.set_memory_growth(_gpu, True)
    except RuntimeError:
        pass  # TensorFlow has already set up the GPU


class Params:
    """The trainable variables of a model, made by ``glorot``/``zeros``/``ones`` as it is built."""

    def __init__(self) -> None:
        self.variables: list[tf.Variable] = []

    def add(self, value: tf.Tensor, trainable: bool = True) -> tf.Variable:
        variable = tf.Variable(value, trainable=trainable)
        if trainable:
            self.variables.append(variable)
        return variable

    def glorot(self, shape: tuple[int, ...]) -> tf.Variable:
        receptive = int(np.prod(shape[:-2]))
        limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
        return self.add(tf.random.uniform(shape, -limit, limit))

    def zeros(self, n: int) -> tf.Variable:
        return self.add(tf.zeros((n,)))

    def ones(self, n: int) -> tf.Variable:
        return self.add(tf.ones((n,)))


def dense(params: Params, fan_in: int, fan_out: int) -> Forward:
    w, b = params.glorot((fan_in, fan_out)), params.zeros(fan_out)
    return lambda x: tf.tensordot(x, w, 1) + b


def layer_norm(params: Params, width: int) -> Forward:
    gamma, beta = params.ones(width), params.zeros(width)

    def forward(x: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, TRANSFORMER["epsilon"])

    return forward


def conv_bn_relu(params: Params, cin: int, cout: int) -> Forward:
    """Conv3x3 'same', BatchNorm in training mode (moving statistics updated), ReLU."""
    kernel, bias = params.glorot((3, 3, cin, cout)), params.zeros(cout)
    gamma, beta = params.ones(cout), params.zeros(cout)
    moving_mean = params.add(tf.zeros((cout,)), trainable=False)
    moving_variance = params.add(tf.ones((cout,)), trainable=False)

    def forward(x: tf.Tensor) -> tf.Tensor:
        x = tf.nn.conv2d(x, kernel, 1, "SAME") + bias
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        moving_mean.assign(0.99 * moving_mean + 0.01 * mean)
        moving_variance.assign(0.99 * moving_variance + 0.01 * variance)
        return tf.nn.relu(tf.nn.batch_normalization(x, mean, variance, beta, gamma, BN_EPSILON))

    return forward


def lstm(params: Params, features: int) -> Forward:
    """An LSTM over the sequence (Keras' gate order i, f, c, o), returning the last hidden state."""
    kernel, recurrent = params.glorot((features, 4 * LSTM_UNITS)), params.glorot((LSTM_UNITS, 4 * LSTM_UNITS))
    bias = params.zeros(4 * LSTM_UNITS)

    def cell(state: tuple[tf.Tensor, tf.Tensor], projected: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        h, c = state
        i, f, g, o = tf.split(projected + tf.matmul(h, recurrent), 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    def forward(x: tf.Tensor) -> tf.Tensor:
        inputs = tf.einsum("bti,io->tbo", x, kernel) + bias  # every step's input projection at once
        zeros = tf.zeros((tf.shape(x)[0], LSTM_UNITS))
        hs, _ = tf.scan(cell, inputs, initializer=(zeros, zeros))  # a while loop, as Keras' LSTM on TF
        return hs[-1]

    return forward


def encoder(params: Params) -> Forward:
    """Post-norm encoder block: self-attention, add & norm, ReLU feed-forward, add & norm, mean pool."""
    width, heads = TRANSFORMER["width"], TRANSFORMER["heads"]
    q, k, v, out = (dense(params, width, width) for _ in range(4))
    up, down = dense(params, width, TRANSFORMER["ffn"]), dense(params, TRANSFORMER["ffn"], width)
    norm1, norm2 = layer_norm(params, width), layer_norm(params, width)

    def split_heads(x: tf.Tensor) -> tf.Tensor:
        batch, length = tf.shape(x)[0], x.shape[1]
        return tf.transpose(tf.reshape(x, (batch, length, heads, width // heads)), (0, 2, 1, 3))

    def forward(x: tf.Tensor) -> tf.Tensor:
        scores = tf.matmul(split_heads(q(x)), split_heads(k(x)), transpose_b=True) / np.sqrt(width // heads)
        mixed = tf.transpose(tf.matmul(tf.nn.softmax(scores), split_heads(v(x))), (0, 2, 1, 3))
        x = norm1(x + out(tf.reshape(mixed, tf.shape(x))))
        x = norm2(x + down(tf.nn.relu(up(x))))
        return tf.reduce_mean(x, axis=1)

    return forward


def build(workload: Workload) -> tuple[Forward, list[tf.Variable]]:
    """The model's forward function (to logits) and its trainable variables."""
    params = Params()
    if workload.name == "mlp":
        sizes = (workload.input_shape[0], *MLP_UNITS)
        hidden = [dense(params, a, b) for a, b in zip(sizes, sizes[1:])]
        body = lambda x: _chain([f for layer in hidden for f in (layer, tf.nn.relu)], x)
        width = sizes[-1]
    elif workload.name == "cnn":
        channels = (workload.input_shape[-1], *CNN_FILTERS)
        blocks = [conv_bn_relu(params, a, b) for a, b in zip(channels, channels[1:])]
        body = lambda x: tf.reduce_mean(_chain(blocks, x), axis=[1, 2])
        width = channels[-1]
    elif workload.name == "lstm":
        body, width = lstm(params, workload.input_shape[-1]), LSTM_UNITS
    else:
        body, width = encoder(params), TRANSFORMER["width"]
    head = dense(params, width, CLASSES)
    return (lambda x: head(body(x))), params.variables


def _chain(functions: list[Forward], x: tf.Tensor) -> tf.Tensor:
    for function in functions:
        x = function(x)
    return x


def tf_device(device: str) -> str:
    return "/GPU:0" if device == "gpu" else "/CPU:0"


def native_tensorflow(workload: Workload, data: Data, device: str, xla: bool) -> Callable[[], None]:
    """A run of Adam steps over ``data``'s batches under ``tf.function`` (XLA-compiled when ``xla``)."""
    with tf.device(tf_device(device)):
        tf.random.set_seed(0)
        forward, weights = build(workload)
        slots = [(tf.Variable(tf.zeros_like(w)), tf.Variable(tf.zeros_like(w))) for w in weights]
        powers = tf.Variable(1.0), tf.Variable(1.0)
        steps = len(data[1]) // workload.batch
        batches = list(zip(tf.split(tf.constant(data[0]), steps), tf.split(tf.constant(data[1]), steps)))

    @tf.function(jit_compile=xla)
    def step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, forward(xb)))
        grads = tape.gradient(loss, weights)
        powers[0].assign(powers[0] * 0.9)
        powers[1].assign(powers[1] * 0.999)
        for w, g, (m, v) in zip(weights, grads, slots):
            tf.raw_ops.ResourceApplyAdam(
                var=w.handle, m=m.handle, v=v.handle, beta1_power=powers[0], beta2_power=powers[1],
                lr=LEARNING_RATE, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=g,
            )  # fmt: skip
        return loss

    def run() -> None:
        with tf.device(tf_device(device)):
            for xb, yb in batches:
                loss = step(xb, yb)
            float(loss)  # wait for the device

    return run
