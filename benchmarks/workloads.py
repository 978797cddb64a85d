"""The four benchmark models' shapes and their synthetic data (float32 inputs, int64 labels).

Inputs are channels-last (NHWC for the CNN); native torch transposes to NCHW itself."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

CLASSES = 10
Data = tuple[np.ndarray, np.ndarray]  # inputs and labels of whole batches
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class Workload:
    """One model to train: its name, batch size and per-sample input shape."""

    name: str
    batch: int
    input_shape: tuple[int, ...]
    description: str

    def data(self, steps: int, seed: int = 0) -> Data:
        """``steps`` batches of inputs and labels, as two arrays of ``steps * batch`` samples."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((steps * self.batch, *self.input_shape)).astype(np.float32)
        return x, rng.integers(0, CLASSES, steps * self.batch).astype(np.int64)


# Architecture constants, shared by every framework's builder.
MLP_UNITS = (256, 256)
CNN_FILTERS = (32, 32, 32)
LSTM_UNITS = 256
TRANSFORMER = {"width": 256, "heads": 4, "ffn": 1024, "epsilon": 1e-5}
BN_EPSILON = 1e-3

WORKLOADS = {
    "mlp": Workload("mlp", 128, (784,), "784-256-256-10, ReLU"),
    "cnn": Workload("cnn", 128, (32, 32, 3), "3x (Conv3x3 32 same, BatchNorm, ReLU), global pool, Dense 10"),
    "lstm": Workload("lstm", 64, (50, 32), "LSTM 256 over 50 steps of 32 features, last state, Dense 10"),
    "transformer": Workload(
        "transformer", 32, (128, 256), "post-norm encoder block, width 256, 4 heads, FFN 1024, mean pool"
    ),
}
# --quick: the smallest batch, and short sequences and small images (tracing time grows with them).
QUICK_BATCH = 4
QUICK_INPUTS = {"mlp": (784,), "cnn": (8, 8, 3), "lstm": (4, 32), "transformer": (8, 256)}


def workload(name: str, quick: bool) -> Workload:
    """The workload named ``name``; in quick mode shrunk to ``QUICK_BATCH`` and ``QUICK_INPUTS``."""
    if not quick:
        return WORKLOADS[name]
    return replace(WORKLOADS[name], batch=QUICK_BATCH, input_shape=QUICK_INPUTS[name])
