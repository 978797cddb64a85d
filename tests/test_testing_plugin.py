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

def test_runs_on_each_backend(bridge_backend):
    assert br.get_backend() == bridge_backend
    assert br.ones((2,)).backend == bridge_backend

def test_my_layer_agrees_everywhere():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    w = np.ones((3, 2), dtype=np.float32)
    assert_parity(my_layer, x, w, reference=lambda x, w: np.maximum(x @ w, 0) * 2)

def test_a_backend_specific_bug_is_caught():
    assert_parity(lambda x: x + (1.0 if br.get_backend() == "tensorflow" else 0.0), np.zeros(3, np.float32))
"""

# A project of its own that happens to name a fixture `backend`, with bridge installed.
OWN_BACKEND_CONFTEST = """
import pytest

@pytest.fixture
def backend():
    return "sqlite"
"""

OWN_BACKEND_TESTS = """
import pytest

def test_own_fixture(backend):
    assert backend == "sqlite"

def test_bridge_fixture(bridge_backend):
    assert bridge_backend in ("torch", "tensorflow", "numpy")

@pytest.mark.bridge_requires("autodiff")
def test_needs_autodiff(bridge_backend):
    assert bridge_backend in ("torch", "tensorflow")
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args)


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_bridge_backend_fixture_and_option(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*tensorflow against torch*"])
    result = run(pytester, "--bridge-backends=tensorflow", "-k", "each")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_runs_on_each_backend[[]tensorflow] PASSED*"])
    result.stdout.no_fnmatch_line("*torch*PASSED*")


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_a_projects_own_backend_fixture_is_left_alone(pytester: pytest.Pytester):
    pytester.makeconftest(OWN_BACKEND_CONFTEST)
    pytester.makepyfile(test_project=OWN_BACKEND_TESTS)
    result = run(pytester)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*test_own_fixture PASSED*",
            "*test_bridge_fixture[[]torch] PASSED*",
            "*test_bridge_fixture[[]tensorflow] PASSED*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_own_fixture[[]*")
    result = run(pytester, "--bridge-backends=torch")
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*tensorflow*PASSED*")


@pytest.mark.slow
def test_numpy_reference_backend_is_registered_on_demand(pytester: pytest.Pytester):
    """No plugin provides "numpy" in the project; naming it brings bridge.testing's reference
    backend, which runs the forward tests and deselects the ones that need autodiff."""
    pytester.makeconftest(OWN_BACKEND_CONFTEST)
    pytester.makepyfile(test_project=OWN_BACKEND_TESTS)
    result = run(pytester, "--bridge-backends=numpy")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*test_bridge_fixture[[]numpy] PASSED*"])


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_unknown_backend_option_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = run(pytester, "--bridge-backends=torch,jax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--bridge-backends names jax, not installed (installed: torch, tensorflow; also available: numpy)*"]
    )


@pytest.mark.needs("torch", "tensorflow")
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
