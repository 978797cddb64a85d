"""Hypothesis strategies and settings of the conformance kit.

``SETTINGS`` decorates every property test of the kit, so the kit behaves the same whatever
profile the project running it loads: ``BRIDGE_HYPOTHESIS_EXAMPLES`` examples per test (25 by
default) and, when the ``CI`` variable is set, the same examples on every run.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=int(os.environ.get("BRIDGE_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)

#: ``br.jit`` options for tests of jit semantics, not speed: torch.compile's quick compiler on the
#: backend named "torch" (options named after a backend reach that backend only).
QUICK_JIT: dict[str, Any] = {"torch": {"backend": "aot_eager"}}


def floats32(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite float32 values in [low, high]. Subnormals are left out: TensorFlow flushes them to
    zero on CPU (as most GPU kernels do), which is the framework's choice, not a bridge bug."""
    low, high = float(np.float32(low)), float(np.float32(high))
    return st.floats(low, high, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)
