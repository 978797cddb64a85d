"""The bridge pytest plugin (entry point ``pytest11``), active wherever bridge is installed.

- ``--bridge-backends=torch,tensorflow`` chooses the backends (default: every installed one);
  ``numpy``, the NumPy reference backend of ``bridge.testing.numpy_backend``, is registered
  when named and no installed plugin provides a backend of that name;
- the ``bridge_backend`` fixture runs a test once per chosen backend, with that backend current
  (named so that it never takes over a project's own ``backend`` fixture);
  ``@pytest.mark.bridge_requires("autodiff")`` limits it to backends with those features;
  a test that no chosen backend can run is deselected.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .. import testing
from .._dispatch import use_backend
from .._plugins import backend_infos, installed_backends, register_backend
from . import REFERENCE_BACKENDS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bridge", "bridge cross-backend tests")
    group.addoption(
        "--bridge-backends",
        default=None,
        help="comma-separated bridge backends for the `bridge_backend` fixture (default: all "
        f"installed; also available: {', '.join(REFERENCE_BACKENDS)}, the reference backend)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bridge_requires(*features): run the `bridge_backend` fixture only on backends with these features",
    )
    config.addinivalue_line(
        "markers", "slow: a test of the conformance kit that takes long; `-m 'not slow'` leaves it out"
    )
    option = config.getoption("--bridge-backends", default=None)
    if option:
        testing.selected_backends = _selected(option.split(","))


def _selected(names: list[str]) -> list[str]:
    """The backends ``--bridge-backends`` names, registering the reference backends among them
    that no installed plugin provides; a name that is neither is a usage error."""
    chosen = [name.strip() for name in names if name.strip()]
    for name in chosen:
        if name in REFERENCE_BACKENDS and name not in backend_infos():
            register_backend(name, REFERENCE_BACKENDS[name], framework=name)
    installed = installed_backends()
    unknown = [name for name in chosen if name not in installed]
    if unknown:
        plugins = [name for name in installed if name not in REFERENCE_BACKENDS]  # each name once
        raise pytest.UsageError(
            f"--bridge-backends names {', '.join(unknown)}, not installed "
            f"(installed: {', '.join(plugins) or 'none'}; also available: {', '.join(REFERENCE_BACKENDS)})"
        )
    return chosen


def _requires(item: pytest.Item) -> tuple[str, ...]:
    return tuple(f for mark in item.iter_markers("bridge_requires") for f in mark.args)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bridge_backend" in metafunc.fixturenames:
        # None stands in where no chosen backend qualifies: the test is then deselected below.
        metafunc.parametrize(
            "bridge_backend", testing.parity_backends(_requires(metafunc.definition)) or [None], indirect=True
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test (marked ``bridge_requires``, or taking ``bridge_backend``) that no chosen backend can
    run is deselected, and reported as such: it neither runs nor counts as skipped."""
    runnable: list[pytest.Item] = []
    inapplicable: list[pytest.Item] = []
    for item in items:
        ours = item.get_closest_marker("bridge_requires") or "bridge_backend" in getattr(
            item, "fixturenames", ()
        )
        (inapplicable if ours and not testing.parity_backends(_requires(item)) else runnable).append(item)
    if inapplicable:
        config.hook.pytest_deselected(items=inapplicable)
        items[:] = runnable


@pytest.fixture
def bridge_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of the backend this run of the test uses; it is current during the test."""
    with use_backend(request.param) as name:
        yield name


def pytest_unconfigure(config: pytest.Config) -> None:
    testing.selected_backends = None
