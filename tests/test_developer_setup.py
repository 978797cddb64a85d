"""The project's own set-up: one version, plugins pinned to a compatible core, and tests that need
an absent framework deselected (and reported) rather than failed."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import bridge as br

CONFTEST = Path(__file__).with_name("conftest.py")


def test_the_installed_version_is_the_one_in_the_code():
    assert importlib.metadata.version("bridge") == br.__version__


@pytest.mark.parametrize(
    "plugin",
    [
        pytest.param("bridge-torch", marks=pytest.mark.needs("torch")),
        pytest.param("bridge-tensorflow", marks=pytest.mark.needs("tensorflow")),
    ],
)
def test_each_plugin_pins_the_cores_minor_version(plugin):
    requires = importlib.metadata.requires(plugin) or []
    (core,) = [Requirement(r) for r in requires if Requirement(r).name == "bridge"]
    version = Version(br.__version__)
    assert core.specifier.contains(version)
    assert not core.specifier.contains(Version(f"{version.major}.{version.minor + 1}.0"))


@pytest.mark.slow
def test_tests_needing_an_absent_framework_are_deselected_and_counted(pytester: pytest.Pytester):
    frameworks = 'FRAMEWORKS = ("torch", "tensorflow", "keras")'
    conftest = CONFTEST.read_text()
    assert frameworks in conftest
    pytester.makeconftest(conftest.replace(frameworks, 'FRAMEWORKS = ("no_such_framework",)'))
    pytester.makepyfile(
        test_needs="""
        import pytest

        @pytest.mark.needs("numpy")
        def test_present():
            pass

        @pytest.mark.needs("numpy", "no_such_framework")
        def test_absent():
            raise AssertionError("must not run")
        """,
        test_imports_absent="""
        import no_such_framework

        def test_never_collected():
            pass
        """,
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning"
    )
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "bridge: left out, their framework not installed: "
            "test_imports_absent.py (imports no_such_framework); 1 tests that need no_such_framework"
        ]
    )
