"""bridge.testing as users meet it: the pytest plugin on their own test files."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.testing import assert_parity

USER_TESTS = """
import numpy as np
import bridge as br
from bridge.testing import assert_parity

def my_layer(x, w):
    return br.ops.relu(x @ w) * 2

def test_runs_on_each_backend(backend):
    assert br.get_backend() == backend
    assert br.ones((2,)).backend == backend

def test_my_layer_agrees_everywhere():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    w = np.ones((3, 2), dtype=np.float32)
    assert_parity(my_layer, x, w, reference=lambda x, w: np.maximum(x @ w, 0) * 2)

def test_a_backend_specific_bug_is_caught():
    assert_parity(lambda x: x + (1.0 if br.get_backend() == "tensorflow" else 0.0), np.zeros(3, np.float32))
"""


def test_backend_fixture_and_option(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*tensorflow against torch*"])
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--bridge-backends=tensorflow", "-k", "each"
    )
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*torch*PASSED*")


def test_unknown_backend_option_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bridge-backends=torch,jax")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*--bridge-backends names jax, not installed (installed: torch, tensorflow)*"]
    )


def test_assert_parity_checks_dtypes_and_values():
    with pytest.raises(AssertionError, match="dtype"):
        assert_parity(
            lambda x: x.astype("float64" if br.get_backend() == "torch" else "float32"),
            np.ones(2, np.float32),
        )
    with pytest.raises(AssertionError, match="NumPy reference"):
        assert_parity(lambda x: x * 2, np.ones(2, np.float32), reference=lambda x: x * 3)
    results = assert_parity(
        lambda x: {"double": x * 2, "pair": (x, x + 1)},
        np.ones(2, np.float32),
        backends=["torch", "tensorflow"],
    )
    assert set(results) == {"torch", "tensorflow"}
    np.testing.assert_array_equal(results["tensorflow"]["pair"][1], [2.0, 2.0])
