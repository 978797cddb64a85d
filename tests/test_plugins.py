"""Backend discovery: entry points, autoload switch, in-process registration, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import bridge as br
from bridge.backend import Backend

from .numpy_backend import NumpyBackend


@pytest.fixture
def scratch_registry():
    """Backends registered by a test are gone after it."""
    from bridge import _plugins

    manager = _plugins.plugin_manager()
    before = {name for name, _ in manager.list_name_plugin()}
    yield
    for name, plugin in manager.list_name_plugin():
        if name not in before:
            manager.unregister(plugin)
    _plugins._infos = None
    for name in set(_plugins._loaded) - set(_plugins.backend_infos()):
        del _plugins._loaded[name]


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON document, returned here."""
    environment = {**os.environ, **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_bridge_imports_no_framework_until_a_backend_is_used():
    out = run_python("""
        import json, sys
        import bridge as br
        before = [m for m in ("torch", "tensorflow", "keras") if m in sys.modules]
        versions = br.backends()
        after_listing = [m for m in ("torch", "tensorflow") if m in sys.modules]
        with br.use_backend("tensorflow"):
            br.ones((2,))
        after_tf = [m for m in ("torch", "tensorflow") if m in sys.modules]
        print(json.dumps([before, after_listing, after_tf, versions]))
    """)
    before, after_listing, after_tf, versions = out
    assert before == [] and after_listing == [] and after_tf == ["tensorflow"]
    assert set(versions) >= {"torch", "tensorflow"}


def test_backends_reports_framework_versions():
    import tensorflow as tf
    import torch

    versions = br.backends()
    assert versions["torch"] == torch.__version__
    assert versions["tensorflow"] == tf.__version__


def test_entry_points_register_the_builtin_plugins():
    from bridge._plugins import plugin_manager

    names = {name for name, _ in plugin_manager().list_name_plugin()}
    assert {"torch", "tensorflow"} <= names


def test_autoload_switch_disables_entry_points_but_not_registration():
    out = run_python(
        """
        import json
        import bridge as br
        from bridge.errors import BridgeError
        listed = br.backends()
        try:
            br.get_backend()
            message = ""
        except BridgeError as exc:
            message = str(exc)
        try:
            br.set_backend("torch")
        except br.UnknownBackendError as exc:
            unknown = str(exc)
        import sys; sys.path.insert(0, ".")
        from tests.numpy_backend import NumpyBackend
        br.register_backend("numpy", NumpyBackend, framework="numpy")
        br.set_backend("numpy")
        print(json.dumps([listed, message, unknown, (br.ones((2,)) * 2).tolist(), br.get_backend()]))
    """,
        BRIDGE_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    listed, message, unknown, values, current = out
    assert listed == {}
    assert "no bridge backend is installed" in message
    assert "pip install bridge-torch" in unknown and "installed: none" in unknown
    assert values == [2.0, 2.0] and current == "numpy"


def test_unknown_backend_lists_installed_ones():
    with pytest.raises(br.UnknownBackendError) as info:
        br.set_backend("jax")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'jax'" in message and "torch" in message and "tensorflow" in message
    assert "bridge.backends" in message  # how a third-party backend gets in


def test_missing_framework_names_the_pip_command(scratch_registry):
    br.register_backend(
        "ghost",
        "ghost_framework_xyz.backend:Ghost",
        framework="ghost_framework_xyz",
        pip_name="ghost-framework",
    )
    assert "ghost" not in br.backends()  # not installed, so not listed
    with pytest.raises(br.FrameworkNotInstalledError, match="pip install ghost-framework") as info:
        br.set_backend("ghost")
    assert isinstance(info.value, ImportError)


def test_registering_twice_or_an_incomplete_backend_fails_clearly(scratch_registry):
    with pytest.raises(br.BridgeError, match="already registered"):
        br.register_backend("numpy", NumpyBackend)

    class Partial(NumpyBackend):
        name = "partial"
        exp = None

    br.register_backend("partial", Partial)
    with pytest.raises(br.BridgeError, match="lacks primitives: exp"):
        br.use_backend("partial").__enter__()


def test_a_registered_backend_instance_is_used_as_is(scratch_registry):
    instance = NumpyBackend()
    instance.name = "numpy-instance"
    br.register_backend("numpy-instance", instance)
    with br.use_backend("numpy-instance"):
        x = br.arange(4)
        assert x._backend is instance and x.backend == "numpy-instance"
    assert isinstance(instance, Backend)


def test_scratch_registrations_do_not_leak():
    assert {"partial", "ghost", "numpy-instance"}.isdisjoint(br.backends())


def test_the_numpy_reference_backend_runs_the_op_suite():
    from bridge.testing import parity_backends

    assert {"numpy", "torch", "tensorflow"} <= set(parity_backends())
