"""Test-suite setup: the NumPy reference backend joins the built-in plugins, and hypothesis
gets a profile that fits CI on two cores."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

import bridge as br

from .numpy_backend import NumpyBackend

br.register_backend("numpy", NumpyBackend, framework="numpy")

settings.register_profile(
    "bridge",
    max_examples=int(os.environ.get("BRIDGE_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("bridge")

pytest_plugins = ["pytester"]
