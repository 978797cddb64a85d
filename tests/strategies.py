"""Hypothesis strategies shared by the op tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def floats32(low: float, high: float):
    """Finite float32 values in [low, high]. Subnormals are left out: TensorFlow flushes them to
    zero on CPU (as most GPU kernels do), which is the framework's choice, not a bridge bug."""
    low, high = float(np.float32(low)), float(np.float32(high))
    return st.floats(low, high, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)
