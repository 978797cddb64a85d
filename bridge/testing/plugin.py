"""The bridge pytest plugin (entry point ``pytest11``), active wherever bridge is installed.

- ``--bridge-backends=torch,tensorflow`` chooses the backends (default: every installed one);
- the ``backend`` fixture runs a test once per chosen backend, with that backend current;
  ``@pytest.mark.bridge_requires("autodiff")`` limits it to backends with those features.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .. import testing
from .._dispatch import use_backend
from .._plugins import installed_backends


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bridge", "bridge cross-backend tests")
    group.addoption(
        "--bridge-backends",
        default=None,
        help="comma-separated bridge backends for the `backend` fixture (default: all installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bridge_requires(*features): run the `backend` fixture only on backends with these features",
    )
    option = config.getoption("--bridge-backends", default=None)
    if option:
        testing.selected_backends = [name.strip() for name in option.split(",") if name.strip()]


def _chosen(requires: tuple[str, ...]) -> list[str]:
    installed = installed_backends()
    chosen = list(testing.selected_backends) if testing.selected_backends is not None else installed
    unknown = [name for name in chosen if name not in installed]
    if unknown:
        raise pytest.UsageError(
            f"--bridge-backends names {', '.join(unknown)}, not installed "
            f"(installed: {', '.join(installed) or 'none'})"
        )
    return testing.parity_backends(requires)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        requires = tuple(f for mark in metafunc.definition.iter_markers("bridge_requires") for f in mark.args)
        metafunc.parametrize("backend", _chosen(requires), indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of the backend this run of the test uses; it is current during the test."""
    with use_backend(request.param) as name:
        yield name


def pytest_unconfigure(config: pytest.Config) -> None:
    testing.selected_backends = None
